/**
 * Writing an adapter folder: adapter_model.safetensors (one tensor, prompt_embeddings, as PEFT's
 * get_peft_model_state_dict gives it: for p-tuning and prefix projection the encoder's output;
 * multitask prompt tuning adds prefix_task_cols and prefix_task_rows),
 * softprompt.json (with the encoder, to resume), then adapter_config.json. Each file is
 * written atomically; the PEFT config goes last, so a folder whose config is there has its weights.
 */
import { host } from '../host.ts';
import { FormatError } from '../errors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { writeSafetensors } from '../formats/safetensors.ts';
import type { PromptMethod } from '../methods/types.ts';
import type { Tensor } from '../tensor.ts';
import { castFloat } from '../tensor.ts';
import { promptEmbeddingsToSave } from './encoder.ts';
import { AdapterError } from './errors.ts';
import { encodeTensor, SOFTPROMPT_FORMAT, SOFTPROMPT_VERSION } from './meta.ts';
import { buildPeftConfig, pythonJson } from './peft_config.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from './types.ts';
import type { BaseModelFingerprint, SoftpromptMeta } from './types.ts';

/** What softprompt.json records besides the fingerprint and the encoder (which saveAdapter fills in). */
export type AdapterMetaInput = Omit<SoftpromptMeta, 'format' | 'version' | 'base_model' | 'encoder'>;

export interface SaveAdapterArgs {
  /** The method trained (p-tuning or prefix projection with its encoder, not the inference view). */
  method: PromptMethod;
  /** Its trained tensors, keyed by `method.params` names; float32 (float64 is rounded). */
  trainable: Readonly<Record<string, Tensor>>;
  config: ModelConfig;
  fingerprint: BaseModelFingerprint;
  meta?: AdapterMetaInput;
  /**
   * base_model_name_or_path in adapter_config.json (also the tokenizer path of a TEXT init).
   * Default: the fingerprint's path, else null.
   */
  baseModelPath?: string | null;
}

export interface SavedAdapter {
  readonly dir: string;
  readonly configPath: string;
  readonly weightsPath: string;
  readonly metaPath: string;
}

/** The checked float32 params of `method` from `trainable`. */
function checkedParams(dir: string, method: PromptMethod, trainable: Readonly<Record<string, Tensor>>): Record<string, Tensor<'float32'>> {
  const out: Record<string, Tensor<'float32'>> = {};
  for (const p of method.params) {
    const t = trainable[p.name];
    const what = `cannot save ${method.kind}: trainable tensor "${p.name}"`;
    if (!t) throw new AdapterError(dir, undefined, `${what} is missing (have: ${Object.keys(trainable).join(', ') || 'none'})`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new AdapterError(dir, undefined, `${what} has shape [${t.shape.join(', ')}] but the method needs [${p.shape.join(', ')}]`);
    }
    if (t.dtype === 'float32') out[p.name] = t as Tensor<'float32'>;
    else if (t.dtype === 'float64') out[p.name] = castFloat(t as Tensor<'float64'>, 'float32');
    else throw new AdapterError(dir, undefined, `${what} is ${t.dtype}; it must be float32`);
    for (const x of out[p.name]!.data) {
      if (!Number.isFinite(x)) throw new AdapterError(dir, undefined, `${what} holds ${x}; refusing to save a diverged adapter`);
    }
  }
  return out;
}

/** softprompt.json's multitask fields must fit the method: tasks one name per task, both only for MPT. */
function checkMultitaskMeta(dir: string, method: PromptMethod, meta: AdapterMetaInput | undefined): void {
  if (method.kind !== 'multitask_prompt_tuning') {
    for (const key of ['tasks', 'source_init', 'task_prompts'] as const) {
      if (meta?.[key] !== undefined) throw new AdapterError(dir, key, `is given but ${method.kind} has no tasks; it belongs to multitask prompt tuning`);
    }
    return;
  }
  const T = method.numTasks ?? 1;
  const tasks = meta?.tasks;
  if (tasks !== undefined) {
    if (tasks.length !== T) throw new AdapterError(dir, 'tasks', `names ${tasks.length} tasks (${tasks.join(', ')}) but the method has ${T}`);
    if (new Set(tasks).size !== tasks.length || tasks.some((t) => t === '')) throw new AdapterError(dir, 'tasks', 'must be distinct non-empty names');
  }
  for (const name of Object.keys(meta?.task_prompts ?? {})) {
    if (!(tasks ?? []).includes(name)) throw new AdapterError(dir, 'task_prompts', `has a prompt for "${name}", which is not one of the tasks (${(tasks ?? []).join(', ') || 'none named'})`);
  }
}

/** Saves a trained method as a PEFT adapter folder plus softprompt.json (see the module comment). */
export function saveAdapter(dir: string, args: SaveAdapterArgs): SavedAdapter {
  const root = host().path.resolve(dir);
  if (host().fs.existsSync(root) && !host().fs.statSync(root).isDirectory()) throw new FormatError(root, 'cannot save an adapter here: this is a file, not a folder');
  const { method, config, fingerprint } = args;
  const params = checkedParams(root, method, args.trainable);
  host().fs.mkdirSync(root, { recursive: true });

  const multitask = method.kind === 'multitask_prompt_tuning';
  checkMultitaskMeta(root, method, args.meta);
  // PEFT saves an encoder's output (p-tuning, prefix projection); the encoder itself goes to
  // softprompt.json for resuming. Multitask prompt tuning saves its three tensors, the shared
  // prompt (embedding.weight) as prompt_embeddings (get_peft_model_state_dict).
  const tensors: Record<string, Tensor<'float32'>> = multitask
    ? { prompt_embeddings: params['embedding.weight']!, prefix_task_cols: params['prefix_task_cols']!, prefix_task_rows: params['prefix_task_rows']! }
    : { prompt_embeddings: promptEmbeddingsToSave(method, params, root) };
  const hasEncoder = method.kind === 'p_tuning' || method.encoder !== undefined;
  const encoder: SoftpromptMeta['encoder'] = hasEncoder ? Object.fromEntries(Object.entries(params).map(([k, v]) => [k, encodeTensor(v)])) : undefined;
  // A p-tuning method built without an encoder spec: the MLP's hidden size is mlp_head.0's rows.
  const encoderHiddenSize = method.kind === 'p_tuning' && !method.encoder ? params['mlp_head.0.weight']?.shape[0] : undefined;

  const baseModelPath = args.baseModelPath !== undefined ? args.baseModelPath : (fingerprint.path ?? null);
  const meta: SoftpromptMeta = {
    format: SOFTPROMPT_FORMAT,
    version: SOFTPROMPT_VERSION,
    ...(args.meta ?? {}),
    base_model: fingerprint,
    ...(encoder ? { encoder } : {}),
  };
  const peftConfig = buildPeftConfig({ method, config, baseModelPath, init: args.meta?.init, encoderHiddenSize, sourceInit: args.meta?.source_init });

  const paths: SavedAdapter = {
    dir: root,
    configPath: host().path.join(root, ADAPTER_CONFIG_FILE),
    weightsPath: host().path.join(root, ADAPTER_WEIGHTS_FILE),
    metaPath: host().path.join(root, SOFTPROMPT_FILE),
  };
  const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
  writeSafetensors(paths.weightsPath, tensors, { format: 'pt' }); // torch's save_file metadata
  writeFileAtomic(paths.metaPath, [utf8(`${JSON.stringify(meta, null, 2)}\n`)]);
  writeFileAtomic(paths.configPath, [utf8(pythonJson(peftConfig))]);
  return paths;
}
