/**
 * The large-model path, forced on tiny models with a zero threshold. By default every frozen
 * weight (fused q|k|v reordered ones too) is held once per process and fed to all sessions as a
 * graph input; with 'file' it lives in one external-data file per checkpoint, written once and
 * mapped by all sessions. Either way the golden logits, losses, gradients and greedy ids (full
 * recomputation and KV cache) are unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkGeneration, checkMethod, loadGoldenCase } from '../../src/check/golden.ts';
import type { Comparison } from '../../src/check/golden.ts';
import { toOnnx } from '../../src/graph/onnx.ts';
import { buildStepGraph } from '../../src/infer/graphs.ts';
import { Generator } from '../../src/infer/generator.ts';
import { heldBytes } from '../../src/runtime/held_weights.ts';
import { compileGraph, setExternalDataThreshold, setLargeWeights } from '../../src/runtime/session.ts';
import type { LargeWeights } from '../../src/runtime/session.ts';
import { weightFileFor } from '../../src/runtime/weight_file.ts';
import { GOLDEN } from '../helpers/paths.ts';
import { goldenGenerationCases } from '../infer/fixtures.ts';

function assertAll(results: readonly Comparison[]): void {
  assert.ok(results.length > 0);
  for (const r of results) assert.ok(r.ok, `${r.case} ${r.method} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
}

before(() => setExternalDataThreshold(0));
after(() => {
  setExternalDataThreshold(undefined);
  setLargeWeights(undefined);
});

/** float32 (generator) and float64 (golden checks) copies of each tensor, nothing more. */
function distinctBytes(store: ReturnType<typeof loadGoldenCase>['model']['weights']): number {
  return store.names().reduce((s, n) => s + store.info(n).shape.reduce((a, b) => a * b, 1) * (4 + 8), 0);
}

const runs: [string, LargeWeights][] = [['tiny-llama', 'inputs'], ['tiny-gpt2', 'inputs'], ['tiny-gpt-neox', 'inputs'], ['tiny-llama', 'file']];
for (const [name, mode] of runs) {
  describe(`${name} with weights held as ${mode}`, () => {
    const c = loadGoldenCase(GOLDEN, name);
    before(() => setLargeWeights(mode));

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

    if (mode === 'inputs') {
      test('each weight is held once, fed as an input, and models embed none of its bytes', async () => {
        const store = c.model.weights;
        const distinct = distinctBytes(store);
        const held = heldBytes(store);
        assert.ok(held > 0 && held <= distinct, `held ${held} B for ${distinct} B of distinct weights`);
        const session = await compileGraph(buildStepGraph(c.model.config, store));
        try {
          assert.equal(heldBytes(store), held, 'a second graph on the checkpoint holds nothing new');
          assert.ok(!session.inputNames.some((n) => n.endsWith('.weight') || n.endsWith('.weight.T')), 'weights are fed, not asked of callers');
        } finally {
          await session.release();
        }
        const bytes = toOnnx(buildStepGraph(c.model.config, store), { weightInputs: true });
        assert.ok(bytes.length < distinct / 12 / 2, `the model is ${bytes.length} B: no weights embedded`);
      });
      return;
    }

    test('each weight is written once, and models hold none of its bytes', () => {
      const store = c.model.weights;
      const f = weightFileFor(store);
      const distinct = distinctBytes(store);
      assert.ok(f.size > 0, 'the weights went to the external file');
      assert.ok(f.size <= distinct + 2 * store.names().length * 4096, `file ${f.size} B for ${distinct} B of distinct weights`);
      const before = f.size;
      const bytes = toOnnx(buildStepGraph(c.model.config, store), { external: (ref) => f.place(ref) });
      assert.equal(f.size, before, 'a second graph on the checkpoint writes nothing new');
      assert.ok(bytes.length < distinct / 12 / 2, `the model is ${bytes.length} B: no weights embedded`);
    });
  });
}
