/** Ops that move data without arithmetic: Reshape, Unsqueeze, Squeeze, Transpose, Expand, Concat, Split, Slice, Pad. */
import { GraphError } from '../../errors.ts';
import { registerOp } from '../registry.ts';
import { broadcastShapes, dimAdd, dimMul, fmtShape, normAxis, staticNumel } from '../shape.ts';
import type { Dim, Shape, Value } from '../types.ts';
import { attr, intAttr, intsAttr } from '../types.ts';
import { shapeOf, unbroadcast, zerosLike } from './util.ts';

function constInts(v: Value | null, op: string, what: string): number[] {
  if (!v) throw new GraphError(`${op}: missing ${what}`);
  const init = v.graph.initializers.get(v.name);
  if (!init) throw new GraphError(`${op}: ${what} must be a constant`);
  return Array.from(init.tensor.data as ArrayLike<number | bigint>, Number);
}

/** Reshape back to the runtime shape of the forward input: the gradient rule of every pure view op. */
const reshapeBack = (node: { inputs: readonly (Value | null)[] }, dy: Value): Value =>
  dy.graph.op1('Reshape', [dy, shapeOf(node.inputs[0]!)]);

// ---- Reshape: target in ONNX form (0 copies a dim, -1 is inferred). ----
export function reshape(x: Value, target: readonly number[]): Value {
  return x.graph.op1('Reshape', [x, x.graph.ints(target)]);
}

registerOp({
  type: 'Reshape',
  infer: ([x, s]) => {
    const init = s!.graph.initializers.get(s!.name);
    if (!init) {
      // Dynamic target (a Shape op): rank is known from the target's length.
      const n = s!.shape[0];
      if (typeof n !== 'number') throw new GraphError('Reshape: dynamic target of unknown rank');
      return [{ dtype: x!.dtype, shape: Array.from({ length: n }, (_, i) => `${x!.name}_r${i}`) }];
    }
    const target = constInts(s!, 'Reshape', 'shape');
    const out: Dim[] = target.map((d, i) => (d === 0 ? x!.shape[i]! : d));
    const unknown = out.indexOf(-1);
    if (unknown >= 0) {
      const total = staticNumel(x!.shape);
      const rest = staticNumel(out.filter((_, i) => i !== unknown));
      if (total !== null && rest !== null) {
        if (total % rest !== 0) throw new GraphError(`Reshape: cannot reshape ${fmtShape(x!.shape)} to [${target.join(', ')}]`);
        out[unknown] = total / rest;
      } else {
        // Symbolic: the known factors of the input cancel against the target's where they can.
        let sym: Dim = 1;
        let num = 1;
        for (const d of x!.shape) typeof d === 'number' ? (num *= d) : (sym = dimMul(sym, d));
        const restNum = staticNumel(out.filter((d, i) => i !== unknown && typeof d === 'number')) ?? 1;
        const restSym = out.filter((d, i) => i !== unknown && typeof d === 'string');
        out[unknown] = restSym.length === 0 && num % restNum === 0 ? dimMul(sym, num / restNum) : `${x!.name}_r${unknown}`;
      }
    } else {
      const a = staticNumel(x!.shape);
      const b = staticNumel(out);
      if (a !== null && b !== null && a !== b) throw new GraphError(`Reshape: cannot reshape ${fmtShape(x!.shape)} to [${target.join(', ')}]`);
    }
    return [{ dtype: x!.dtype, shape: out }];
  },
  vjp: (node, [dy], wants) => [wants[0] ? reshapeBack(node, dy!) : null, null],
});

// ---- Unsqueeze / Squeeze (axes as an input, opset 13+) ----
export function unsqueeze(x: Value, axes: readonly number[]): Value {
  return x.graph.op1('Unsqueeze', [x, x.graph.ints(axes)]);
}
export function squeeze(x: Value, axes: readonly number[]): Value {
  return x.graph.op1('Squeeze', [x, x.graph.ints(axes)]);
}

registerOp({
  type: 'Unsqueeze',
  infer: ([x, a]) => {
    const rank = x!.shape.length + constInts(a!, 'Unsqueeze', 'axes').length;
    const axes = constInts(a!, 'Unsqueeze', 'axes').map((ax) => normAxis('Unsqueeze', ax, rank));
    const out: Dim[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x!.shape[k++]!);
    return [{ dtype: x!.dtype, shape: out }];
  },
  vjp: (node, [dy], wants) => [wants[0] ? reshapeBack(node, dy!) : null, null],
});

registerOp({
  type: 'Squeeze',
  infer: ([x, a]) => {
    const axes = constInts(a!, 'Squeeze', 'axes').map((ax) => normAxis('Squeeze', ax, x!.shape.length));
    for (const ax of axes) {
      const d = x!.shape[ax];
      if (typeof d === 'number' && d !== 1) throw new GraphError(`Squeeze: axis ${ax} of ${fmtShape(x!.shape)} is not 1`);
    }
    return [{ dtype: x!.dtype, shape: x!.shape.filter((_, i) => !axes.includes(i)) }];
  },
  vjp: (node, [dy], wants) => [wants[0] ? reshapeBack(node, dy!) : null, null],
});

// ---- Transpose ----
export function transpose(x: Value, perm: readonly number[]): Value {
  return x.graph.op1('Transpose', [x], { perm: attr.ints(perm) });
}

registerOp({
  type: 'Transpose',
  infer: ([x], attrs) => {
    const p = attrs['perm'];
    const perm = p && p.kind === 'ints' ? p.value : [...x!.shape.keys()].reverse();
    if (perm.length !== x!.shape.length) throw new GraphError(`Transpose: perm [${perm.join(', ')}] does not fit ${fmtShape(x!.shape)}`);
    return [{ dtype: x!.dtype, shape: perm.map((i) => x!.shape[i]!) }];
  },
  vjp: (node, [dy], wants) => {
    const perm = intsAttr(node, 'perm');
    const inv = new Array<number>(perm.length);
    perm.forEach((p, i) => (inv[p] = i));
    return [wants[0] ? transpose(dy!, inv) : null];
  },
});

// ---- Expand: broadcast to a shape given as static dims (symbolic dims taken from `like` values at run time). ----
export function expand(x: Value, shape: Value, outShape: Shape): Value {
  return x.graph.op('Expand', [x, shape], { __shape: attr.string(JSON.stringify(outShape)) })[0]!;
}

registerOp({
  type: 'Expand',
  infer: ([x], attrs) => {
    const s = attrs['__shape'];
    if (!s || s.kind !== 'string') throw new GraphError('Expand: use graph/ops expand() so the output shape is known');
    const target = JSON.parse(s.value) as Dim[];
    return [{ dtype: x!.dtype, shape: broadcastShapes('Expand', [x!.shape, target]) }];
  },
  vjp: (node, [dy], wants) => [wants[0] ? unbroadcast(dy!, node.inputs[0]!) : null, null],
});

// ---- Concat / Split ----
export function concat(xs: readonly Value[], axis: number): Value {
  return xs[0]!.graph.op1('Concat', xs, { axis: attr.int(axis) });
}

registerOp({
  type: 'Concat',
  infer: (inputs, attrs) => {
    const xs = inputs as Value[];
    const rank = xs[0]!.shape.length;
    const ax = normAxis('Concat', (attrs['axis'] as { value: number }).value, rank);
    let total: Dim = 0;
    for (const x of xs) {
      if (x.shape.length !== rank || x.dtype !== xs[0]!.dtype) {
        throw new GraphError(`Concat: inputs ${xs.map((v) => `${v.dtype}${fmtShape(v.shape)}`).join(', ')} differ in rank or dtype`);
      }
      total = dimAdd(total, x.shape[ax]!);
    }
    const out = [...xs[0]!.shape];
    out[ax] = total;
    return [{ dtype: xs[0]!.dtype, shape: out }];
  },
  vjp: (node, [dy], wants) => {
    const g = dy!.graph;
    const xs = node.inputs as Value[];
    const ax = normAxis('Concat', intAttr(node, 'axis'), xs[0]!.shape.length);
    const sizes = xs.map((x) => x.shape[ax]!);
    const splitSizes = sizes.every((d) => typeof d === 'number')
      ? g.ints(sizes as number[])
      : g.op1('Concat', xs.map((x) => g.op1('Gather', [shapeOf(x), g.ints([ax])], { axis: attr.int(0) })), { axis: attr.int(0) });
    const parts = g.op('Split', [dy!, splitSizes], { axis: attr.int(ax), __shapes: attr.string(JSON.stringify(xs.map((x) => x.shape))) });
    return parts.map((p, i) => (wants[i] ? p : null));
  },
});

registerOp({
  type: 'Split',
  infer: ([x], attrs) => {
    const s = attrs['__shapes'];
    if (!s || s.kind !== 'string') throw new GraphError('Split: output shapes unknown');
    return (JSON.parse(s.value) as Dim[][]).map((shape) => ({ dtype: x!.dtype, shape }));
  },
  vjp: (node, dys, wants) => {
    if (!wants[0]) return [null, null];
    const parts = node.outputs.map((o, i) => dys[i] ?? zerosLike(o));
    return [concat(parts, intAttr(node, 'axis')), null];
  },
});

/** Split along an axis into static sizes. */
export function split(x: Value, axis: number, sizes: readonly number[]): Value[] {
  const ax = normAxis('Split', axis, x.shape.length);
  const shapes = sizes.map((n) => x.shape.map((d, i) => (i === ax ? n : d)));
  return x.graph.op('Split', [x, x.graph.ints(sizes)], { axis: attr.int(ax), __shapes: attr.string(JSON.stringify(shapes)) });
}

// ---- Slice with constant starts/ends/axes (step 1). ----
export function slice(x: Value, axes: readonly number[], starts: readonly number[], ends: readonly number[]): Value {
  const g = x.graph;
  return g.op1('Slice', [x, g.ints(starts), g.ints(ends), g.ints(axes)]);
}

function sliceRange(op: string, dim: Dim, start: number, end: number): { lo: number; hi: number } | null {
  if (typeof dim !== 'number') return start >= 0 && end >= 0 && end < 2 ** 31 ? { lo: start, hi: end } : null;
  const clamp = (v: number): number => Math.max(0, Math.min(dim, v < 0 ? v + dim : v));
  const lo = clamp(start);
  const hi = Math.max(lo, clamp(end));
  if (hi < lo) throw new GraphError(`${op}: empty range`);
  return { lo, hi };
}

registerOp({
  type: 'Slice',
  infer: ([x, s, e, a]) => {
    const starts = constInts(s!, 'Slice', 'starts');
    const ends = constInts(e!, 'Slice', 'ends');
    const axes = constInts(a!, 'Slice', 'axes').map((ax) => normAxis('Slice', ax, x!.shape.length));
    const out = [...x!.shape];
    axes.forEach((ax, i) => {
      const r = sliceRange('Slice', x!.shape[ax]!, starts[i]!, ends[i]!);
      out[ax] = r ? r.hi - r.lo : `${x!.name}_s${ax}`;
    });
    return [{ dtype: x!.dtype, shape: out }];
  },
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null, null, null, null];
    const [x, s, e, a] = node.inputs as Value[];
    const starts = constInts(s!, 'Slice', 'starts');
    const ends = constInts(e!, 'Slice', 'ends');
    const axes = constInts(a!, 'Slice', 'axes').map((ax) => normAxis('Slice', ax, x!.shape.length));
    const rank = x!.shape.length;
    const pads = new Array<number>(2 * rank).fill(0);
    axes.forEach((ax, i) => {
      const dim = x!.shape[ax]!;
      const r = sliceRange('Slice', dim, starts[i]!, ends[i]!);
      if (typeof dim !== 'number' || !r) {
        throw new GraphError(`Slice: gradient needs a static size on axis ${ax} of ${fmtShape(x!.shape)}`);
      }
      pads[ax] = r.lo;
      pads[rank + ax] = dim - r.hi;
    });
    const g = dy!.graph;
    return [g.op1('Pad', [dy!, g.ints(pads)], { __shape: attr.string(JSON.stringify(x!.shape)) }), null, null, null];
  },
});

registerOp({
  type: 'Pad',
  infer: ([x], attrs) => {
    const s = attrs['__shape'];
    if (!s || s.kind !== 'string') throw new GraphError('Pad: output shape unknown');
    return [{ dtype: x!.dtype, shape: JSON.parse(s.value) as Dim[] }];
  },
});
