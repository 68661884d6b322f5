/** Sessions compile once per key and accept any batch and sequence length. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Graph } from '../../src/graph/graph.ts';
import * as op from '../../src/graph/ops/index.ts';
import { compileGraph, SessionCache } from '../../src/runtime/session.ts';
import { RuntimeError } from '../../src/runtime/ort_backend.ts';
import { float32 } from '../../src/tensor.ts';

function build(): Graph {
  const g = new Graph('scale');
  const x = g.input('x', 'float32', ['B', 'T']);
  g.output('y', op.mul(op.add(x, 1), 2));
  return g;
}

test('a cached session is compiled once and serves dynamic shapes', async () => {
  const cache = new SessionCache();
  let builds = 0;
  const make = (): Graph => (builds++, build());
  const a = await cache.get('scale', make);
  const b = await cache.get('scale', make);
  assert.equal(a, b);
  assert.equal(builds, 1);
  for (const [B, T] of [[1, 3], [4, 7]] as const) {
    const x = float32([B, T], Array.from({ length: B * T }, (_, i) => i));
    const y = (await a.run({ x }))['y']!;
    assert.deepEqual([...y.shape], [B, T]);
    assert.deepEqual([...y.data], Array.from({ length: B * T }, (_, i) => (i + 1) * 2));
  }
  await cache.clear();
});

test('a missing feed names the input', async () => {
  const cache = new SessionCache();
  const s = await cache.get('scale', build);
  await assert.rejects(s.run({}), (e: unknown) => e instanceof RuntimeError && /missing feed "x"/.test(e.message));
  await cache.clear();
});

test('SOFTPROMPT_ORT_OPT picks ORT\'s optimisation level; an unknown one is refused by name', async () => {
  const before = process.env.SOFTPROMPT_ORT_OPT;
  try {
    process.env.SOFTPROMPT_ORT_OPT = 'disabled';
    const s = await compileGraph(build());
    assert.deepEqual([...(await s.run({ x: float32([1, 2], [1, 2]) }))['y']!.data], [4, 6]);
    await s.release();
    process.env.SOFTPROMPT_ORT_OPT = 'fastest';
    await assert.rejects(compileGraph(build()), (e: unknown) => e instanceof RuntimeError && /SOFTPROMPT_ORT_OPT is "fastest"; use one of disabled, basic, extended, all/.test(e.message));
  } finally {
    if (before === undefined) delete process.env.SOFTPROMPT_ORT_OPT;
    else process.env.SOFTPROMPT_ORT_OPT = before;
  }
});
