/**
 * softprompt as a library: load a frozen model (a folder or a Hugging Face Hub id), train a
 * prompt-learning adapter on it, save and load adapters in PEFT's format (also from the Hub),
 * evaluate, classify, generate (streamed), inspect, and serve — the same code the CLI runs.
 *
 * Shaped after PEFT (`get_peft_model` → train, `save_pretrained`, `PeftModel.from_pretrained`) and
 * transformers.js (`from_pretrained` with a progress callback). Every long call takes an AbortSignal.
 */
// Node's file system, paths and hashing for the core (host.ts).
import './host_node.ts';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AdapterFiles } from './adapter/archive.ts';
import { openAdapterFiles } from './adapter/files.ts';
import { loadAdapterDir } from './adapter/load.ts';
import { writeFileAtomic } from './formats/atomic.ts';
import { parseSoftpromptMeta } from './adapter/meta.ts';
import { adapterPrompt, adapterPromptSpec } from './adapter/prompt.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from './adapter/types.ts';
import type { LoadedAdapter, SoftpromptMeta } from './adapter/types.ts';
import { ExampleEncoder } from './data/encode.ts';
import type { DataRecord } from './data/readers.ts';
import { readSplit } from './data/readers.ts';
import { encodeSplit } from './data/split.ts';
import type { PromptSpec as SplitPrompt } from './data/split.ts';
import { Template } from './data/template.ts';
import { Verbalizer, verbalizerEntries } from './data/verbalizer.ts';
import { AdapterError, FormatError, SoftpromptError } from './errors.ts';
import type { ClassificationReport } from './eval/metrics.ts';
import { checkSoftSlots, contextOf, createScorer, scoreSplit } from './eval/score.ts';
import type { ModelConfig } from './formats/hf_config.ts';
import { createEngine } from './infer/engine.ts';
import type { Engine } from './infer/engine.ts';
import { inspectAdapter as inspectLoaded } from './inspect/inspect.ts';
import type { AdapterInspection } from './inspect/inspect.ts';
import type { PeftType } from './methods/factory.ts';
import { downloadAdapter, downloadModel, huggingFaceHub } from './pretrained/hub.ts';
import type { HubClient } from './pretrained/hub.ts';
import { loadModel as loadPretrained } from './pretrained/model.ts';
import type { LoadedModel } from './pretrained/model.ts';
import { looksLikeHubId } from './pretrained/resolve.ts';
import { DEFAULTS as SERVE_DEFAULTS } from './serve/server.ts';
import { prepareServer } from './serve/start.ts';
import type { FastifyInstance } from 'fastify';
import { TRAIN_DEFAULTS } from './train/defaults.ts';
import type { Reparam, TrainDefaults } from './train/defaults.ts';
import { runTraining } from './train/run.ts';
import { TrainingError } from './train/trainer.ts';
import type { DevMetric, TrainEvent } from './train/trainer.ts';
import type { ScheduleKind } from './train/schedule.ts';
import type { Tokenizer } from './tokenizer/tokenizer.ts';

export { SoftpromptError, FormatError, ConfigError, AdapterError, MissingTensorError, ShapeMismatchError, UnsupportedDtypeError, UnsupportedModelError, GraphError } from './errors.ts';
export { DataError } from './data/errors.ts';
export { TrainingError } from './train/trainer.ts';
export { InferenceError } from './infer/errors.ts';
export { InspectError } from './inspect/errors.ts';
export { InitError } from './methods/init.ts';
export { LibraryError } from './library/library.ts';
export { ApiError } from './serve/errors.ts';
export type { ModelConfig } from './formats/hf_config.ts';
export type { Tokenizer } from './tokenizer/tokenizer.ts';
export type { TrainEvent } from './train/trainer.ts';
export type { AdapterInspection } from './inspect/inspect.ts';
export type { HubClient } from './pretrained/hub.ts';
export type { ClassificationReport } from './eval/metrics.ts';

// ---------------------------------------------------------------------------------------------
// Defaults

export type PeftMethod = PeftType;

export interface GenerateDefaults {
  readonly maxNewTokens: number;
  readonly temperature: number;
}

export interface EvalDefaults {
  readonly batchSize: number;
}

/** The one set of defaults, used by the library, the CLI and the demo. */
export const DEFAULTS: { readonly train: TrainDefaults; readonly eval: EvalDefaults; readonly generate: GenerateDefaults; readonly serve: typeof SERVE_DEFAULTS } = Object.freeze({
  train: TRAIN_DEFAULTS,
  eval: Object.freeze({ batchSize: 16 }),
  generate: Object.freeze({ maxNewTokens: 64, temperature: 0 }),
  serve: SERVE_DEFAULTS,
});

// ---------------------------------------------------------------------------------------------
// Models

export interface LoadProgress {
  readonly file: string;
  readonly loaded: number;
  readonly total?: number;
}

export interface LoadModelOptions {
  /** The Hub cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** A Hub token for gated or private models (default: $HF_TOKEN). */
  token?: string;
  revision?: string;
  /** Called as each Hub file lands in the cache. */
  onProgress?: (e: LoadProgress) => void;
  signal?: AbortSignal;
  /** Replaces the real Hub (tests, mirrors). */
  hub?: HubClient;
}

/** A frozen model: its config and tokenizer; weights stay inside. close() frees compiled sessions. */
export interface Model {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** The local folder it was read from. */
  readonly source: string;
  close(): Promise<void>;
}

interface ModelState {
  readonly loaded: LoadedModel;
  /** Inference engines by adapter folder ('' for the base model). */
  readonly engines: Map<string, Promise<Engine>>;
  /** Adapters bound to this model, by folder. */
  readonly adapters: Map<string, LoadedAdapter>;
}

const models = new WeakMap<Model, ModelState>();

function stateOf(model: Model): ModelState {
  const s = models.get(model);
  if (!s) throw new SoftpromptError('not a model from loadModel()');
  return s;
}

function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new SoftpromptError(`${what} aborted`);
}

/** A Hub client that reports progress and stops on the signal. */
function watchedHub(client: HubClient, opts: LoadModelOptions): HubClient {
  return {
    listFiles: (repo, type) => (checkSignal(opts.signal, 'loading'), client.listFiles(repo, type)),
    async downloadFile(repo, type, path) {
      checkSignal(opts.signal, 'loading');
      const local = await client.downloadFile(repo, type, path);
      const size = statSync(local).size;
      opts.onProgress?.({ file: path, loaded: size, total: size });
      return local;
    },
    snapshot: (repo, type) => client.snapshot(repo, type),
  };
}

async function hubFor(opts: LoadModelOptions): Promise<HubClient> {
  return watchedHub(opts.hub ?? (await huggingFaceHub(process.env, { token: opts.token, revision: opts.revision, cacheDir: opts.cacheDir })), opts);
}

/** Loads a model from a folder or a Hugging Face Hub id (only the files softprompt reads are fetched). */
export async function loadModel(pathOrHubId: string, opts: LoadModelOptions = {}): Promise<Model> {
  checkSignal(opts.signal, 'loading');
  let dir = pathOrHubId;
  if (!existsSync(pathOrHubId) && looksLikeHubId(pathOrHubId)) dir = await downloadModel(pathOrHubId, await hubFor(opts));
  checkSignal(opts.signal, 'loading');
  const loaded = await loadPretrained(dir);
  const state: ModelState = { loaded, engines: new Map(), adapters: new Map() };
  const model: Model = {
    config: loaded.config,
    tokenizer: loaded.tokenizer,
    source: loaded.dir,
    async close() {
      const engines = [...state.engines.values()];
      state.engines.clear();
      for (const e of engines) await (await e.catch(() => null))?.close();
    },
  };
  models.set(model, state);
  return model;
}

// ---------------------------------------------------------------------------------------------
// Adapters

/** adapter_config.json as PEFT writes it. */
export interface PeftConfigJson {
  readonly peft_type: string;
  readonly num_virtual_tokens: number;
  readonly [field: string]: unknown;
}

/** The prompt an adapter carries (softprompt.json): what evaluate and classify use by default. */
export interface PromptSpec {
  readonly template?: string;
  readonly instruction?: string;
  readonly verbalizer?: Readonly<Record<string, string>>;
  readonly labelField: string;
  /** Multitask adapters: task names in id order, and each task's own prompt. */
  readonly tasks?: readonly string[];
  readonly taskPrompts: Readonly<Record<string, { readonly template?: string; readonly verbalizer?: Readonly<Record<string, string>> }>>;
}

/** A PEFT adapter on disk (a folder, or a Hub repository fetched into the cache). */
export interface Adapter {
  readonly peftType: PeftMethod;
  readonly numVirtualTokens: number;
  readonly config: PeftConfigJson;
  readonly spec: PromptSpec;
  /** The folder (or .zip) holding its files. */
  readonly source: string;
}

function jsonOf(files: AdapterFiles, name: string): unknown {
  return readJsonText(files.text(name), files.path(name));
}

/** The adapter in a folder or a .zip of one (the browser page's download). */
function adapterFromFiles(where: string): Adapter {
  const files = openAdapterFiles(where);
  if (!files.has(ADAPTER_CONFIG_FILE)) throw new FormatError(files.path(ADAPTER_CONFIG_FILE), `not found: a PEFT adapter needs ${ADAPTER_CONFIG_FILE} beside ${ADAPTER_WEIGHTS_FILE}`);
  if (!files.has(ADAPTER_WEIGHTS_FILE)) throw new FormatError(files.path(ADAPTER_WEIGHTS_FILE), 'not found: the adapter has no weights');
  const config = jsonOf(files, ADAPTER_CONFIG_FILE) as PeftConfigJson;
  const peftType = config.peft_type as PeftMethod;
  if (!['PROMPT_TUNING', 'P_TUNING', 'PREFIX_TUNING', 'MULTITASK_PROMPT_TUNING'].includes(peftType)) {
    throw new AdapterError(files.path(ADAPTER_CONFIG_FILE), 'peft_type', `is ${JSON.stringify(config.peft_type)}; softprompt runs PROMPT_TUNING, P_TUNING, PREFIX_TUNING and MULTITASK_PROMPT_TUNING`);
  }
  const meta: SoftpromptMeta | null = files.has(SOFTPROMPT_FILE) ? parseSoftpromptMeta(jsonOf(files, SOFTPROMPT_FILE), files.path(SOFTPROMPT_FILE)) : null;
  const p = adapterPrompt({ dir: files.root, meta });
  const taskPrompts = Object.fromEntries(
    [...p.taskPrompts].map(([t, tp]) => [t, { ...(tp.template ? { template: tp.template.source } : {}), ...(tp.verbalizer ? { verbalizer: verbalizerEntries(tp.verbalizer) } : {}) }]),
  );
  return {
    peftType,
    numVirtualTokens: config.num_virtual_tokens,
    config,
    source: files.root,
    spec: {
      ...(p.template ? { template: p.template.source } : {}),
      ...(p.template?.instruction !== undefined ? { instruction: p.template.instruction } : {}),
      ...(p.verbalizer ? { verbalizer: verbalizerEntries(p.verbalizer) } : {}),
      labelField: p.labelField,
      ...(meta?.tasks ? { tasks: [...meta.tasks] } : {}),
      taskPrompts,
    },
  };
}

/** Loads an adapter from a folder, a .zip of one, or a Hub repository id (PEFT's files, plus softprompt.json when there). */
export async function loadAdapter(dirOrHubId: string, opts: Omit<LoadModelOptions, 'onProgress'> & { onProgress?: (e: LoadProgress) => void } = {}): Promise<Adapter> {
  checkSignal(opts.signal, 'loading');
  if (!existsSync(dirOrHubId) && looksLikeHubId(dirOrHubId)) return adapterFromFiles(await downloadAdapter(dirOrHubId, await hubFor(opts)));
  return adapterFromFiles(dirOrHubId);
}

/** Writes `adapter`'s files (PEFT's two, and softprompt.json) into `dir`, as save_pretrained does. */
export async function saveAdapter(adapter: Adapter, dir: string): Promise<void> {
  const out = resolve(dir);
  if (out === adapter.source) return;
  const files = openAdapterFiles(adapter.source);
  mkdirSync(out, { recursive: true });
  for (const f of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE]) if (files.has(f)) writeFileAtomic(join(out, f), [files.bytes(f)]);
}

/** The adapter loaded for (and checked against) the model, once per model. */
function bind(model: Model, adapter: Adapter): LoadedAdapter {
  const s = stateOf(model);
  let a = s.adapters.get(adapter.source);
  if (!a) {
    a = loadAdapterDir(adapter.source, s.loaded, (m) => process.emitWarning(m, 'SoftpromptWarning'));
    s.adapters.set(adapter.source, a);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Training

/** One labelled record: field name → text (the template's fields and the label field). */
export interface Example {
  [field: string]: string;
}

export interface TrainOptions {
  method?: PeftMethod;
  /** A data file (JSONL, CSV, TSV, Parquet) or the records themselves. */
  train: string | Example[];
  validation?: string | Example[];
  /** `{field}` slots filled from each record; `{soft:N}` places virtual tokens. */
  template: string;
  instruction?: string;
  /** label → continuation text, or that object as JSON text or a JSON file. */
  verbalizer: Record<string, string> | string;
  /** Multitask prompt tuning: each task's own template and verbalizer. */
  taskTemplates?: Record<string, string>;
  taskVerbalizers?: Record<string, Record<string, string>>;
  labelField?: string;
  truncateField?: string;
  numVirtualTokens?: number;
  /** random | vocab | labels | text:"…" (multitask with initFrom: average-source-tasks | exact-source-task:TASK | only-source-shared). */
  init?: string;
  /** Start from this adapter folder's tensors (prompt transfer). */
  initFrom?: string;
  encoderHiddenSize?: number;
  encoderType?: 'mlp' | 'lstm';
  prefixProjection?: boolean;
  /** Prompt tuning: `residual` trains the prompt through a residual MLP and saves its output (a plain PEFT prompt). */
  reparam?: Reparam;
  /** Multitask: task names, comma-separated (default: the task field's values). */
  tasks?: string;
  taskField?: string;
  numRanks?: number;
  epochs?: number;
  steps?: number;
  /** An epochs run trains this many trajectories for two thirds of its epochs, continues the best on the dev split (validation, else 20% carved from train) and keeps the best. Default 5; 1 trains once. */
  restarts?: number;
  /** Epochs each restart trains before the best continues (default two thirds of epochs; epochs: the best of full runs). */
  restartEpochs?: number;
  batchSize?: number;
  gradAccum?: number;
  lr?: number;
  weightDecay?: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  beta1?: number;
  beta2?: number;
  adamEps?: number;
  maxGradNorm?: number;
  seed?: number;
  /** The run folder (adapter, last/, checkpoints/, metrics.jsonl). Default: a new temporary folder. */
  out?: string;
  maxTrainExamples?: number;
  maxEvalExamples?: number;
  evalEvery?: number;
  patience?: number;
  metric?: DevMetric;
  saveEvery?: number;
  bucket?: boolean;
  shuffleBuffer?: number;
  lengthNormalize?: boolean;
  resume?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: TrainEvent) => void;
  onWarning?: (message: string) => void;
}

export interface TrainResultSummary {
  readonly steps: number;
  readonly epochs: number;
  readonly stopReason: string;
  readonly lastLoss: number | null;
  readonly elapsedSeconds: number;
  /** The best evaluation (with a validation split). */
  readonly best: { readonly step: number; readonly metrics: Readonly<Record<string, number>> } | null;
  /** The run folder. */
  readonly out: string;
}

export interface TrainedAdapter {
  readonly adapter: Adapter;
  readonly metrics: TrainResultSummary;
}

/**
 * A records array as a JSONL file in the run folder's data/ (the trainer streams files). The path
 * is the same on every call for that run folder, so `resume: true` with the same records matches
 * the run's recipe and data hash.
 */
function splitFile(data: string | Example[], out: string, name: string): string {
  if (typeof data === 'string') return data;
  const dir = join(out, 'data');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.jsonl`);
  writeFileSync(path, data.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return path;
}

function verbalizerOf(v: Record<string, string> | string, what: string): Verbalizer {
  if (typeof v !== 'string') return new Verbalizer(v, what);
  const inline = v.trim().startsWith('{');
  const where = inline ? what : v;
  return new Verbalizer(readJsonText(inline ? v : readFileSync(v, 'utf8'), where) as Record<string, string>, where);
}

function readJsonText(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new SoftpromptError(`${where}: not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** Trains an adapter for `model` (PEFT's get_peft_model + Trainer in one call). */
export async function train(model: Model, opts: TrainOptions): Promise<TrainedAdapter> {
  const out = resolve(opts.out ?? mkdtempSync(join(tmpdir(), 'softprompt-run-')));
  const instruction = opts.instruction;
  const template = new Template(opts.taskTemplates ? Object.values(opts.taskTemplates)[0]! : opts.template, { source: 'template', ...(instruction !== undefined ? { instruction } : {}) });
  const taskVerbalizers = opts.taskVerbalizers ? new Map(Object.entries(opts.taskVerbalizers).map(([t, v]) => [t, new Verbalizer(v, `taskVerbalizers.${t}`)])) : null;
  const run = await runTraining({
    ...opts,
    model: stateOf(model).loaded,
    train: splitFile(opts.train, out, 'train'),
    validation: opts.validation === undefined ? undefined : splitFile(opts.validation, out, 'validation'),
    template,
    taskTemplates: opts.taskTemplates ? new Map(Object.entries(opts.taskTemplates)) : null,
    verbalizer: taskVerbalizers ? [...taskVerbalizers.values()][0]! : verbalizerOf(opts.verbalizer, 'verbalizer'),
    taskVerbalizers,
    out,
  });
  const r = run.result;
  // An AbortSignal rejects, as fetch() does; the checkpoint and last adapter are on disk to resume from.
  if (r.interrupted) throw new TrainingError(`training aborted at update ${r.steps}; the last checkpoint is in ${join(out, 'checkpoints')} and the last adapter in ${r.lastDir} (resume: true continues it)`);
  return {
    adapter: adapterFromFiles(out),
    metrics: {
      steps: r.steps,
      epochs: r.epochs,
      stopReason: r.stopReason,
      lastLoss: r.lastLoss,
      elapsedSeconds: r.elapsedSeconds,
      best: r.best ? { step: r.best.step, metrics: r.best.metrics } : null,
      out,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Evaluation and classification

export interface EvaluateOptions {
  /** Replaces the adapter's template (needed for the base model). */
  template?: string;
  verbalizer?: Record<string, string>;
  labelField?: string;
  batchSize?: number;
  maxExamples?: number;
  lengthNormalize?: boolean;
  signal?: AbortSignal;
}

export interface EvalResult {
  readonly accuracy: number;
  readonly macroF1: number;
  readonly n: number;
  /** The predicted label of each example, in order. */
  readonly predictions: readonly string[];
  readonly report: ClassificationReport;
}

/** The prompt for `adapter` (or the base model): the options first, then the adapter's softprompt.json. */
function promptFor(bound: LoadedAdapter | undefined, opts: { template?: string | undefined; verbalizer?: Record<string, string> | undefined; labelField?: string | undefined }): SplitPrompt {
  const recorded = bound ? adapterPromptSpec(bound) : null;
  const template = opts.template !== undefined ? new Template(opts.template, { source: 'template' }) : recorded?.template;
  const verbalizer = opts.verbalizer !== undefined ? new Verbalizer(opts.verbalizer, 'verbalizer') : recorded?.verbalizer;
  if (!template || !verbalizer) throw new SoftpromptError(`no ${template ? 'verbalizer' : 'template'}: ${bound ? `the adapter ${bound.dir} has none in softprompt.json; ` : ''}pass one in the options`);
  if (recorded && opts.template === undefined && opts.verbalizer === undefined) return opts.labelField !== undefined ? { ...recorded, labelField: opts.labelField } : recorded;
  return { template, verbalizer, labelField: opts.labelField ?? recorded?.labelField ?? TRAIN_DEFAULTS.labelField };
}

/** Rank classification of a labelled split (a file or records): accuracy, macro-F1, per-class counts. */
export async function evaluate(model: Model, adapter: Adapter | null, data: string | Example[], opts: EvaluateOptions = {}): Promise<EvalResult> {
  checkSignal(opts.signal, 'evaluation');
  const s = stateOf(model);
  const bound = adapter ? bind(model, adapter) : undefined;
  const prompt = promptFor(bound, opts);
  const records: DataRecord[] = typeof data === 'string' ? await readSplit(data, opts.maxExamples) : data.slice(0, opts.maxExamples).map((r, i) => ({ ...r, __line: i + 1 }));
  const softSlots = checkSoftSlots(prompt.template, bound, (m) => process.emitWarning(m, 'SoftpromptWarning'));
  const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, s.loaded.tokenizer, contextOf(s.loaded, bound).maxLength);
  const labels = prompt.labels ?? prompt.verbalizer.labels;
  const scorer = await createScorer(s.loaded, bound, { batchSize: opts.batchSize ?? DEFAULTS.eval.batchSize, maxLabels: labels.length, lengthNormalize: opts.lengthNormalize ?? false, softSlots });
  try {
    checkSignal(opts.signal, 'evaluation');
    const report = await scoreSplit(scorer, split.examples, labels);
    return { accuracy: report.accuracy, macroF1: report.macroF1, n: report.n, predictions: report.predicted, report };
  } finally {
    await scorer.release();
  }
}

export interface ClassifyOptions {
  template?: string;
  verbalizer?: Record<string, string>;
  signal?: AbortSignal;
}

export interface Classification {
  readonly label: string;
  /** Each label's summed log-probability. */
  readonly scores: Readonly<Record<string, number>>;
}

/** Classifies texts (filling the template's one field) or records by rank classification. */
export async function classify(model: Model, adapter: Adapter | null, texts: string[] | Example[], opts: ClassifyOptions = {}): Promise<Classification[]> {
  checkSignal(opts.signal, 'classification');
  const s = stateOf(model);
  const bound = adapter ? bind(model, adapter) : undefined;
  const prompt = promptFor(bound, opts);
  const { template, verbalizer } = prompt;
  const field = template.fields.length === 1 ? template.fields[0]! : 'text';
  const softSlots = checkSoftSlots(template, bound, (m) => process.emitWarning(m, 'SoftpromptWarning'));
  const encoder = new ExampleEncoder({ template, verbalizer, tokenizer: s.loaded.tokenizer, maxLength: contextOf(s.loaded, bound).maxLength, allowUnlabelled: true, labelField: '\u0000no-label' });
  const examples = texts.map((t, i) => encoder.encode({ ...(typeof t === 'string' ? { [field]: t } : t), __line: i + 1 }));
  const scorer = await createScorer(s.loaded, bound, { maxLabels: verbalizer.labels.length, softSlots });
  try {
    const r = await scorer.score(examples);
    return r.scores.map((row, i) => ({ label: verbalizer.labels[r.predictions[i]!]!, scores: Object.fromEntries(verbalizer.labels.map((l, j) => [l, row[j]!])) }));
  } finally {
    await scorer.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Generation

export interface GenerateTextOptions {
  maxNewTokens?: number;
  /** 0 (default) is greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  /** Multitask adapters: the task whose prompt to use (default the first). */
  task?: string;
  signal?: AbortSignal;
}

function engineFor(model: Model, adapter: Adapter | null): Promise<Engine> {
  const s = stateOf(model);
  const key = adapter?.source ?? '';
  let e = s.engines.get(key);
  if (!e) {
    const bound = adapter ? bind(model, adapter) : undefined;
    e = createEngine({ model: s.loaded, adapters: bound ? { a: bound.dir } : {}, ...(bound ? { loaded: { a: bound } } : {}) });
    s.engines.set(key, e);
    e.catch(() => s.engines.delete(key));
  }
  return e;
}

/** Generates a continuation of `prompt`, streamed as text pieces (KV-cached decoding). */
export async function* generate(model: Model, adapter: Adapter | null, prompt: string, opts: GenerateTextOptions = {}): AsyncGenerator<string, void, undefined> {
  checkSignal(opts.signal, 'generation');
  const engine = await engineFor(model, adapter);
  const names = engine.tasks().map((t) => t.name);
  const task = adapter === null ? null : opts.task !== undefined ? `a.${opts.task}` : (names[0] ?? null);
  if (adapter !== null && task !== null && !names.includes(task)) throw new SoftpromptError(`task ${JSON.stringify(opts.task)} is not one of the adapter's: ${names.map((n) => n.replace(/^a\./, '')).join(', ')}`);
  const stream = engine.generateStream(
    {
      task,
      prompt,
      maxNewTokens: opts.maxNewTokens ?? DEFAULTS.generate.maxNewTokens,
      temperature: opts.temperature ?? DEFAULTS.generate.temperature,
      ...(opts.topK !== undefined ? { topK: opts.topK } : {}),
      ...(opts.topP !== undefined ? { topP: opts.topP } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      ...(opts.stop ? { stop: opts.stop } : {}),
    },
    opts.signal ? { signal: opts.signal } : {},
  );
  for await (const chunk of stream) if (chunk.text !== '') yield chunk.text;
}

// ---------------------------------------------------------------------------------------------
// Inspection and serving

/** Nearest vocabulary tokens, norms and drift of an adapter's virtual tokens (the model: given, else the one it names). */
export async function inspectAdapter(adapter: Adapter, model?: Model, opts: { topK?: number } = {}): Promise<AdapterInspection> {
  const own = model ?? (await loadModel(String(adapter.config['base_model_name_or_path'] ?? '')));
  try {
    return inspectLoaded(bind(own, adapter), stateOf(own).loaded, opts.topK !== undefined ? { top: opts.topK } : {});
  } finally {
    if (!model) await own.close();
  }
}

export interface ServerOptions {
  /** name → adapter folder, or a folder whose sub-folders are adapters. */
  adapters: Record<string, string> | string;
  host?: string;
  port?: number;
  maxBatch?: number;
  maxQueue?: number;
  requestTimeoutMs?: number;
  maxTokens?: number;
  /** When set, every route but /health needs `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** Allowed browser origins (CORS); ["*"] allows any. */
  cors?: string[];
}

export interface Server {
  /** The fastify app (add routes or hooks before listen()). */
  readonly app: FastifyInstance;
  /** Starts listening; resolves to the URL. */
  listen(): Promise<string>;
  /** Graceful shutdown: requests in flight finish, then the engine is freed. */
  close(): Promise<void>;
}

/** The OpenAI-compatible HTTP server (completions, classify, models) for `model` and its adapters, inside your app. */
export async function createServer(model: Model, opts: ServerOptions): Promise<Server> {
  const { cors, ...rest } = opts;
  const server = await prepareServer(stateOf(model).loaded, {
    ...rest,
    ...(cors !== undefined && cors.length > 0 ? { cors: cors.includes('*') ? true : cors } : {}),
    onWarning: (m) => process.emitWarning(m, 'SoftpromptWarning'),
  });
  return { app: server.app, listen: () => server.listen(), close: () => server.close() };
}
