/**
 * LayerNormalization (opset 17) over the last axis. The backward recomputes the
 * statistics from x rather than asking the forward for them, which keeps it
 * independent of the kernel's stash type (float64 checks stay float64).
 */
import { GraphError } from '../../errors.ts';
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';
import { attr, floatAttr, intAttr } from '../types.ts';
import { add, mul, sub } from './binary.ts';
import { reduceMean, reduceSum } from './reduce.ts';
import { reciprocal, sqrt } from './unary.ts';

export function layerNorm(x: Value, scale: Value, bias: Value, eps: number): Value {
  return x.graph.op1('LayerNormalization', [x, scale, bias], { axis: attr.int(-1), epsilon: attr.float(eps) });
}

registerOp({
  type: 'LayerNormalization',
  infer: ([x, scale]) => {
    if (x!.dtype !== scale!.dtype) throw new GraphError(`LayerNormalization: x is ${x!.dtype}, scale is ${scale!.dtype}`);
    return [{ dtype: x!.dtype, shape: x!.shape }];
  },
  vjp: (node, [dy], wants) => {
    if (intAttr(node, 'axis', -1) !== -1) throw new GraphError('LayerNormalization: gradient implemented for axis -1 only');
    const [x, scale] = node.inputs as Value[];
    const eps = floatAttr(node, 'epsilon', 1e-5);
    const xc = sub(x!, reduceMean(x!, [-1]));
    const rstd = reciprocal(sqrt(add(reduceMean(mul(xc, xc), [-1]), eps)));
    const xhat = mul(xc, rstd);
    const lead = [...Array(x!.shape.length - 1).keys()];
    const out: (Value | null)[] = [null, null, null];
    if (wants[0]) {
      // dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)), with g = dy ⊙ scale
      const gy = mul(dy!, scale!);
      out[0] = mul(rstd, sub(sub(gy, reduceMean(gy, [-1])), mul(xhat, reduceMean(mul(gy, xhat), [-1]))));
    }
    if (wants[1]) out[1] = reduceSum(mul(dy!, xhat), lead, false);
    if (wants[2]) out[2] = reduceSum(dy!, lead, false);
    return out;
  },
});
