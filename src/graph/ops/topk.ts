/**
 * TopK over the last axis with k as an input (inference only: no gradient rule). Scoring uses it,
 * with ReduceLogSumExp (reduce.ts), to return each position's log-probability and its k best
 * alternatives without a [positions × vocabulary] output.
 */
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';
import { attr } from '../types.ts';

/** The k largest entries along the last axis, sorted, and their indices (int64). `k` is an int64 [1] value. */
export function topK(x: Value, k: Value, kDim = 'K'): { values: Value; indices: Value } {
  const [values, indices] = x.graph.op('TopK', [x, k], { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1), __kdim: attr.string(kDim) });
  return { values: values!, indices: indices! };
}

registerOp({
  type: 'TopK',
  infer: ([x], attrs) => {
    const kDim = (attrs['__kdim'] as { value: string } | undefined)?.value ?? 'K';
    const shape = [...x!.shape.slice(0, -1), kDim];
    return [{ dtype: x!.dtype, shape }, { dtype: 'int64', shape }];
  },
});
