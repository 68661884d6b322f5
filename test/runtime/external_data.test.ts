/**
 * The large-model path, forced on tiny models with a zero threshold: every frozen weight (fused
 * q|k|v reordered ones too) lives in one external-data file per checkpoint, written once and
 * shared by all sessions, and the golden logits, losses, gradients and greedy ids (full recomputation and KV cache) are unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkGeneration, checkMethod, loadGoldenCase } from '../../src/check/golden.ts';
import type { Comparison } from '../../src/check/golden.ts';
import { toOnnx } from '../../src/graph/onnx.ts';
import { buildStepGraph } from '../../src/infer/graphs.ts';
import { Generator } from '../../src/infer/generator.ts';
import { setExternalDataThreshold } from '../../src/runtime/session.ts';
import { weightFileFor } from '../../src/runtime/weight_file.ts';
import { GOLDEN } from '../helpers/paths.ts';
import { goldenGenerationCases } from '../infer/fixtures.ts';

function assertAll(results: readonly Comparison[]): void {
  assert.ok(results.length > 0);
  for (const r of results) assert.ok(r.ok, `${r.case} ${r.method} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
}

before(() => setExternalDataThreshold(0));
after(() => setExternalDataThreshold(undefined));

for (const name of ['tiny-llama', 'tiny-gpt2', 'tiny-gpt-neox'] as const) {
  describe(`${name} through external data`, () => {
    const c = loadGoldenCase(GOLDEN, name);

    test('logits, losses and gradients of every method equal the golden files', async () => {
      for (const m of ['forward', 'prompt_tuning', 'p_tuning', 'prefix_tuning'] as const) assertAll(await checkMethod(c, m));
      assertAll(await checkGeneration(c));
    });

    test('KV-cached greedy ids equal the golden ids', async () => {
      const tok = { decode: (ids: ArrayLike<number>) => Array.from(ids).join(' '), eosTokenId: undefined };
      const gen = await Generator.create(c.model.config, c.model.weights, tok);
      try {
        const { prompts, cases } = await goldenGenerationCases(c, gen);
        for (const { key, prefix: p, steps, want } of cases) {
          const got = await gen.run(prompts.map((ids) => ({ promptIds: ids, prefix: p, options: { maxNewTokens: steps } })));
          assert.deepEqual(got.map((r) => r.ids), want, `${name} ${key}`);
        }
      } finally {
        await gen.release();
      }
    });

    test('each weight is written once, and models hold none of its bytes', () => {
      const store = c.model.weights;
      const f = weightFileFor(store);
      // float32 (generator) and float64 (golden checks) copies of each tensor, nothing more.
      const distinct = store.names().reduce((s, n) => s + store.info(n).shape.reduce((a, b) => a * b, 1) * (4 + 8), 0);
      assert.ok(f.size > 0, 'the weights went to the external file');
      assert.ok(f.size <= distinct + 2 * store.names().length * 4096, `file ${f.size} B for ${distinct} B of distinct weights`);
      const before = f.size;
      const bytes = toOnnx(buildStepGraph(c.model.config, store), { external: (ref) => f.place(ref) });
      assert.equal(f.size, before, 'a second graph on the checkpoint writes nothing new');
      assert.ok(bytes.length < distinct / 12 / 2, `the model is ${bytes.length} B: no weights embedded`);
    });
  });
}
