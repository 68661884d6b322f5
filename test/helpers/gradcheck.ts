/**
 * Central finite differences on a float64 build of a graph, against the autodiff
 * gradient of the same graph. loss = Σ y ⊙ w with a fixed random w, so every output
 * element contributes with its own weight.
 */
import assert from 'node:assert/strict';
import { Graph, gradients, mul, reduceSum } from '../../src/graph/index.ts';
import type { Value } from '../../src/graph/index.ts';
import { createRng } from '../../src/data/rng.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { castFloat, numel, tensor } from '../../src/tensor.ts';

export function randn(shape: readonly number[], seed: number, scale = 1, offset = 0): Tensor<'float64'> {
  const r = createRng(seed);
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) {
    const u = Math.max(r(), 1e-12);
    data[i] = offset + scale * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  }
  return tensor('float64', shape, data);
}

export interface GradCase {
  /** Float64 inputs to differentiate, by name. */
  inputs: Record<string, Tensor<'float64'>>;
  /** Extra non-differentiated feeds (indices, masks). */
  extra?: Record<string, Tensor>;
  build(g: Graph, x: Record<string, Value>): Value;
  eps?: number;
  tol?: number;
}

/** Asserts the worst |fd − analytic| / max|analytic| over all entries is below the tolerance. */
export async function gradCheck(c: GradCase): Promise<void> {
  const g = new Graph('gradcheck');
  const xs: Record<string, Value> = {};
  for (const [name, t] of Object.entries(c.inputs)) xs[name] = g.input(name, 'float64', t.shape);
  for (const [name, t] of Object.entries(c.extra ?? {})) xs[name] = g.input(name, t.dtype, t.shape);
  const y = c.build(g, xs);
  const shape = y.shape.map((d) => {
    if (typeof d !== 'number') throw new Error(`gradCheck needs a static output shape, got ${y.shape.join(',')}`);
    return d;
  });
  const w = g.constant(randn(shape, 99));
  const loss = reduceSum(mul(y, w), [...shape.keys()], false);
  const names = Object.keys(c.inputs);
  const grads = gradients(loss, names.map((n) => xs[n]!));
  g.output('loss', loss);
  grads.forEach((d, i) => g.output(`grad_${names[i]}`, d));
  const session = await compileGraph(g);
  const feeds: Record<string, Tensor> = { ...c.inputs, ...(c.extra ?? {}) };
  const out = await session.run(feeds);
  const eps = c.eps ?? 1e-6;
  let worst = 0;
  for (const name of names) {
    const analytic = out[`grad_${name}`]!.data as Float64Array;
    const base = c.inputs[name]!;
    assert.deepEqual([...out[`grad_${name}`]!.shape], [...base.shape], `gradient shape of ${name}`);
    const scale = Math.max(1e-12, ...Array.from(analytic, Math.abs));
    for (let i = 0; i < base.data.length; i++) {
      const plus = Float64Array.from(base.data);
      const minus = Float64Array.from(base.data);
      plus[i]! += eps;
      minus[i]! -= eps;
      const lp = (await session.run({ ...feeds, [name]: tensor('float64', base.shape, plus) }, ['loss']))['loss']!.data[0] as number;
      const lm = (await session.run({ ...feeds, [name]: tensor('float64', base.shape, minus) }, ['loss']))['loss']!.data[0] as number;
      const fd = (lp - lm) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - analytic[i]!) / scale);
    }
  }
  await session.release();
  assert.ok(worst < (c.tol ?? 1e-6), `finite differences disagree: worst scaled error ${worst}`);
}

/**
 * A float32 op (often a fused kernel with its own VJP) against its float64 composite, which the FD
 * checks cover: `build` runs once per dtype on x [3, 50]; forward values and the gradient of
 * Σ y ⊙ w must agree within 1e-5. `fusedOp` must appear in the float32 graph only.
 */
export async function float32MatchesFloat64(build: (x: Value) => Value, fusedOp: string, scale: number, seed: number): Promise<void> {
  const x64 = randn([3, 50], seed, scale);
  const run = async (dtype: 'float32' | 'float64'): Promise<{ y: Float64Array; dx: Float64Array }> => {
    const g = new Graph();
    const x = g.input('x', dtype, [3, 50]);
    const y = build(x);
    assert.equal(g.nodes.some((n) => n.op === fusedOp), dtype === 'float32', `${fusedOp} only in the float32 graph`);
    const w = g.constant(castFloat(randn([3, 50], seed + 1), dtype));
    const [dx] = gradients(reduceSum(mul(y, w), [0, 1], false), [x]);
    g.output('y', y);
    g.output('dx', dx!);
    const s = await compileGraph(g);
    const out = await s.run({ x: castFloat(x64, dtype) });
    await s.release();
    return { y: Float64Array.from(out['y']!.data as Float32Array), dx: Float64Array.from(out['dx']!.data as Float32Array) };
  };
  const f32 = await run('float32');
  const f64 = await run('float64');
  const maxDiff = (a: Float64Array, b: Float64Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
  assert.ok(maxDiff(f32.y, f64.y) < 1e-5, `forward ${maxDiff(f32.y, f64.y)}`);
  assert.ok(maxDiff(f32.dx, f64.dx) < 1e-5, `gradient ${maxDiff(f32.dx, f64.dx)}`);
}
