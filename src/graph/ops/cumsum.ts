/** CumSum along one axis (integer position bookkeeping, e.g. OPT's and BLOOM's positions from the mask): no gradient. */
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';

registerOp({ type: 'CumSum', infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }] });

/** Inclusive running sum of `x` along `axis`. */
export function cumsum(x: Value, axis: number): Value {
  return x.graph.op1('CumSum', [x, x.graph.scalar(axis, 'int64')]);
}
