/**
 * Per decoder family (the golden tiny models): a padded row in a mixed batch gives the logits of
 * that row alone (sliding windows and RoPE depend on per-row positions), a few SGD steps on a soft
 * prompt lower the loss, and the trained prompt steers KV-cached generation exactly as full
 * recomputation does. Gemma's inits start from the scaled embeddings, as PEFT's do.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createRng } from '../../src/data/rng.ts';
import { greedyFullRecompute, loadGoldenCase, methodFor } from '../../src/check/golden.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { Generator } from '../../src/infer/generator.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { inputEmbeddingTable, promptEmbeddingsInit } from '../../src/methods/init.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { GOLDEN } from '../helpers/paths.ts';

const FAMILIES = ['tiny-qwen2', 'tiny-qwen3', 'tiny-llama3', 'tiny-mistral', 'tiny-gemma3', 'tiny-phi3'];

function rowOf(t: Tensor<'int64'>, b: number, len: number): Tensor<'int64'> {
  const T = t.shape[1]!;
  return tensor('int64', [1, len], (t.data as BigInt64Array).slice(b * T, b * T + len));
}

for (const name of FAMILIES) {
  describe(name, () => {
    const c = loadGoldenCase(GOLDEN, name);

    test('the padded row of a mixed batch has the logits of that row alone (plain, soft prompt, prefix)', async () => {
      for (const m of ['forward', 'prompt_tuning', 'prefix_tuning'] as const) {
        const file = readSafetensors(join(c.dir, `${m}.safetensors`));
        const method = m === 'forward' ? null : methodFor(c, m);
        const program = buildProgram(c.model.config, c.model.weights, method, { fullLogits: true, loss: false, gradients: false });
        const session = await compileGraph(program.graph);
        const params: Record<string, Tensor> = {};
        for (const p of method?.params ?? []) params[p.name] = file.get(p.name)!;
        const ids = file.get('input_ids') as Tensor<'int64'>;
        const mask = file.get('attention_mask') as Tensor<'int64'>;
        const len = Number((mask.data as BigInt64Array).slice(16).reduce((a, b) => a + b, 0n)); // row 1's real length
        assert.ok(len < 16, 'row 1 is padded');
        const both = (await session.run({ ...batchFeeds(method, { inputIds: ids, attentionMask: mask }), ...params }, ['logits']))['logits']!;
        const alone = (await session.run({ ...batchFeeds(method, { inputIds: rowOf(ids, 1, len), attentionMask: rowOf(mask, 1, len) }), ...params }, ['logits']))['logits']!;
        const [, S, V] = both.shape as [number, number, number];
        const n = m === 'prompt_tuning' ? method!.numVirtualTokens : 0;
        let worst = 0;
        for (let s = 0; s < n + len; s++) {
          for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs((both.data[(S + s) * V + v] as number) - (alone.data[s * V + v] as number)));
        }
        assert.ok(worst < 1e-5, `${name} ${m}: max |Δ| ${worst}`);
        await session.release();
      }
    });

    test('SGD on a soft prompt lowers the loss; the trained prompt generates the same ids KV-cached and by full recomputation', async () => {
      const file = readSafetensors(join(c.dir, 'prompt_tuning.safetensors'));
      const method = methodFor(c, 'prompt_tuning');
      const program = buildProgram(c.model.config, c.model.weights, method);
      const session = await compileGraph(program.graph);
      const feeds = batchFeeds(method, {
        inputIds: file.get('input_ids') as Tensor<'int64'>,
        attentionMask: file.get('attention_mask') as Tensor<'int64'>,
        labels: file.get('labels') as Tensor<'int64'>,
      });
      let prompt = file.get('prompt_embeddings') as Tensor<'float32'>;
      const losses: number[] = [];
      for (let step = 0; step < 4; step++) {
        const out = await session.run({ ...feeds, prompt_embeddings: prompt });
        losses.push(out['loss']!.data[0] as number);
        const g = out['grad.prompt_embeddings']!.data as Float32Array;
        prompt = tensor('float32', prompt.shape, prompt.data.map((x, i) => x - 20 * g[i]!));
      }
      await session.release();
      assert.ok(losses[3]! < losses[0]! - 1e-3, `${name}: losses ${losses.join(', ')}`);

      const gen = await Generator.create(c.model.config, c.model.weights, { decode: (ids) => Array.from(ids).join(' '), eosTokenId: undefined });
      const promptIds = [1, 17, 99, 260, 5, 77, 300, 41];
      const [soft] = await gen.promptPrefixes([prompt]);
      const [cached] = await gen.run([{ promptIds, prefix: soft!, options: { maxNewTokens: 8 } }]);
      await gen.release();
      const full = buildProgram(c.model.config, c.model.weights, method, { fullLogits: true, loss: false, gradients: false });
      const fs = await compileGraph(full.graph);
      const want = await greedyFullRecompute(fs, method, { prompt_embeddings: prompt }, promptIds, 8);
      await fs.release();
      assert.deepEqual(cached!.ids, want, name);
    });
  });
}

test("gemma3_text: text init and the inspect vocabulary use the embeddings as the model scales them (×√hidden); qwen2's are the table", () => {
  const tok = { encode: () => [5, 9], encodeContinuation: () => ({ promptIds: [], continuationIds: [5], boundaryMerged: false }), bosTokenId: 1 };
  for (const [name, scale] of [['tiny-gemma3', 8], ['tiny-qwen2', 1]] as const) {
    const c = loadGoldenCase(GOLDEN, name);
    const raw = c.model.weights.get('model.embed_tokens.weight', [512, 64]).data;
    const init = promptEmbeddingsInit(c.model.config, 2, { kind: 'text', text: 'x' }, createRng(0), { weights: c.model.weights, tokenizer: tok });
    const want = Float32Array.from([...raw.subarray(5 * 64, 6 * 64), ...raw.subarray(9 * 64, 10 * 64)], (x) => x * scale);
    assert.deepEqual(Array.from(init.data), Array.from(want), name);
    assert.deepEqual(Array.from(inputEmbeddingTable(c.model.config, c.model.weights).data.subarray(0, 64)), Array.from(raw.subarray(0, 64), (x) => Math.fround(x * scale)));
  }
});
