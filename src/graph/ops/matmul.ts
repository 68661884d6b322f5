/** MatMul with numpy batch broadcasting (rank ≥ 2). dA = dY·Bᵀ, dB = Aᵀ·dY, summed over broadcast batch axes. */
import { GraphError } from '../../errors.ts';
import { registerOp } from '../registry.ts';
import { broadcastShapes, fmtShape } from '../shape.ts';
import type { Value } from '../types.ts';
import { attr } from '../types.ts';
import { unbroadcast } from './util.ts';

export function matmul(a: Value, b: Value): Value {
  return a.graph.op1('MatMul', [a, b]);
}

/** Swap the last two axes. */
export function transposeLast2(x: Value): Value {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return x.graph.op1('Transpose', [x], { perm: attr.ints(perm) });
}

registerOp({
  type: 'MatMul',
  infer: (inputs) => {
    const [a, b] = inputs as Value[];
    const sa = a!.shape;
    const sb = b!.shape;
    if (sa.length < 2 || sb.length < 2) {
      throw new GraphError(`MatMul: both operands need rank ≥ 2, got ${fmtShape(sa)} and ${fmtShape(sb)}`);
    }
    if (a!.dtype !== b!.dtype) throw new GraphError(`MatMul: dtype mismatch ${a!.dtype} vs ${b!.dtype}`);
    const k1 = sa[sa.length - 1]!;
    const k2 = sb[sb.length - 2]!;
    if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
      throw new GraphError(`MatMul: inner dims differ: ${fmtShape(sa)} · ${fmtShape(sb)}`);
    }
    const batch = broadcastShapes('MatMul', [sa.slice(0, -2), sb.slice(0, -2)]);
    return [{ dtype: a!.dtype, shape: [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!] }];
  },
  vjp: (node, [dy], wants) => {
    const [a, b] = node.inputs as Value[];
    return [
      wants[0] ? unbroadcast(matmul(dy!, transposeLast2(b!)), a!) : null,
      wants[1] ? unbroadcast(matmul(transposeLast2(a!), dy!), b!) : null,
    ];
  },
});
