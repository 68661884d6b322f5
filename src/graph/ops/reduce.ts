/** Reductions over constant axes. ReduceSum and ReduceMean take axes as an input (opset 18). */
import { registerOp } from '../registry.ts';
import type { OpDef } from '../registry.ts';
import { normAxis } from '../shape.ts';
import type { Node, Value } from '../types.ts';
import { attr, intAttr } from '../types.ts';
import { div } from './binary.ts';
import { cast } from './unary.ts';
import { expand } from './shape_ops.ts';
import { shapeOf } from './util.ts';
import { unsqueeze } from './shape_ops.ts';

function axesOf(node: { inputs: readonly (Value | null)[] }): number[] {
  const x = node.inputs[0]!;
  const a = node.inputs[1];
  if (!a) return [...x.shape.keys()];
  const init = x.graph.initializers.get(a.name)!;
  return Array.from(init.tensor.data as BigInt64Array, (v) => normAxis('Reduce', Number(v), x.shape.length));
}

const reduceInfer: OpDef['infer'] = (inputs, attrs) => {
  const x = inputs[0]!;
  const axes = axesOf({ inputs });
  const keep = (attrs['keepdims'] as { value: number } | undefined)?.value ?? 1;
  const shape = keep ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
  return [{ dtype: x.dtype, shape }];
};

/** Broadcast a reduced gradient back over the reduced axes. */
function spread(node: Node, dy: Value): Value {
  const x = node.inputs[0]!;
  const kept = intAttr(node, 'keepdims', 1) ? dy : unsqueeze(dy, axesOf(node));
  return expand(kept, shapeOf(x), x.shape);
}

export function reduceSum(x: Value, axes: readonly number[], keepdims = true): Value {
  return x.graph.op1('ReduceSum', [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}
export function reduceMean(x: Value, axes: readonly number[], keepdims = true): Value {
  return x.graph.op1('ReduceMean', [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}
export function reduceMax(x: Value, axes: readonly number[], keepdims = true): Value {
  return x.graph.op1('ReduceMax', [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}

registerOp({
  type: 'ReduceSum',
  infer: reduceInfer,
  vjp: (node, [dy], wants) => [wants[0] ? spread(node, dy!) : null, null],
});

registerOp({
  type: 'ReduceMean',
  infer: reduceInfer,
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null, null];
    const x = node.inputs[0]!;
    const g = x.graph;
    // count = numel(x) / numel(y), taken at run time so symbolic dims work.
    const count = div(cast(g.op1('Size', [x]), x.dtype), cast(g.op1('Size', [node.outputs[0]!]), x.dtype));
    return [div(spread(node, dy!), count), null];
  },
});

registerOp({ type: 'ReduceMax', infer: reduceInfer });

/** log Σ exp(x) over `axes` (inference only: no gradient rule). */
export function reduceLogSumExp(x: Value, axes: readonly number[], keepdims = true): Value {
  return x.graph.op1('ReduceLogSumExp', [x, x.graph.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
}
registerOp({ type: 'ReduceLogSumExp', infer: reduceInfer });
