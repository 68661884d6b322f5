/**
 * Multitask prompt tuning (Wang et al. 2023, "Multitask Prompt Tuning Enables Parameter-Efficient
 * Transfer Learning") laid out as PEFT's MultitaskPromptEmbedding:
 *
 * - `embedding.weight` [n, d]: the prompt shared by every task (saved as prompt_embeddings);
 * - `prefix_task_cols` [T, n, r] and `prefix_task_rows` [T, r, d]: a rank-r factorisation per task;
 * - the prompt of a row with task id t is embedding.weight ⊙ (cols[t] · rows[t]), an elementwise
 *   (Hadamard) product with the rank-r matrix, so each row of a batch gets its own [n, d] prompt.
 *
 * n is num_virtual_tokens × num_transformer_submodules, which is n for a causal LM.
 */
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import * as op from '../graph/ops/index.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { PromptMethod } from './types.ts';

/** PEFT's parameter names (MultitaskPromptEmbedding.named_parameters()). */
export const MPT_PARAMS = {
  shared: 'embedding.weight',
  cols: 'prefix_task_cols',
  rows: 'prefix_task_rows',
} as const;

export interface MultitaskPromptTuningOptions {
  numVirtualTokens: number;
  /** PEFT num_tasks (default 1 there). */
  numTasks: number;
  /** PEFT num_ranks (default 1 there). */
  numRanks: number;
}

function positive(what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new SoftpromptError(`multitask prompt tuning: ${what} must be a positive integer, got ${v}`);
  return v;
}

export function multitaskPromptTuning(config: ModelConfig, opts: MultitaskPromptTuningOptions): PromptMethod {
  const d = config.hiddenSize;
  const n = positive('the number of virtual tokens', opts.numVirtualTokens);
  const T = positive('the number of tasks', opts.numTasks);
  const r = positive('the number of ranks', opts.numRanks);
  return {
    kind: 'multitask_prompt_tuning',
    numVirtualTokens: n,
    numTasks: T,
    params: [
      { name: MPT_PARAMS.shared, shape: [n, d] },
      { name: MPT_PARAMS.cols, shape: [T, n, r] },
      { name: MPT_PARAMS.rows, shape: [T, r, d] },
    ],
    enter: (_model, p, inputs) => {
      const ids = inputs.taskIds;
      if (!ids) throw new SoftpromptError('multitask prompt tuning: the program gave no task_ids input; every row needs a task id');
      // PEFT: index_select(cols, 0, task_ids) @ index_select(rows, 0, task_ids), times the shared prompt.
      const cols = op.gather(p[MPT_PARAMS.cols]!, ids); // [B, n, r]
      const rows = op.gather(p[MPT_PARAMS.rows]!, ids); // [B, r, d]
      const virtualTokens = op.mul(p[MPT_PARAMS.shared]!, op.matmul(cols, rows)); // [n, d] ⊙ [B, n, d]
      return { placement: 'embeddings', virtualTokens, perExample: true };
    },
  };
}

/** The sizes a set of MPT params has: n, d, tasks, ranks (shapes checked to agree). */
export function multitaskDims(params: Readonly<Record<string, Tensor>>, source = '<multitask prompt tuning>'): { n: number; d: number; numTasks: number; numRanks: number } {
  const get = (name: string, rank: number): Tensor => {
    const t = params[name];
    if (!t) throw new SoftpromptError(`${source}: tensor "${name}" is missing (have: ${Object.keys(params).join(', ') || 'none'})`);
    if (t.shape.length !== rank) throw new SoftpromptError(`${source}: tensor "${name}" has shape [${t.shape.join(', ')}]; it must have ${rank} dimensions`);
    if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new SoftpromptError(`${source}: tensor "${name}" is ${t.dtype}; it must be floating point`);
    return t;
  };
  const [n, d] = get(MPT_PARAMS.shared, 2).shape as [number, number];
  const [T, nc, r] = get(MPT_PARAMS.cols, 3).shape as [number, number, number];
  const [Tr, rr, dr] = get(MPT_PARAMS.rows, 3).shape as [number, number, number];
  if (nc !== n || Tr !== T || rr !== r || dr !== d) {
    throw new SoftpromptError(
      `${source}: shapes disagree: ${MPT_PARAMS.shared} [${n}, ${d}], ${MPT_PARAMS.cols} [${T}, ${nc}, ${r}], ${MPT_PARAMS.rows} [${Tr}, ${rr}, ${dr}]; ` +
        'they must be [n, d], [tasks, n, ranks], [tasks, ranks, d]',
    );
  }
  return { n, d, numTasks: T, numRanks: r };
}

/**
 * The prompt [n, d] of task `taskId`, computed on the host: embedding.weight ⊙ (cols[t] · rows[t]),
 * accumulated in float64 and returned in the params' dtype (float32 unless all are float64). With
 * it a task runs as plain prompt tuning (promptTuning's `prompt_embeddings`).
 */
export function multitaskTaskPrompt(params: Readonly<Record<string, Tensor>>, taskId: number): Tensor<'float32' | 'float64'> {
  const { n, d, numTasks, numRanks: r } = multitaskDims(params);
  if (!Number.isInteger(taskId) || taskId < 0 || taskId >= numTasks) {
    throw new SoftpromptError(`multitask prompt tuning: task id ${taskId} is out of range; the adapter's tasks are 0..${numTasks - 1}`);
  }
  const E = params[MPT_PARAMS.shared]!.data as ArrayLike<number>;
  const C = params[MPT_PARAMS.cols]!.data as ArrayLike<number>;
  const R = params[MPT_PARAMS.rows]!.data as ArrayLike<number>;
  const all64 = Object.values(MPT_PARAMS).every((k) => params[k]!.dtype === 'float64');
  const out = all64 ? new Float64Array(n * d) : new Float32Array(n * d);
  const c0 = taskId * n * r;
  const r0 = taskId * r * d;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += C[c0 + i * r + k]! * R[r0 + k * d + j]!;
      out[i * d + j] = E[i * d + j]! * s;
    }
  }
  return all64 ? tensor('float64', [n, d], out as Float64Array) : tensor('float32', [n, d], out as Float32Array);
}
