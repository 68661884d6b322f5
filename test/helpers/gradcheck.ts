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
import { numel, tensor } from '../../src/tensor.ts';

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
