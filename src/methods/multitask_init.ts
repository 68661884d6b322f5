/**
 * Multitask prompt tuning started from a source MPT adapter, as PEFT's MultitaskPromptEmbedding
 * does for MultitaskPromptTuningInit:
 *
 * - average_source_tasks: embedding.weight = the source's prompt_embeddings; prefix_task_cols and
 *   prefix_task_rows = the source's, averaged over its tasks (mean(0, keepdim=True));
 * - exact_source_task: embedding.weight likewise; the factors of source task `task` (default 0);
 * - only_source_shared: embedding.weight only; the factors keep their fresh N(0, 0.02²) values.
 *
 * PEFT accepts the first two for a one-task target only (load_state_dict of [1, …] factors);
 * softprompt gives the averaged / picked factors to every target task. The source is an adapter
 * folder or its adapter_model.safetensors (PEFT reads a torch state dict; same tensor names).
 */
import { host } from '../host.ts';
import { AdapterError } from '../errors.ts';
import { FormatError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { safetensorsWeightStore } from '../formats/weights.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { initParams } from './init.ts';
import type { InitOptions } from './init.ts';
import { MPT_PARAMS } from './multitask.ts';
import type { PromptMethod } from './types.ts';

/**
 * Multitask prompt tuning started from a source MPT adapter (PEFT's MultitaskPromptTuningInit):
 * - average_source_tasks (AVERAGE_SOURCE_TASKS): the source's shared prompt, and its task factors
 *   averaged over its tasks;
 * - exact_source_task (EXACT_SOURCE_TASK): the source's shared prompt and the factors of its task
 *   `task`;
 * - only_source_shared (ONLY_SOURCE_SHARED): only the shared prompt; the factors start fresh.
 * PEFT allows the first two for a one-task target only; softprompt gives every target task the
 * averaged / picked factors.
 */
export interface MultitaskSourceInit {
  kind: 'average_source_tasks' | 'exact_source_task' | 'only_source_shared';
  /** The source: an adapter folder or its adapter_model.safetensors (PEFT's prompt_tuning_init_state_dict_path). */
  path: string;
  /** The source task of exact_source_task (PEFT's prompt_tuning_init_task, default 0). */
  task?: number;
}


/** A source adapter's tensors, shapes checked to agree with each other. */
export interface MultitaskSource {
  /** The safetensors file they come from (named in errors). */
  readonly file: string;
  /** [n, d] */
  readonly promptEmbeddings: Tensor<'float32'>;
  /** [T, n, r] */
  readonly cols: Tensor<'float32'>;
  /** [T, r, d] */
  readonly rows: Tensor<'float32'>;
}

const WEIGHTS = 'adapter_model.safetensors';
const CONFIG = 'adapter_config.json';

/** A folder's adapter_config.json, when there is one, must say MULTITASK_PROMPT_TUNING. */
function checkSourceConfig(configPath: string): void {
  if (!host().fs.existsSync(configPath)) return;
  let raw: unknown;
  try {
    raw = JSON.parse(host().fs.readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new FormatError(configPath, `is not valid JSON (${(err as Error).message})`);
  }
  const type = (raw as { peft_type?: unknown } | null)?.peft_type;
  if (type !== 'MULTITASK_PROMPT_TUNING') {
    throw new AdapterError(
      configPath, 'peft_type',
      `is ${JSON.stringify(type ?? null)}: a source init (average_source_tasks, exact_source_task, only_source_shared) starts from a MULTITASK_PROMPT_TUNING adapter`,
    );
  }
}

/** Reads a source MPT adapter: a folder (adapter_model.safetensors in it) or the safetensors file. */
export function readMultitaskSource(path: string): MultitaskSource {
  const p = host().path.resolve(path);
  if (!host().fs.existsSync(p)) throw new FormatError(p, 'not found: the source of a multitask init is an MPT adapter folder or its adapter_model.safetensors');
  const dir = host().fs.statSync(p).isDirectory();
  const file = dir ? host().path.join(p, WEIGHTS) : p;
  if (dir || host().path.basename(p) === WEIGHTS) checkSourceConfig(host().path.join(dir ? p : host().path.dirname(p), CONFIG));
  if (!host().fs.existsSync(file)) throw new FormatError(file, `not found: the source adapter folder needs ${WEIGHTS}`);
  const store = safetensorsWeightStore(file);
  const names = [
    ['prompt_embeddings', 2, '[n, d]'],
    [MPT_PARAMS.cols, 3, '[tasks, n, ranks]'],
    [MPT_PARAMS.rows, 3, '[tasks, ranks, d]'],
  ] as const;
  for (const [name, rank, dims] of names) {
    if (!store.has(name)) {
      const have = store.names().join(', ') || 'none';
      throw new AdapterError(file, name, `is missing (the file has: ${have}); a source init needs a multitask prompt tuning adapter, which saves prompt_embeddings, prefix_task_cols and prefix_task_rows`);
    }
    const shape = store.info(name).shape;
    if (shape.length !== rank) throw new AdapterError(file, name, `has shape [${shape.join(', ')}] but must be ${dims}`);
  }
  const promptEmbeddings = store.get('prompt_embeddings');
  const cols = store.get(MPT_PARAMS.cols);
  const rows = store.get(MPT_PARAMS.rows);
  const [n, d] = promptEmbeddings.shape as [number, number];
  const [T, nc, r] = cols.shape as [number, number, number];
  const [Tr, rr, dr] = rows.shape as [number, number, number];
  if (nc !== n) throw new AdapterError(file, MPT_PARAMS.cols, `has ${nc} virtual tokens (shape [${cols.shape.join(', ')}]) but prompt_embeddings has ${n}`);
  if (Tr !== T || rr !== r || dr !== d) {
    throw new AdapterError(file, MPT_PARAMS.rows, `has shape [${rows.shape.join(', ')}] but prefix_task_cols [${cols.shape.join(', ')}] and prompt_embeddings [${n}, ${d}] imply [${T}, ${r}, ${d}]`);
  }
  return { file, promptEmbeddings, cols, rows };
}

/** [T, …] → the [1, …] slice of task t, or the mean over tasks; computed in float64, rounded once. */
function taskSlice(t: Tensor<'float32'>, task: number | 'mean'): Float32Array {
  const T = t.shape[0]!;
  const size = t.data.length / T;
  if (task !== 'mean') return t.data.slice(task * size, (task + 1) * size);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let s = 0;
    for (let k = 0; k < T; k++) s += t.data[k * size + i]!;
    out[i] = s / T;
  }
  return out;
}

/** `slice` repeated for each of `numTasks` target tasks. */
function replicate(slice: Float32Array, numTasks: number, shape: readonly number[]): Tensor<'float32'> {
  const out = new Float32Array(slice.length * numTasks);
  for (let k = 0; k < numTasks; k++) out.set(slice, k * slice.length);
  return tensor('float32', shape, out);
}

/**
 * The params of `method` (multitask prompt tuning) after the source init `init`, from the fresh
 * values `fresh` (initParams's: what only_source_shared keeps of the factors). Errors name the
 * source file and tensor when its sizes do not fit the target or the task is out of range.
 */
export function applyMultitaskSourceInit(
  method: PromptMethod, fresh: Readonly<Record<string, Tensor<'float32'>>>, init: MultitaskSourceInit, source: MultitaskSource = readMultitaskSource(init.path),
): Record<string, Tensor<'float32'>> {
  if (method.kind !== 'multitask_prompt_tuning') throw new AdapterError(source.file, undefined, `a source init applies to multitask prompt tuning only, not ${method.kind}`);
  const spec = (name: string): readonly number[] => method.params.find((p) => p.name === name)!.shape;
  const [n, d] = spec(MPT_PARAMS.shared) as [number, number];
  const [T, , r] = spec(MPT_PARAMS.cols) as [number, number, number];
  const { file, promptEmbeddings: pe, cols, rows } = source;
  const [ns, ds] = pe.shape as [number, number];
  if (ds !== d) throw new AdapterError(file, 'prompt_embeddings', `has shape [${ns}, ${ds}]: token_dim ${ds}, but the model's hidden size is ${d}; the source was trained for another model`);
  if (ns !== n) throw new AdapterError(file, 'prompt_embeddings', `has shape [${ns}, ${ds}]: ${ns} virtual tokens, but this run has ${n}; use num_virtual_tokens ${ns}`);
  const out: Record<string, Tensor<'float32'>> = { ...fresh, [MPT_PARAMS.shared]: tensor('float32', [n, d], Float32Array.from(pe.data)) };
  if (init.kind === 'only_source_shared') return out;

  const [Ts, , rs] = cols.shape as [number, number, number];
  if (rs !== r) throw new AdapterError(file, MPT_PARAMS.cols, `has shape [${cols.shape.join(', ')}]: ${rs} ranks, but this run has num_ranks ${r}; use num_ranks ${rs} (or only_source_shared)`);
  let task: number | 'mean' = 'mean';
  if (init.kind === 'exact_source_task') {
    const t = init.task ?? 0;
    if (!Number.isInteger(t) || t < 0 || t >= Ts) {
      throw new AdapterError(file, MPT_PARAMS.cols, `has ${Ts} source tasks (0..${Ts - 1}); source task ${t} (prompt_tuning_init_task) is out of range`);
    }
    task = t;
  } else if (init.kind !== 'average_source_tasks') {
    throw new AdapterError(file, undefined, `unknown source init ${JSON.stringify((init as { kind: unknown }).kind)}; use average_source_tasks, exact_source_task or only_source_shared`);
  }
  out[MPT_PARAMS.cols] = replicate(taskSlice(cols, task), T, [T, n, r]);
  out[MPT_PARAMS.rows] = replicate(taskSlice(rows, task), T, [T, r, d]);
  return out;
}

export interface MultitaskInitOptions extends InitOptions {
  /** Start from a source MPT adapter (PEFT's AVERAGE_SOURCE_TASKS, EXACT_SOURCE_TASK, ONLY_SOURCE_SHARED). */
  source?: MultitaskSourceInit;
}

/**
 * Initial params of multitask prompt tuning: initParams's fresh values (the shared prompt by
 * `opts.init`, the factors ~ N(0, 0.02²)), then the source init if `opts.source` is given.
 */
export function initMultitaskParams(config: ModelConfig, method: PromptMethod, opts: MultitaskInitOptions): Record<string, Tensor<'float32'>> {
  const fresh = initParams(config, method, opts);
  return opts.source ? applyMultitaskSourceInit(method, fresh, opts.source) : fresh;
}
