/**
 * Will this model fit? An estimate made before any weight is read: the frozen weights as held in
 * float32 (once per engine: large models feed one held copy to every session) plus the activations a
 * run keeps at the requested batch, against the memory the process may use.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { defaultRecompute, weightBytes } from '../runtime/large.ts';
import type { RecomputeMode } from '../graph/autodiff.ts';

export class MemoryError extends SoftpromptError {}

export interface MemoryNeed {
  readonly weights: number;
  readonly activations: number;
  readonly total: number;
}

export interface MemoryAvailable {
  readonly bytes: number;
  /** Where the figure came from, for the message. */
  readonly source: string;
}

/**
 * Bytes of activations for `batch` rows of `seq` positions. Training saves, per layer and
 * position, about 6 hidden-sized and 3 ffn-sized vectors and one heads × keys attention row for
 * the backward, plus logits with their softmax and gradient. With `full` recomputation it keeps
 * only each layer's input and about two layers' worth at a time; with `selective`, each layer's
 * input and the projection outputs its backward reads (q, k, v, o, gate, up) and about two layers'
 * worth. A
 * forward-only pass keeps about two layers' worth plus the logits.
 */
export function activationBytes(config: ModelConfig, batch: number, seq: number, training: boolean, recompute: RecomputeMode = 'none'): number {
  const { hiddenSize: d, intermediateSize: ff, numHeads: H, numLayers: L, vocabSize: V } = config;
  const perLayer = batch * seq * (6 * d + 3 * ff + H * seq) * 4;
  const logits = batch * seq * V * 4 * (training ? 3 : 2);
  if (!training) return 2 * perLayer + logits;
  if (recompute === 'full') return L * batch * seq * d * 4 + 2 * perLayer + logits;
  if (recompute === 'selective') {
    const kv = config.numKvHeads * config.headDim;
    return L * batch * seq * (2 * d + config.numHeads * config.headDim + 2 * kv + 2 * ff) * 4 + 2 * perLayer + logits;
  }
  return L * perLayer + logits;
}

export function estimateMemory(config: ModelConfig, store: WeightStore, batch: number, seq: number, training: boolean): MemoryNeed {
  const weights = weightBytes(store);
  const activations = activationBytes(config, batch, seq, training, training ? defaultRecompute(store) : 'none');
  return { weights, activations, total: weights + activations };
}

/** The cgroup limit where one is set (process.constrainedMemory()), else the free memory now. */
export function availableMemory(): MemoryAvailable {
  const limit = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.();
  // Unset limits read as 0 or as a huge number, depending on the Node version.
  if (limit !== undefined && limit > 0 && limit < host().os.totalmem()) return { bytes: limit - process.memoryUsage.rss(), source: 'cgroup memory limit less this process' };
  return { bytes: host().os.freemem() + process.memoryUsage.rss(), source: 'free memory' };
}

const gb = (b: number): string => (b >= 1e9 ? `${(b / 1e9).toFixed(2)} GB` : `${(b / 1e6).toFixed(1)} MB`);

/**
 * Refuse, before loading, a run whose estimate exceeds the memory available (or `maxMemory`
 * bytes, the --max-memory override, which replaces the measured figure).
 */
export function checkMemory(opts: {
  config: ModelConfig; weights: WeightStore; batch: number; seq: number; training: boolean; maxMemory?: number; what: string;
}): MemoryNeed {
  const need = estimateMemory(opts.config, opts.weights, opts.batch, opts.seq, opts.training);
  const avail = opts.maxMemory !== undefined ? { bytes: opts.maxMemory, source: '--max-memory' } : availableMemory();
  if (need.total > avail.bytes) {
    throw new MemoryError(
      `${opts.weights.source}: ${opts.what} needs about ${gb(need.total)} (weights ${gb(need.weights)} + activations ${gb(need.activations)} ` +
      `at batch ${opts.batch} × ${opts.seq} positions) but ${gb(Math.max(0, avail.bytes))} is available (${avail.source}); ` +
      'use a smaller --batch-size, or --max-memory <GB> to set the budget yourself',
    );
  }
  return need;
}

/** Parse a --max-memory value: gigabytes, e.g. "12" or "12GB" or "512MB". */
export function parseMemory(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(gb|g|mb|m|gib|mib)?\s*$/i.exec(text);
  if (!m) throw new MemoryError(`--max-memory: "${text}" is not a size (e.g. 12, 12GB, 800MB)`);
  const unit = (m[2] ?? 'gb').toLowerCase();
  const scale = unit.startsWith('m') ? (unit === 'mib' ? 2 ** 20 : 1e6) : unit === 'gib' ? 2 ** 30 : 1e9;
  return Number(m[1]) * scale;
}
