/** Comparisons, Where, and integer/shape ops. Only Where carries a gradient (to its branches). */
import { GraphError } from '../../errors.ts';
import type { DType } from '../../tensor.ts';
import { registerOp } from '../registry.ts';
import type { OpDef } from '../registry.ts';
import { broadcastShapes, fmtShape } from '../shape.ts';
import type { Dim, Value } from '../types.ts';
import { attr } from '../types.ts';
import { graphOf, lift, unbroadcast, zerosLike } from './util.ts';
import type { Operand } from './util.ts';

const compareInfer = (op: string): OpDef['infer'] => ([a, b]) => [
  { dtype: 'bool', shape: broadcastShapes(op, [a!.shape, b!.shape]) },
];

for (const op of ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or']) {
  registerOp({ type: op, infer: compareInfer(op) });
}

function compare(op: string, a: Operand, b: Operand): Value {
  const g = graphOf(a, b);
  const av = typeof a === 'number' ? lift(a, b as Value) : a;
  return g.op1(op, [av, lift(b, av)]);
}
export const equal = (a: Operand, b: Operand): Value => compare('Equal', a, b);
export const less = (a: Operand, b: Operand): Value => compare('Less', a, b);
export const lessOrEqual = (a: Operand, b: Operand): Value => compare('LessOrEqual', a, b);
export const and = (a: Value, b: Value): Value => compare('And', a, b);
export const or = (a: Value, b: Value): Value => compare('Or', a, b);

export function where(cond: Value, x: Operand, y: Operand): Value {
  const like = typeof x === 'number' ? (y as Value) : x;
  return cond.graph.op1('Where', [cond, lift(x, like), lift(y, like)]);
}

registerOp({
  type: 'Where',
  infer: ([c, x, y]) => {
    if (c!.dtype !== 'bool') throw new GraphError(`Where: condition must be bool, got ${c!.dtype}${fmtShape(c!.shape)}`);
    if (x!.dtype !== y!.dtype) throw new GraphError(`Where: branches differ in dtype (${x!.dtype} vs ${y!.dtype})`);
    return [{ dtype: x!.dtype, shape: broadcastShapes('Where', [c!.shape, x!.shape, y!.shape]) }];
  },
  vjp: (node, [dy], wants) => {
    const [c, x, y] = node.inputs as Value[];
    const zero = zerosLike(dy!);
    return [
      null,
      wants[1] ? unbroadcast(where(c!, dy!, zero), x!) : null,
      wants[2] ? unbroadcast(where(c!, zero, dy!), y!) : null,
    ];
  },
});

// ---- shape and index generation ----
registerOp({ type: 'Shape', infer: ([x]) => [{ dtype: 'int64', shape: [x!.shape.length] }] });
registerOp({ type: 'Size', infer: () => [{ dtype: 'int64', shape: [] }] });
registerOp({
  type: 'Range',
  infer: ([start], attrs) => {
    const n = attrs['__len'];
    return [{ dtype: start!.dtype, shape: [n && n.kind === 'string' ? (JSON.parse(n.value) as Dim) : 'range'] }];
  },
});
registerOp({
  type: 'ConstantOfShape',
  infer: ([s], attrs) => {
    const v = attrs['value'];
    const dtype: DType = v && v.kind === 'tensor' ? v.value.dtype : 'float32';
    const n = s!.shape[0];
    if (typeof n !== 'number') throw new GraphError('ConstantOfShape: shape of unknown rank');
    const known = attrs['__shape'];
    const shape = known && known.kind === 'string' ? (JSON.parse(known.value) as Dim[]) : Array.from({ length: n }, (_, i) => `${s!.name}_${i}`);
    return [{ dtype, shape }];
  },
});

/** int64 range [start, limit) with step 1; `len` names the symbolic length for shape tracking. */
export function range(start: Value, limit: Value, len: Dim): Value {
  const g = start.graph;
  return g.op1('Range', [start, limit, g.scalar(1, start.dtype)], { __len: attr.string(JSON.stringify(len)) });
}
