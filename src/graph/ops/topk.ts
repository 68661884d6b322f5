/**
 * Inference-only ops (no gradient rule): TopK over the last axis with k as an input, and
 * ReduceLogSumExp (axes as an input, opset 18). Scoring uses them to return each position's
 * log-probability and its k best alternatives without a [positions × vocabulary] output.
 */
import { registerOp } from '../registry.ts';
import { normAxis } from '../shape.ts';
import type { Value } from '../types.ts';
import { attr } from '../types.ts';

/** The k largest entries along the last axis, sorted, and their indices (int64). `k` is an int64 [1] value. */
export function topK(x: Value, k: Value, kDim = 'K'): { values: Value; indices: Value } {
  const [values, indices] = x.graph.op('TopK', [x, k], { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1), __kdim: attr.string(kDim) });
  return { values: values!, indices: indices! };
}

/** log Σ exp(x) over `axes`. */
export function reduceLogSumExp(x: Value, axes: readonly number[], keepdims = true): Value {
  return x.graph.op1('ReduceLogSumExp', [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}

registerOp({
  type: 'TopK',
  infer: ([x], attrs) => {
    const kDim = (attrs['__kdim'] as { value: string } | undefined)?.value ?? 'K';
    const shape = [...x!.shape.slice(0, -1), kDim];
    return [{ dtype: x!.dtype, shape }, { dtype: 'int64', shape }];
  },
});

registerOp({
  type: 'ReduceLogSumExp',
  infer: ([x, a], attrs) => {
    const init = a ? x!.graph.initializers.get(a.name) : undefined;
    const axes = init ? Array.from(init.tensor.data as BigInt64Array, (v) => normAxis('ReduceLogSumExp', Number(v), x!.shape.length)) : [...x!.shape.keys()];
    const keep = (attrs['keepdims'] as { value: number } | undefined)?.value ?? 1;
    const shape = keep ? x!.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x!.shape.filter((_, i) => !axes.includes(i));
    return [{ dtype: x!.dtype, shape }];
  },
});
