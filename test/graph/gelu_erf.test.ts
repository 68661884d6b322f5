/** Exact-erf GELU (GPT-NeoX) and CumSum (position bookkeeping): values, and gradients against finite differences. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as op from '../../src/graph/index.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { int64, tensor } from '../../src/tensor.ts';
import { float32MatchesFloat64, gradCheck, randn } from '../helpers/gradcheck.ts';

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

test('float32 GELU (ONNX Erf, its own VJP) equals the float64 composite in value and gradient', () => float32MatchesFloat64(op.geluErf, 'Erf', 3, 32));

test('CumSum of a mask along the sequence', async () => {
  const g = new op.Graph();
  g.output('c', op.cumsum(g.input('m', 'int64', [2, 4]), 1));
  const s = await compileGraph(g);
  const c = (await s.run({ m: int64([2, 4], [1, 1, 0, 1, 0, 1, 1, 0]) }))['c']!.data as BigInt64Array;
  await s.release();
  assert.deepEqual(Array.from(c, Number), [1, 2, 2, 3, 0, 1, 2, 2]);
});
