/** Softmax and LogSoftmax along one axis (opset 13+ semantics). */
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';
import { attr, intAttr } from '../types.ts';
import { mul, sub } from './binary.ts';
import { reduceSum } from './reduce.ts';
import { exp } from './unary.ts';

export function softmax(x: Value, axis = -1): Value {
  return x.graph.op1('Softmax', [x], { axis: attr.int(axis) });
}
export function logSoftmax(x: Value, axis = -1): Value {
  return x.graph.op1('LogSoftmax', [x], { axis: attr.int(axis) });
}

const same = (inputs: readonly (Value | null)[]) => [{ dtype: inputs[0]!.dtype, shape: inputs[0]!.shape }];

registerOp({
  type: 'Softmax',
  infer: same,
  // dx = y ⊙ (dy − Σ dy⊙y)
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null];
    const y = node.outputs[0]!;
    return [mul(y, sub(dy!, reduceSum(mul(dy!, y), [intAttr(node, 'axis', -1)])))];
  },
});

registerOp({
  type: 'LogSoftmax',
  infer: same,
  // dx = dy − softmax(x) · Σ dy
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null];
    const y = node.outputs[0]!;
    return [sub(dy!, mul(exp(y), reduceSum(dy!, [intAttr(node, 'axis', -1)])))];
  },
});
