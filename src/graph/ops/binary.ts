/** Broadcasting arithmetic: Add, Sub, Mul, Div, Pow (scalar exponent). */
import { GraphError } from '../../errors.ts';
import { registerOp } from '../registry.ts';
import type { OpDef } from '../registry.ts';
import { broadcastShapes, fmtShape } from '../shape.ts';
import type { Value } from '../types.ts';
import { graphOf, lift, unbroadcast } from './util.ts';
import type { Operand } from './util.ts';

function binaryInfer(op: string): OpDef['infer'] {
  return (inputs) => {
    const [a, b] = inputs as Value[];
    if (a!.dtype !== b!.dtype) {
      throw new GraphError(`${op}: dtype mismatch ${a!.dtype}${fmtShape(a!.shape)} vs ${b!.dtype}${fmtShape(b!.shape)}`);
    }
    return [{ dtype: a!.dtype, shape: broadcastShapes(op, [a!.shape, b!.shape]) }];
  };
}

function binary(op: string, a: Operand, b: Operand): Value {
  const g = graphOf(a, b);
  const av = typeof a === 'number' ? lift(a, b as Value) : a;
  const bv = lift(b, av);
  return g.op1(op, [av, bv]);
}

export const add = (a: Operand, b: Operand): Value => binary('Add', a, b);
export const sub = (a: Operand, b: Operand): Value => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand): Value => binary('Mul', a, b);
export const div = (a: Operand, b: Operand): Value => binary('Div', a, b);
export const pow = (a: Value, exponent: number): Value => binary('Pow', a, exponent);

registerOp({
  type: 'Add',
  infer: binaryInfer('Add'),
  vjp: (node, [dy], wants) => node.inputs.map((x, i) => (wants[i] ? unbroadcast(dy!, x!) : null)),
});

registerOp({
  type: 'Sub',
  infer: binaryInfer('Sub'),
  vjp: (node, [dy], wants) => [
    wants[0] ? unbroadcast(dy!, node.inputs[0]!) : null,
    wants[1] ? unbroadcast(dy!.graph.op1('Neg', [dy!]), node.inputs[1]!) : null,
  ],
});

registerOp({
  type: 'Mul',
  infer: binaryInfer('Mul'),
  vjp: (node, [dy], wants) => {
    const [a, b] = node.inputs as Value[];
    return [wants[0] ? unbroadcast(mul(dy!, b!), a!) : null, wants[1] ? unbroadcast(mul(dy!, a!), b!) : null];
  },
});

registerOp({
  type: 'Div',
  infer: binaryInfer('Div'),
  vjp: (node, [dy], wants) => {
    const [a, b] = node.inputs as Value[];
    const y = node.outputs[0]!;
    // d(a/b)/db = -a/b² = -y/b
    return [
      wants[0] ? unbroadcast(div(dy!, b!), a!) : null,
      wants[1] ? unbroadcast(dy!.graph.op1('Neg', [div(mul(dy!, y), b!)]), b!) : null,
    ];
  },
});

registerOp({
  type: 'Pow',
  infer: binaryInfer('Pow'),
  vjp: (node, [dy], wants) => {
    const [a, p] = node.inputs as Value[];
    if (wants[1]) throw new GraphError('Pow: gradient with respect to the exponent is not supported');
    const g = a!.graph;
    const init = g.initializers.get(p!.name);
    if (!init || init.tensor.data.length !== 1) throw new GraphError('Pow: gradient needs a constant scalar exponent');
    const e = Number(init.tensor.data[0]);
    return [wants[0] ? unbroadcast(mul(dy!, mul(pow(a!, e - 1), e)), a!) : null, null];
  },
});
