/**
 * The graph IR: values carry a dtype and a symbolic shape, nodes are ONNX ops.
 * Shapes are tracked symbolically so autodiff can resolve broadcasts statically.
 */
import type { DType, Tensor } from '../tensor.ts';
import type { Graph } from './graph.ts';

/** A dimension: a number, or a symbolic name such as "B" or "T" (or a derived one like "5+T"). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface Value {
  readonly graph: Graph;
  readonly name: string;
  readonly dtype: DType;
  readonly shape: Shape;
  /** The node that produced it, or null for graph inputs and initializers. */
  readonly producer: Node | null;
}

/**
 * A frozen weight read only when a model is serialised, so a graph build holds no weight bytes
 * and a weight already in an external-data file is never read again. `owner` + `key` name the
 * same bytes in every graph built on one checkpoint.
 */
export interface WeightRef {
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly owner: object;
  readonly key: string;
  load(): Tensor;
}

export type Attr =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'floats'; readonly value: readonly number[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'tensor'; readonly value: Tensor };

export interface Node {
  readonly op: string;
  readonly domain: string;
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attrs: Readonly<Record<string, Attr>>;
  /** The recomputable segment (Graph.segment) the node was built in, if any. */
  readonly segment?: number;
}

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
  tensor: (value: Tensor): Attr => ({ kind: 'tensor', value }),
};

export function intAttr(node: Node, name: string, fallback?: number): number {
  const a = node.attrs[name];
  if (a === undefined) {
    if (fallback === undefined) throw new Error(`${node.op}: missing attribute ${name}`);
    return fallback;
  }
  if (a.kind !== 'int') throw new Error(`${node.op}: attribute ${name} is not an int`);
  return a.value;
}

export function intsAttr(node: Node, name: string): readonly number[] {
  const a = node.attrs[name];
  if (a === undefined || a.kind !== 'ints') throw new Error(`${node.op}: missing ints attribute ${name}`);
  return a.value;
}

export function floatAttr(node: Node, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (a.kind !== 'float') throw new Error(`${node.op}: attribute ${name} is not a float`);
  return a.value;
}
