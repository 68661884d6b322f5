/**
 * Loading an adapter folder written by softprompt or by PEFT (save_pretrained with safetensors),
 * or a .zip of one (the browser demo's download), checked against the model it is to run on.
 * Every failure names the file and the field.
 */
import { ConfigError, FormatError, MissingTensorError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { createMethod, KIND_OF } from '../methods/factory.ts';
import type { MethodKind, PromptMethod } from '../methods/types.ts';
import type { Tensor } from '../tensor.ts';
import type { AdapterFiles } from './archive.ts';
import { promptEmbeddingsToSave } from './encoder.ts';
import { AdapterError } from './errors.ts';
import { checkAllFinite } from './finite.ts';
import { openAdapterFiles } from './files.ts';
import { fingerprintModel } from './fingerprint.ts';
import { decodeEncoder, parseSoftpromptMeta } from './meta.ts';
import { peftDims, SUPPORTED_PEFT_TYPES } from './peft_config.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from './types.ts';
import type { BaseModelFingerprint, LoadedAdapter, PeftType, SoftpromptMeta } from './types.ts';

export const PICKLE_WEIGHTS_FILE = 'adapter_model.bin';

/** The model an adapter is loaded for. Without weights the sha256 of the base model is not checked. */
export interface AdapterModel {
  readonly config: ModelConfig;
  readonly weights?: WeightStore;
}

export interface LoadAdapterOptions {
  /**
   * Called for problems that do not stop loading: the base model's weights differ from those the
   * adapter was trained on (a fine-tune of the same architecture is legitimate), sizes PEFT does not
   * use that disagree, a prefix projection that was not saved. Default: process.emitWarning.
   */
  onWarning?: (message: string) => void;
  /** The model's fingerprint when already computed (saves hashing the embedding table again). */
  fingerprint?: BaseModelFingerprint;
}


type Json = Record<string, unknown>;

function readJsonObject(files: AdapterFiles, name: string): Json {
  const path = files.path(name);
  const text = files.text(name);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FormatError(path, `is not valid JSON (${(err as Error).message}); the file is corrupt or truncated`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError(path, `must hold a JSON object, found ${Array.isArray(value) ? 'an array' : String(value === null ? 'null' : typeof value)}`);
  }
  return value as Json;
}

/** Typed reads of adapter_config.json fields; failures are ConfigErrors naming file and field. */
class PeftFields {
  constructor(readonly raw: Json, readonly file: string) {}

  posInt(key: string): number {
    const v = this.raw[key];
    if (v === undefined || v === null) throw new ConfigError(this.file, key, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new ConfigError(this.file, key, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  /** A positive integer, or undefined when absent/null (PEFT fills these from the model at runtime). */
  optPosInt(key: string): number | undefined {
    const v = this.raw[key];
    return v === undefined || v === null ? undefined : this.posInt(key);
  }
}

function peftTypeOf(f: PeftFields): PeftType {
  const v = f.raw.peft_type;
  if (v === undefined || v === null) {
    throw new ConfigError(f.file, 'peft_type', `is missing; a PEFT adapter_config.json names its method (${SUPPORTED_PEFT_TYPES.join(', ')})`);
  }
  if (typeof v !== 'string') throw new ConfigError(f.file, 'peft_type', `must be a string, got ${JSON.stringify(v)}`);
  if (!(SUPPORTED_PEFT_TYPES as readonly string[]).includes(v)) {
    throw new AdapterError(
      f.file, 'peft_type',
      `is "${v}": softprompt supports prompt-learning adapters only (${SUPPORTED_PEFT_TYPES.join(', ')}), ` +
        'which add virtual tokens to a frozen model; load other adapter types (LoRA, IA3, ...) with PEFT',
    );
  }
  return v as PeftType;
}

/** Checks the PEFT sizes against the model; returns n. */
function checkSizes(f: PeftFields, kind: MethodKind, config: ModelConfig, warn: (m: string) => void): number {
  const task = f.raw.task_type;
  if (task !== 'CAUSAL_LM') {
    throw new AdapterError(f.file, 'task_type', `is ${JSON.stringify(task ?? null)}; softprompt runs causal language models only (task_type "CAUSAL_LM")`);
  }
  const n = f.posInt('num_virtual_tokens');
  const sub = f.optPosInt('num_transformer_submodules') ?? 1;
  if (sub !== 1) {
    throw new AdapterError(f.file, 'num_transformer_submodules', `is ${sub}; a decoder-only causal LM has 1 (adapters for encoder-decoder models have 2)`);
  }
  const want = peftDims(config, kind);
  const tokenDim = f.optPosInt('token_dim');
  if (tokenDim !== undefined && tokenDim !== want.tokenDim) {
    const what = kind === 'prefix_tuning' && want.tokenDim !== config.hiddenSize
      ? `the model's key/value width is ${want.tokenDim} (num_key_value_heads ${config.numKvHeads} × head_dim ${config.headDim}, PEFT's prefix size for grouped-query attention)`
      : `the model's hidden size is ${want.tokenDim}`;
    throw new AdapterError(f.file, 'token_dim', `is ${tokenDim} but ${what}: the adapter was trained for another model`);
  }
  const checks: [string, number, string][] = [
    ['num_layers', want.numLayers, `the model has ${want.numLayers} layers`],
    [
      'num_attention_heads', want.numAttentionHeads,
      kind === 'prefix_tuning' ? `the model has ${want.numAttentionHeads} key/value heads (PEFT sizes a prefix by them)` : `the model has ${want.numAttentionHeads} attention heads`,
    ],
  ];
  for (const [key, expected, what] of checks) {
    const got = f.optPosInt(key);
    if (got === undefined || got === expected) continue;
    // Only a prefix is shaped by these; for the other methods a mismatch hints at another model.
    if (kind === 'prefix_tuning') throw new AdapterError(f.file, key, `is ${got} but ${what}`);
    warn(`${f.file}: field "${key}" is ${got} but ${what}; the adapter may have been trained on another model`);
  }
  return n;
}

function readWeights(files: AdapterFiles): WeightStore {
  const path = files.path(ADAPTER_WEIGHTS_FILE);
  if (files.has(ADAPTER_WEIGHTS_FILE)) return files.weights(ADAPTER_WEIGHTS_FILE);
  const pickle = files.path(PICKLE_WEIGHTS_FILE);
  if (files.has(PICKLE_WEIGHTS_FILE)) {
    throw new FormatError(
      pickle,
      `is a pickle file, which softprompt does not read (it can run code); re-save the adapter with PEFT's ` +
        `model.save_pretrained(dir, safe_serialization=True) to get ${ADAPTER_WEIGHTS_FILE}`,
    );
  }
  throw new FormatError(path, `not found: a PEFT adapter folder needs ${ADAPTER_WEIGHTS_FILE} with the tensor "prompt_embeddings"`);
}

/** Architecture must match (error); weights (sha256) and vocabulary may differ (warning). */
function checkBaseModel(meta: SoftpromptMeta, metaPath: string, model: AdapterModel, opts: LoadAdapterOptions, warn: (m: string) => void): void {
  const fp = meta.base_model;
  if (!fp) return;
  const c = model.config;
  const arch: [keyof BaseModelFingerprint, string | number][] = [
    ['model_type', c.modelType],
    ['hidden_size', c.hiddenSize],
    ['num_layers', c.numLayers],
    ['num_attention_heads', c.numHeads],
  ];
  for (const [key, actual] of arch) {
    if (fp[key] !== actual) {
      throw new AdapterError(
        metaPath, `base_model.${key}`,
        `is ${JSON.stringify(fp[key])} but the model's is ${JSON.stringify(actual)}: the adapter was trained on another architecture${fp.path ? ` (${fp.path})` : ''}`,
      );
    }
  }
  if (fp.vocab_size !== c.vocabSize) {
    warn(`${metaPath}: field "base_model.vocab_size" is ${fp.vocab_size} but the model's is ${c.vocabSize}; the tokenizer may differ from the one the adapter was trained with`);
  }
  const current = opts.fingerprint ?? (model.weights ? fingerprintModel({ config: c, weights: model.weights }) : undefined);
  if (current && current.sha256 !== fp.sha256) {
    warn(
      `${metaPath}: field "base_model.sha256" differs from the model's (${current.sha256.slice(0, 12)}… vs ${fp.sha256.slice(0, 12)}…): ` +
        `the adapter was trained on other weights of the same architecture${fp.path ? ` (${fp.path})` : ''}; its results may not carry over`,
    );
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The encoder from softprompt.json, checked against the method it trains (`what` names that method). */
function checkedEncoder(meta: SoftpromptMeta, metaPath: string, method: PromptMethod, what: string): Record<string, Tensor<'float32'>> {
  const enc = decodeEncoder(meta, metaPath);
  for (const p of method.params) {
    const t = enc[p.name];
    if (!t) throw new MissingTensorError(metaPath, `encoder.${p.name}`);
    if (!sameShape(t.shape, p.shape)) {
      throw new AdapterError(
        metaPath, `encoder.${p.name}`,
        `has shape [${t.shape.join(', ')}] but adapter_config.json and the model imply [${p.shape.join(', ')}] (${what}): the encoder was saved for another model or configuration`,
      );
    }
  }
  const extra = Object.keys(enc).filter((k) => !method.params.some((p) => p.name === k));
  if (extra.length) throw new AdapterError(metaPath, 'encoder', `has tensors ${what} does not use: ${extra.join(', ')}`);
  return enc;
}

/** The p-tuning method (with its encoder) that adapter_config.json describes. */
function pTuningTrainMethod(f: PeftFields, config: ModelConfig, n: number): { method: PromptMethod; what: string } {
  const type = f.raw.encoder_reparameterization_type ?? 'MLP';
  const encoderHiddenSize = f.posInt('encoder_hidden_size');
  if (type === 'MLP') return { method: createMethod(config, { peftType: 'P_TUNING', numVirtualTokens: n, encoderHiddenSize }), what: `p-tuning's MLP encoder, hidden size ${encoderHiddenSize}` };
  if (type === 'LSTM') {
    const encoderNumLayers = f.optPosInt('encoder_num_layers') ?? 2;
    return {
      method: createMethod(config, { peftType: 'P_TUNING', numVirtualTokens: n, encoderHiddenSize, encoderType: 'lstm', encoderNumLayers }),
      what: `p-tuning's LSTM encoder, hidden size ${encoderHiddenSize}, ${encoderNumLayers} layers`,
    };
  }
  throw new AdapterError(f.file, 'encoder_reparameterization_type', `is ${JSON.stringify(type)}; PEFT's p-tuning encoder is "MLP" or "LSTM"`);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** The task names of a multitask adapter: softprompt.json's `tasks`, else "0".."N-1". */
function taskNames(meta: SoftpromptMeta | null, metaPath: string, numTasks: number, configPath: string): string[] {
  if (!meta?.tasks) return Array.from({ length: numTasks }, (_, i) => String(i));
  if (meta.tasks.length !== numTasks) {
    throw new AdapterError(metaPath, 'tasks', `names ${meta.tasks.length} tasks but ${configPath} has num_tasks ${numTasks}: the files come from different saves`);
  }
  return [...meta.tasks];
}

/**
 * MULTITASK_PROMPT_TUNING: prompt_embeddings (the shared prompt, loaded as embedding.weight),
 * prefix_task_cols [num_tasks, n, num_ranks], prefix_task_rows [num_tasks, num_ranks, token_dim],
 * each checked against adapter_config.json and the model. The method runs as is (params = trainable).
 */
function loadMultitask(
  files: AdapterFiles, f: PeftFields, store: WeightStore, n: number, model: AdapterModel, opts: LoadAdapterOptions, warn: (m: string) => void,
): LoadedAdapter {
  const { config } = model;
  const d = config.hiddenSize;
  // PEFT's defaults when a field is absent: num_tasks 1, num_ranks 1.
  const numTasks = f.optPosInt('num_tasks') ?? 1;
  const numRanks = f.optPosInt('num_ranks') ?? 1;
  for (const name of ['prompt_embeddings', 'prefix_task_cols', 'prefix_task_rows']) {
    if (!store.has(name)) {
      throw new AdapterError(store.source, name, `is missing: a MULTITASK_PROMPT_TUNING adapter (${f.file}) saves prompt_embeddings, prefix_task_cols and prefix_task_rows`);
    }
  }
  const shapeOf = (name: string): readonly number[] => store.info(name).shape;
  const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
  const check = (name: string, want: readonly number[], dims: readonly string[]): void => {
    const got = shapeOf(name);
    if (got.length !== want.length) {
      throw new AdapterError(store.source, name, `has shape ${fmt(got)} but must be [${dims.join(', ')}] = ${fmt(want)}`);
    }
    got.forEach((g, i) => {
      if (g === want[i]) return;
      const dim = dims[i]!;
      const [file, field, what] = dim === 'num_tasks' || dim === 'num_ranks' || dim === 'num_virtual_tokens'
        ? [f.file, dim, `is ${want[i]} but ${name} in ${store.source} has ${g} along that axis (shape ${fmt(got)})`]
        : [store.source, name, `has shape ${fmt(got)} but the model's hidden size (token_dim) is ${d}: the adapter was trained for another model`];
      throw new AdapterError(file, field, what);
    });
  };
  check('prompt_embeddings', [n, d], ['num_virtual_tokens', 'token_dim']);
  check('prefix_task_cols', [numTasks, n, numRanks], ['num_tasks', 'num_virtual_tokens', 'num_ranks']);
  check('prefix_task_rows', [numTasks, numRanks, d], ['num_tasks', 'num_ranks', 'token_dim']);
  const method = createMethod(config, { peftType: 'MULTITASK_PROMPT_TUNING', numVirtualTokens: n, numTasks, numRanks });
  const params: Record<string, Tensor> = {
    'embedding.weight': store.get('prompt_embeddings', [n, d]),
    prefix_task_cols: store.get('prefix_task_cols', [numTasks, n, numRanks]),
    prefix_task_rows: store.get('prefix_task_rows', [numTasks, numRanks, d]),
  };

  const metaPath = files.path(SOFTPROMPT_FILE);
  const meta = files.has(SOFTPROMPT_FILE) ? parseSoftpromptMeta(readJsonObject(files, SOFTPROMPT_FILE), metaPath) : null;
  if (meta) checkBaseModel(meta, metaPath, model, opts, warn);
  if (meta?.encoder) warn(`${metaPath}: field "encoder" is ignored: multitask prompt tuning has no encoder`);
  const tasks = taskNames(meta, metaPath, numTasks, f.file);
  return {
    dir: files.root, peftType: 'MULTITASK_PROMPT_TUNING', method, params, trainable: params, trainMethod: method, peftConfig: f.raw, meta, tasks,
  };
}

/**
 * Loads the adapter in `dir` for `model`. A folder without softprompt.json (written by PEFT) loads
 * with meta null. P_TUNING runs as prompt tuning over the saved encoder output, PREFIX_TUNING with
 * prefix_projection as plain prefix tuning over the saved projected table (the inference views);
 * their encoder, when softprompt.json has it, is `trainable` for resuming (with `trainMethod`).
 * MULTITASK_PROMPT_TUNING runs as itself, with its task names in `tasks`.
 */
export function loadAdapter(dir: string | AdapterFiles, model: AdapterModel, opts: LoadAdapterOptions = {}): LoadedAdapter {
  const files = typeof dir === 'string' ? openAdapterFiles(dir) : dir;
  const a = loadAdapterUnchecked(files, model, opts);
  checkAllFinite(a.params, files.path(ADAPTER_WEIGHTS_FILE));
  if (a.trainable !== a.params) checkAllFinite(a.trainable, files.path(SOFTPROMPT_FILE), 'encoder.');
  return a;
}

function loadAdapterUnchecked(files: AdapterFiles, model: AdapterModel, opts: LoadAdapterOptions): LoadedAdapter {
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
  const configPath = files.path(ADAPTER_CONFIG_FILE);
  if (!files.has(ADAPTER_CONFIG_FILE)) {
    throw new FormatError(configPath, `not found: a PEFT adapter folder needs ${ADAPTER_CONFIG_FILE} (peft_type, num_virtual_tokens, ...) beside ${ADAPTER_WEIGHTS_FILE}`);
  }
  const raw = readJsonObject(files, ADAPTER_CONFIG_FILE);
  const f = new PeftFields(raw, configPath);
  const peftType = peftTypeOf(f);
  const kind = KIND_OF[peftType];
  const { config } = model;
  const n = checkSizes(f, kind, config, warn);

  const store = readWeights(files);
  if (kind === 'multitask_prompt_tuning') return loadMultitask(files, f, store, n, model, opts, warn);
  const method = createMethod(config, { peftType: kind === 'prefix_tuning' ? 'PREFIX_TUNING' : 'PROMPT_TUNING', numVirtualTokens: n });
  const spec = method.params[0]!;
  if (!store.has(spec.name)) throw new MissingTensorError(store.source, spec.name);
  const params: Record<string, Tensor> = { [spec.name]: store.get(spec.name, spec.shape) }; // ShapeMismatchError names file and both shapes

  const metaPath = files.path(SOFTPROMPT_FILE);
  const meta = files.has(SOFTPROMPT_FILE) ? parseSoftpromptMeta(readJsonObject(files, SOFTPROMPT_FILE), metaPath) : null;
  if (meta) checkBaseModel(meta, metaPath, model, opts, warn);

  let trainable: Record<string, Tensor> = params;
  let trainMethod: PromptMethod = method;
  const projection = kind === 'prefix_tuning' && raw.prefix_projection === true;
  if (projection && !meta?.encoder) {
    warn(`${configPath}: field "prefix_projection" is true; PEFT saved the projected prefix, which runs exactly, but training resumes without the projection MLP`);
  }
  // Residual prompt tuning saves a plain prompt; its MLP (with a LayerNorm) sits in softprompt.json.
  const residualWidth = kind === 'prompt_tuning' && meta?.encoder?.['layer_norm.weight'] ? meta.encoder['mlp_head.0.weight']?.shape[0] : undefined;
  if (meta?.encoder && kind !== 'p_tuning' && !projection && residualWidth === undefined) {
    warn(`${metaPath}: field "encoder" is ignored: only p-tuning adapters, prefix tuning with prefix_projection and residual prompt tuning have an encoder`);
  }
  if (meta?.encoder && (kind === 'p_tuning' || projection || residualWidth !== undefined)) {
    const { method: m, what } = kind === 'p_tuning'
      ? pTuningTrainMethod(f, config, n)
      : residualWidth !== undefined
        ? { method: createMethod(config, { peftType: 'PROMPT_TUNING', numVirtualTokens: n, residualHiddenSize: residualWidth }), what: `residual prompt tuning's MLP, bottleneck ${residualWidth}` }
        : { method: createMethod(config, { peftType: 'PREFIX_TUNING', numVirtualTokens: n, prefixProjection: true, encoderHiddenSize: f.posInt('encoder_hidden_size') }), what: 'the prefix projection' };
    trainMethod = m;
    if (kind === 'p_tuning') {
      const savedLstm = Object.keys(meta.encoder).some((k) => k.startsWith('lstm_head.'));
      if (savedLstm !== (m.encoder?.type === 'lstm')) {
        throw new AdapterError(
          metaPath, 'encoder',
          `holds ${savedLstm ? 'an LSTM' : 'an MLP'} encoder but ${configPath} has encoder_reparameterization_type ${JSON.stringify(raw.encoder_reparameterization_type ?? 'MLP')}: the files come from different saves`,
        );
      }
    }
    trainable = checkedEncoder(meta, metaPath, trainMethod, what);
    // The saved output should be this encoder's; if not, the files come from different saves.
    const out = promptEmbeddingsToSave(trainMethod, trainable, metaPath);
    const saved = params[spec.name]!.data as Float32Array;
    const diff = maxAbsDiff(out.data, saved);
    if (diff > 1e-5 * (1 + maxAbsDiff(saved, new Float32Array(saved.length)))) {
      warn(`${store.source}: "prompt_embeddings" differ from the output of the encoder in ${metaPath} (max |Δ| ${diff.toExponential(2)}); inference uses prompt_embeddings`);
    }
  }
  return { dir: files.root, peftType, method, params, trainable, trainMethod, peftConfig: raw, meta };
}

/** Loads an adapter (a folder or a .zip of one) for a loaded model (the CLI, report and engine use this): checked against the model, warnings passed to `onWarning`. */
export function loadAdapterDir(dir: string | AdapterFiles, model: AdapterModel, onWarning: (message: string) => void): LoadedAdapter {
  return loadAdapter(dir, model, { onWarning });
}
