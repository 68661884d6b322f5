/** Exact-erf GELU (GPT-NeoX) and CumSum (position bookkeeping): values, and gradients against finite differences. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxAbsDiff } from '../../src/check/golden.ts';
import * as op from '../../src/graph/index.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { castFloat, int64, tensor } from '../../src/tensor.ts';
import { gradCheck, randn } from '../helpers/gradcheck.ts';

// erf to 16 digits (tables), on both sides of the float64 composition's switch at |z| = 2.
const ERF: [number, number][] = [[0, 0], [0.5, 0.5204998778130465], [-1.5, -0.9661051464753108], [2, 0.9953222650189527], [-2.5, -0.9995930479825550], [3.5, 0.9999992569016276], [6, 1]];

test('float64 erf (composed: Taylor below 2, continued fraction above) to 1e-15', async () => {
  const g = new op.Graph();
  const x = g.input('x', 'float64', [ERF.length]);
  g.output('y', op.erf(x));
  const s = await compileGraph(g);
  const y = (await s.run({ x: tensor('float64', [ERF.length], Float64Array.from(ERF, ([z]) => z)) }))['y']!.data as Float64Array;
  await s.release();
  ERF.forEach(([z, want], i) => assert.ok(Math.abs(y[i]! - want) < 1e-15, `erf(${z}) = ${y[i]}, want ${want}`));
});

test('float64 exact GELU: gradient against finite differences across both erf branches', () =>
  gradCheck({ inputs: { a: randn([4, 25], 31, 3) }, build: (_g, x) => op.geluErf(x.a!) }));

test('float32 GELU (ONNX Erf, its own VJP) equals the float64 composite in value and gradient', async () => {
  const x64 = randn([3, 50], 32, 3);
  const run = async (dtype: 'float32' | 'float64'): Promise<{ y: Float64Array; dx: Float64Array }> => {
    const g = new op.Graph();
    const x = g.input('x', dtype, [3, 50]);
    const y = op.geluErf(x);
    assert.equal(g.nodes.some((n) => n.op === 'Erf'), dtype === 'float32');
    const w = g.constant(castFloat(randn([3, 50], 33), dtype));
    const [dx] = op.gradients(op.reduceSum(op.mul(y, w), [0, 1], false), [x]);
    g.output('y', y);
    g.output('dx', dx!);
    const s = await compileGraph(g);
    const out = await s.run({ x: castFloat(x64, dtype) });
    await s.release();
    return { y: Float64Array.from(out['y']!.data as Float32Array), dx: Float64Array.from(out['dx']!.data as Float32Array) };
  };
  const f32 = await run('float32');
  const f64 = await run('float64');
  assert.ok(maxAbsDiff(f32.y, f64.y) < 1e-5, `forward ${maxAbsDiff(f32.y, f64.y)}`);
  assert.ok(maxAbsDiff(f32.dx, f64.dx) < 1e-5, `gradient ${maxAbsDiff(f32.dx, f64.dx)}`);
});

test('CumSum of a mask along the sequence', async () => {
  const g = new op.Graph();
  g.output('c', op.cumsum(g.input('m', 'int64', [2, 4]), 1));
  const s = await compileGraph(g);
  const c = (await s.run({ m: int64([2, 4], [1, 1, 0, 1, 0, 1, 1, 0]) }))['c']!.data as BigInt64Array;
  await s.release();
  assert.deepEqual(Array.from(c, Number), [1, 2, 2, 3, 0, 1, 2, 2]);
});
