/**
 * A graph under construction. Ops are appended in topological order (an op's inputs
 * always exist before it), which autodiff and serialisation rely on.
 */
import { GraphError } from '../errors.ts';
import type { DType, Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { getOp } from './registry.ts';
import type { Attr, Dim, Node, Shape, Value, WeightRef } from './types.ts';

interface MutableValue {
  graph: Graph;
  name: string;
  dtype: DType;
  shape: Shape;
  producer: Node | null;
}

export class Graph {
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, { value: Value; tensor: Tensor }>();
  /** Frozen weights not yet read (WeightRef); serialised as initializers. */
  readonly weightRefs = new Map<string, { value: Value; ref: WeightRef }>();
  private readonly names = new Set<string>();
  private counter = 0;
  /** Small constants are shared so a scalar 0.5 used in ten places is one initializer. */
  private readonly constCache = new Map<string, Value>();

  constructor(readonly name = 'softprompt') {}

  private fresh(hint: string): string {
    let n = `${hint}_${this.counter++}`;
    while (this.names.has(n)) n = `${hint}_${this.counter++}`;
    this.names.add(n);
    return n;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new GraphError(`graph: duplicate value name "${name}"`);
    this.names.add(name);
    return name;
  }

  private makeValue(name: string, dtype: DType, shape: Shape, producer: Node | null): Value {
    const v: MutableValue = { graph: this, name, dtype, shape: [...shape], producer };
    return v;
  }

  /** A graph input fed at run time. Symbolic dims (strings) are dynamic. */
  input(name: string, dtype: DType, shape: readonly Dim[]): Value {
    const v = this.makeValue(this.claim(name), dtype, shape, null);
    this.inputs.push(v);
    return v;
  }

  /** A named initializer (a weight). ORT can pre-pack these. */
  weight(name: string, t: Tensor): Value {
    const v = this.makeValue(this.claim(name), t.dtype, t.shape, null);
    this.initializers.set(v.name, { value: v, tensor: t });
    return v;
  }

  /** A named initializer whose bytes are read only at serialisation. */
  lazyWeight(name: string, ref: WeightRef): Value {
    const v = this.makeValue(this.claim(name), ref.dtype, ref.shape, null);
    this.weightRefs.set(v.name, { value: v, ref });
    return v;
  }

  /** An anonymous constant; small ones are deduplicated by content. */
  constant(t: Tensor, hint = 'const'): Value {
    let key: string | null = null;
    if (t.data.length <= 16) {
      key = `${t.dtype}|${t.shape.join(',')}|${Array.from(t.data as ArrayLike<number | bigint>, String).join(',')}`;
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const v = this.makeValue(this.fresh(hint), t.dtype, t.shape, null);
    this.initializers.set(v.name, { value: v, tensor: t });
    if (key) this.constCache.set(key, v);
    return v;
  }

  scalar(value: number, dtype: DType): Value {
    return this.constant(scalarTensor(value, dtype), 'scalar');
  }

  ints(values: readonly number[]): Value {
    return this.constant(tensor('int64', [values.length], BigInt64Array.from(values, (x) => BigInt(x))), 'ints');
  }

  private openSegment: number | undefined;
  private segments = 0;

  /**
   * Build `fn`'s ops as one segment (e.g. a transformer layer) that gradients() may recompute in
   * the backward pass instead of keeping its activations (activation checkpointing).
   */
  segment<T>(fn: () => T): T {
    const outer = this.openSegment;
    this.openSegment = ++this.segments;
    try {
      return fn();
    } finally {
      this.openSegment = outer;
    }
  }

  /** Append an op; output dtypes and shapes come from the op's shape rule. */
  op(type: string, inputs: readonly (Value | null)[], attrs: Record<string, Attr> = {}, domain = ''): Value[] {
    const def = getOp(type, domain);
    for (const i of inputs) {
      if (i && i.graph !== this) throw new GraphError(`${type}: input "${i.name}" belongs to another graph`);
    }
    const outs = def.infer(inputs, attrs);
    const outputs: Value[] = [];
    const node: Node = { op: type, domain, inputs: [...inputs], outputs, attrs, ...(this.openSegment !== undefined ? { segment: this.openSegment } : {}) };
    for (const o of outs) outputs.push(this.makeValue(this.fresh(type.toLowerCase()), o.dtype, o.shape, node));
    this.nodes.push(node);
    return outputs;
  }

  op1(type: string, inputs: readonly (Value | null)[], attrs: Record<string, Attr> = {}, domain = ''): Value {
    return this.op(type, inputs, attrs, domain)[0]!;
  }

  /** Mark values as graph outputs under the given names (an Identity renames them). */
  output(name: string, v: Value): Value {
    const out = this.makeValue(this.claim(name), v.dtype, v.shape, null);
    const node: Node = { op: 'Identity', domain: '', inputs: [v], outputs: [out], attrs: {} };
    (out as MutableValue).producer = node;
    this.nodes.push(node);
    this.outputs.push(out);
    return out;
  }
}

export function scalarTensor(value: number, dtype: DType): Tensor {
  switch (dtype) {
    case 'float32': return tensor('float32', [], Float32Array.of(value));
    case 'float64': return tensor('float64', [], Float64Array.of(value));
    case 'int64': return tensor('int64', [], BigInt64Array.of(BigInt(value)));
    case 'int32': return tensor('int32', [], Int32Array.of(value));
    case 'bool': return tensor('bool', [], Uint8Array.of(value ? 1 : 0));
  }
}
