/** RMSNorm as Llama-style decoders use it. */
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';

/** gain · x / sqrt(mean(x²) + eps) over the last axis (Gemma's 1 + w is folded into `gain` at load). */
export function rmsNorm(x: Value, gain: Value, eps: number): Value {
  const inv = op.reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(x, x), [-1]), eps)));
  return op.mul(op.mul(x, inv), gain);
}
