/** Helpers shared by the op files: scalar operands, zeros, and undoing broadcasts. */
import { GraphError } from '../../errors.ts';
import type { DType } from '../../tensor.ts';
import type { Graph } from '../graph.ts';
import type { Value } from '../types.ts';
import { attr } from '../types.ts';

export type Operand = Value | number;

export function graphOf(...xs: readonly (Operand | null | undefined)[]): Graph {
  for (const x of xs) if (x !== null && x !== undefined && typeof x !== 'number') return x.graph;
  throw new GraphError('op called with no graph value among its inputs');
}

export function lift(x: Operand, like: Value): Value {
  return typeof x === 'number' ? like.graph.scalar(x, like.dtype) : x;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64';
}

export function shapeOf(x: Value): Value {
  return x.graph.op1('Shape', [x]);
}

/** Zeros with the runtime shape of `like`. */
export function zerosLike(like: Value): Value {
  const g = like.graph;
  const zero = g.constant(
    like.dtype === 'float64'
      ? { dtype: 'float64', shape: [1], data: Float64Array.of(0) }
      : { dtype: 'float32', shape: [1], data: Float32Array.of(0) },
  );
  const value = g.initializers.get(zero.name)!.tensor;
  return g.op('ConstantOfShape', [shapeOf(like)], { value: attr.tensor(value) })[0]!;
}

/**
 * Sum a broadcast gradient back to the shape of the operand it came from. Axes are
 * found statically: leading axes the operand lacks, and axes where it has a literal 1.
 */
export function unbroadcast(dy: Value, x: Value): Value {
  const g = dy.graph;
  const lead = dy.shape.length - x.shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.shape.length; i++) {
    if (i < lead) axes.push(i);
    else if (x.shape[i - lead] === 1 && dy.shape[i] !== 1) axes.push(i);
  }
  if (axes.length === 0) return dy;
  const summed = g.op1('ReduceSum', [dy, g.ints(axes)], { keepdims: attr.int(1) });
  if (lead === 0) return summed;
  return g.op1('Reshape', [summed, shapeOf(x)]);
}

