/**
 * onnxruntime-web (WASM, 1 thread) runs every family's graphs: for each golden case, one
 * prompt-tuning training step (logits at every position, loss, gradient) against the golden
 * file, and the inference graphs (step, prefix, score) compile, which is where onnxruntime
 * refuses an op it has no kernel for. The op types of all those graphs are listed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkMethod, GOLDEN_CASES, loadGoldenCase, methodFor } from '../../src/check/golden.ts';
import type { Graph } from '../../src/graph/graph.ts';
import { buildPrefixGraph, buildStepGraph } from '../../src/infer/graphs.ts';
import { buildScoreGraph } from '../../src/infer/logprobs.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph, getBackend, setBackend } from '../../src/runtime/session.ts';
import type { Backend } from '../../src/runtime/backend.ts';
import { createWebBackend, webGpuAvailable, WebRuntimeError } from '../../src/runtime/web_backend.ts';
import { GOLDEN } from '../helpers/paths.ts';

const opTypes = new Map<string, Set<string>>(); // "domain:Op" -> graphs using it

function noteOps(g: Graph): void {
  for (const n of g.nodes) {
    const key = n.domain ? `${n.domain}:${n.op}` : n.op;
    let s = opTypes.get(key);
    if (!s) opTypes.set(key, (s = new Set()));
    s.add(g.name);
  }
}

describe('onnxruntime-web backend (WASM, 1 thread)', () => {
  let previous: Backend;
  before(async () => {
    previous = await getBackend();
    setBackend(await createWebBackend({ numThreads: 1 }));
  });
  after(() => setBackend(previous));

  for (const name of GOLDEN_CASES) {
    test(`${name}: a prompt-tuning step matches the golden logits, loss and gradient; inference graphs compile`, async () => {
      const c = loadGoldenCase(GOLDEN, name);
      assert.match((await getBackend()).name, /onnxruntime-web \(wasm, 1 thread\)/);
      const results = await checkMethod(c, 'prompt_tuning');
      assert.equal(results.length, 3);
      for (const r of results) assert.ok(r.ok, `${r.case} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
      noteOps(buildProgram(c.model.config, c.model.weights, methodFor(c, 'prompt_tuning'), { fullLogits: true }).graph);
      for (const g of [buildStepGraph(c.model.config, c.model.weights), buildPrefixGraph(c.model.config, c.model.weights), buildScoreGraph(c.model.config, c.model.weights)]) {
        noteOps(g);
        const s = await compileGraph(g);
        await s.release();
      }
    });
  }

  test('lists the op types the graphs use (all of them ran or compiled on WASM above)', (t) => {
    const list = [...opTypes.keys()].sort();
    t.diagnostic(`${list.length} op types: ${list.join(' ')}`);
    // GPT-2's FastGelu is the one contrib op; it must be among those that ran.
    assert.ok(list.includes('com.microsoft:FastGelu'), list.join(' '));
    assert.ok(list.length >= 30, `only ${list.length} op types seen`);
  });

  test('refuses WebGPU where navigator.gpu is absent, and a bad thread count', async () => {
    assert.equal(webGpuAvailable(), false);
    await assert.rejects(createWebBackend({ executionProvider: 'webgpu' }), (e: unknown) => e instanceof WebRuntimeError && /navigator\.gpu/.test((e as Error).message));
    await assert.rejects(createWebBackend({ numThreads: 0 }), /numThreads: expected a positive integer, got 0/);
  });
});
