/**
 * Reverse-mode autodiff over a Graph. It appends the backward ops to the same graph,
 * visiting only nodes that lie on a path from a requested input to the loss, so frozen
 * weights get no gradient and branches that do not lead back to the inputs are skipped.
 */
import { GraphError } from '../errors.ts';
import type { Graph } from './graph.ts';
import { add, mul } from './ops/binary.ts';
import { reduceSum } from './ops/reduce.ts';
import { isFloat } from './ops/util.ts';
import { getOp } from './registry.ts';
import { fmtShape } from './shape.ts';
import type { Node, Value } from './types.ts';

/**
 * Activation checkpointing per segment (Graph.segment):
 * - `full` (or `true`) keeps only the values entering each segment and recomputes all of the
 *   segment's forward ops just before its backward ones;
 * - `selective` also keeps the outputs of projections (a MatMul of an activation by a frozen
 *   value, i.e. a weight) and recomputes only the cheap ops between them (norms, RoPE,
 *   attention, activations): nearly no extra MatMul work, and far fewer saved values than none;
 * - `none` (or `false`) keeps every activation the backward reads.
 * Recomputed copies take a zero derived from the incoming gradient, so ONNX Runtime neither
 * merges them with the originals (common-subexpression elimination) nor runs them before that
 * gradient exists.
 */
export type RecomputeMode = 'none' | 'selective' | 'full';

export interface GradientOptions {
  recompute?: boolean | RecomputeMode;
}

/** The mode a GradientOptions.recompute value stands for. */
function recomputeMode(r: boolean | RecomputeMode | undefined): RecomputeMode {
  return r === true ? 'full' : r === false || r === undefined ? 'none' : r;
}

/** d(loss)/d(wrt[i]) for each requested value; loss must be a float scalar (or `seed` given). */
export function gradients(loss: Value, wrt: readonly Value[], seed?: Value, opts: GradientOptions = {}): Value[] {
  const g: Graph = loss.graph;
  if (!seed && loss.shape.length !== 0) {
    throw new GraphError(`gradients: loss must be a scalar, got ${fmtShape(loss.shape)} (pass a seed for non-scalar outputs)`);
  }
  const nodes = g.nodes.slice(); // the forward graph as it stands; backward ops get appended after
  const mode = recomputeMode(opts.recompute);

  // Forward reachability: values that depend on some requested input.
  const live = new Set<Value>(wrt);
  for (const n of nodes) {
    if (n.inputs.some((i) => i !== null && live.has(i))) for (const o of n.outputs) if (isFloat(o.dtype)) live.add(o);
  }
  if (!live.has(loss)) throw new GraphError('gradients: the loss does not depend on any requested input');

  // Backward reachability from the loss, restricted to live values.
  const needed = new Set<Value>([loss]);
  const onPath: Node[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    let any = false;
    for (const i of n.inputs) {
      if (i && live.has(i)) {
        needed.add(i);
        any = true;
      }
    }
    if (any) onPath.push(n);
  }

  const grads = new Map<Value, Value>();
  grads.set(loss, seed ?? g.scalar(1, loss.dtype));
  const accumulate = (v: Value, dv: Value): void => {
    const prev = grads.get(v);
    grads.set(v, prev ? add(prev, dv) : dv);
  };

  // Recomputed copies of segment nodes, made when the backward pass first reaches the segment.
  const copies = new Map<Node, Node>();
  const recomputed = new Set<number>();
  const recompute = (segment: number, dy: Value): void => {
    recomputed.add(segment);
    const zero = mul(reduceSum(dy, dy.shape.map((_, i) => i), false), 0);
    const remap = new Map<Value, Value>();
    for (const m of nodes) {
      if (m.segment !== segment || !m.outputs.some((o) => live.has(o))) continue;
      // A kept projection is not copied: its output is read like a value from outside.
      if (mode === 'selective' && isProjection(m, live)) continue;
      // A copy with an input already recomputed can neither merge with its original nor run
      // early, so its other inputs are read as they are; otherwise one live input from outside
      // the segment (the residual stream) or a kept projection output is gated by the gradient.
      const fresh = m.inputs.some((i) => i !== null && remap.has(i));
      const ins = m.inputs.map((i) => {
        if (i === null || !live.has(i)) return i;
        const r = remap.get(i);
        if (r || fresh) return r ?? i;
        const gated = add(i, zero);
        remap.set(i, gated);
        return gated;
      });
      const outs = g.op(m.op, ins, { ...m.attrs }, m.domain);
      m.outputs.forEach((o, k) => remap.set(o, outs[k]!));
      copies.set(m, outs[0]!.producer!);
    }
  };

  for (const n of onPath) {
    const dys = n.outputs.map((o) => grads.get(o) ?? null);
    if (dys.every((d) => d === null)) continue;
    const def = getOp(n.op, n.domain);
    if (!def.vjp) throw new GraphError(`gradients: op ${n.op} has no gradient rule but lies between the inputs and the loss`);
    const wants = n.inputs.map((i) => i !== null && needed.has(i) && live.has(i));
    if (mode !== 'none' && n.segment !== undefined && !recomputed.has(n.segment)) recompute(n.segment, dys.find((d) => d !== null)!);
    // The rule builds on the copy's values; gradients still accumulate on the original inputs.
    const dxs = def.vjp(copies.get(n) ?? n, dys, wants);
    n.inputs.forEach((x, i) => {
      const dx = dxs[i];
      if (x && wants[i] && dx) accumulate(x, dx);
    });
  }

  const result = wrt.map((w) => {
    const dw = grads.get(w);
    if (!dw) throw new GraphError(`gradients: "${w.name}" does not reach the loss`);
    return dw;
  });
  if (mode !== 'none') pruneUnused(g, nodes.length, result);
  return result;
}

/** A MatMul of a live activation by a frozen value (a weight): costly to recompute, so kept. */
function isProjection(n: Node, live: ReadonlySet<Value>): boolean {
  if (n.op !== 'MatMul' && n.op !== 'Gemm') return false;
  const [a, b] = n.inputs;
  return a !== null && b !== null && a !== undefined && b !== undefined && live.has(a) !== live.has(b);
}

/**
 * Drops the backward ops (from index `from`) that no returned gradient needs: recomputed copies
 * of ops whose outputs no gradient rule reads (a layer's last residual add), which would
 * otherwise run, and pin a kept value, for nothing.
 */
function pruneUnused(g: Graph, from: number, results: readonly Value[]): void {
  const needed = new Set<Value>(results);
  const keep = new Set<Node>();
  for (let k = g.nodes.length - 1; k >= from; k--) {
    const n = g.nodes[k]!;
    if (!n.outputs.some((o) => needed.has(o))) continue;
    keep.add(n);
    for (const i of n.inputs) if (i) needed.add(i);
  }
  const kept = g.nodes.filter((n, k) => k < from || keep.has(n));
  g.nodes.length = 0;
  g.nodes.push(...kept);
}
