/**
 * When a model counts as large, and what that changes, with no Node imports (the browser core
 * decides with it too). Large models feed held weights to their sessions (session.ts) and
 * recompute layers while training (models/memory.ts, methods/program.ts).
 */
import type { WeightStore } from '../formats/weights.ts';
import type { RecomputeMode } from '../graph/autodiff.ts';

/**
 * Frozen weights of at least this many float32 bytes make a model large. Smaller ones embed their
 * weights, so ORT can prepack and fold them (the fast path at GPT-2 small).
 * $SOFTPROMPT_EXTERNAL_DATA_BYTES overrides it (tests force the large-model path with 0).
 */
const DEFAULT_LARGE_BYTES = 2 ** 30;
let threshold: number | undefined;

export function setExternalDataThreshold(bytes: number | undefined): void {
  threshold = bytes;
}

export function externalDataThreshold(): number {
  if (threshold !== undefined) return threshold;
  const env = process.env.SOFTPROMPT_EXTERNAL_DATA_BYTES;
  return env !== undefined && env !== '' && Number.isFinite(Number(env)) ? Number(env) : DEFAULT_LARGE_BYTES;
}

/** Whether a model with this many bytes of frozen weights takes the large-model path. */
export function isLargeModel(weightBytes: number): boolean {
  return weightBytes >= externalDataThreshold();
}

/** float32 bytes of every tensor in the store (what the engine holds, whatever the file dtype). */
export function weightBytes(store: WeightStore): number {
  let n = 0;
  for (const name of store.names()) n += store.info(name).shape.reduce((a, b) => a * b, 1);
  return n * 4;
}

/**
 * How training recomputes layers in the backward pass (activation checkpointing) by default:
 * selectively for large models, where saved activations would outweigh the weights (the
 * projections' outputs are kept, the cheap ops between them recomputed; graph/autodiff.ts), not
 * at all for small ones. $SOFTPROMPT_RECOMPUTE=none|selective|full (or 0|1) overrides.
 */
export function defaultRecompute(store: WeightStore): RecomputeMode {
  const env = process.env.SOFTPROMPT_RECOMPUTE;
  if (env === undefined || env === '') return isLargeModel(weightBytes(store)) ? 'selective' : 'none';
  const mode = env === '1' ? 'full' : env === '0' ? 'none' : env;
  if (mode !== 'none' && mode !== 'selective' && mode !== 'full') {
    throw new Error(`SOFTPROMPT_RECOMPUTE must be none, selective or full (or 0/1), got ${JSON.stringify(env)}`);
  }
  return mode;
}
