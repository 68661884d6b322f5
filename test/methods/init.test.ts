/**
 * Initial values of the trainable tensors: PEFT's recipes checked against manual computations on
 * the real stories260K tokenizer and embedding table, seeded determinism, and the distributions.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { memoryWeightStore } from '../../src/formats/weights.ts';
import {
  formatInit, initParams, InitError, inputEmbeddingName, labelTokenIds, parseInit, promptEmbeddingsInit, textInitIds,
} from '../../src/methods/init.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import { prefixTuning, prefixWidth } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { createRng } from '../../src/data/rng.ts';
import type { Tensor } from '../../src/tensor.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';

let model: ModelDir;
let tok: Tokenizer;
let table: Tensor<'float32'>;
const D = 64;

before(async () => {
  model = loadModelDir(STORIES);
  tok = await loadTokenizer(STORIES);
  table = model.weights.get('model.embed_tokens.weight');
});

/** Row `id` of the stories260K embedding table. */
const row = (id: number): Float32Array => table.data.subarray(id * D, (id + 1) * D);
const rowOf = (t: Tensor, i: number): Float32Array => (t.data as Float32Array).subarray(i * D, (i + 1) * D);

/** The ids of the table rows equal to t's rows (-1 where a row is no table row). */
function tableIds(t: Tensor): number[] {
  const V = table.shape[0]!;
  return Array.from({ length: t.shape[0]! }, (_, i) => {
    for (let v = 0; v < V; v++) if (row(v).every((x, k) => Object.is(x, rowOf(t, i)[k]))) return v;
    return -1;
  });
}

function stats(data: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < data.length; i++) s += data[i]!;
  const mean = s / data.length;
  let v = 0;
  for (let i = 0; i < data.length; i++) v += (data[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(v / data.length) };
}

test('parseInit reads the CLI forms and lists them on errors', () => {
  assert.deepEqual(parseInit('random'), { kind: 'random' });
  assert.deepEqual(parseInit(' vocab '), { kind: 'vocab' });
  assert.deepEqual(parseInit('labels'), { kind: 'labels' });
  assert.deepEqual(parseInit('text:"Is the story about a girl or a boy?"'), { kind: 'text', text: 'Is the story about a girl or a boy?' });
  assert.deepEqual(parseInit('text:Classify the story'), { kind: 'text', text: 'Classify the story' });
  assert.deepEqual(parseInit('text: leading space kept'), { kind: 'text', text: ' leading space kept' });
  assert.deepEqual(parseInit('text:"say \\"hi\\"\\n"'), { kind: 'text', text: 'say "hi"\n' });
  for (const init of [{ kind: 'random' }, { kind: 'text', text: 'a "b"\n' }] as const) assert.deepEqual(parseInit(formatInit(init)), init);
  for (const bad of ['rand', 'text:', 'text:""', '', 'TEXT:abc']) {
    assert.throws(() => parseInit(bad), (e: unknown) => e instanceof InitError && /random \| vocab \| labels \| text:/.test(e.message), bad);
  }
});

test('text init = embedding rows of tokenizer(text) with BOS, cut or repeated cyclically (PEFT TEXT)', () => {
  const text = 'Once upon a time';
  const ids = tok.encode(text);
  assert.equal(ids[0], tok.bosTokenId, 'PEFT tokenizes with special tokens: BOS first for llama');
  assert.equal(ids.length, 5);
  for (const n of [3, 5, 12]) {
    const expected = Array.from({ length: n }, (_, i) => ids[i % ids.length]!); // manual repeat/cut
    assert.deepEqual(textInitIds(tok, text, n), expected);
    const t = initParams(model.config, promptTuning(model.config, { numVirtualTokens: n }), {
      seed: 1, init: { kind: 'text', text }, weights: model.weights, tokenizer: tok,
    })['prompt_embeddings']!;
    assert.deepEqual(t.shape, [n, D]);
    expected.forEach((id, i) => assert.deepEqual(rowOf(t, i), row(id), `n=${n} row ${i} is token ${id}`));
  }
  assert.throws(() => textInitIds(tok, '', 4), InitError);
});

test('vocab init: rows of the embedding table, seeded', () => {
  const method = promptTuning(model.config, { numVirtualTokens: 20 });
  const opts = { init: { kind: 'vocab' } as const, weights: model.weights };
  const a = initParams(model.config, method, { seed: 7, ...opts })['prompt_embeddings']!;
  const ids = tableIds(a);
  assert.ok(ids.every((id) => id >= 0), 'every row is a vocabulary embedding');
  assert.ok(new Set(ids).size > 10, 'ids are drawn, not repeated');
  assert.deepEqual(initParams(model.config, method, { seed: 7, ...opts })['prompt_embeddings']!.data, a.data, 'same seed, same rows');
  assert.notDeepEqual(tableIds(initParams(model.config, method, { seed: 8, ...opts })['prompt_embeddings']!), ids);
});

test('labels init starts with the verbalizer tokens (deduplicated, no BOS), then vocabulary samples', () => {
  const verbalizer = new Verbalizer({ girl: ' girl', boy: ' boy', both: ' girl boy' });
  const girl = tok.encodeContinuation('\n', ' girl').continuationIds;
  const boy = tok.encodeContinuation('\n', ' boy').continuationIds;
  const expected = [...new Set([...girl, ...boy])];
  assert.deepEqual(labelTokenIds(tok, verbalizer), expected);
  assert.ok(!expected.includes(tok.bosTokenId!));
  assert.equal(tok.decode(girl), 'girl');

  const n = expected.length + 6;
  const t = promptEmbeddingsInit(model.config, n, { kind: 'labels' }, createRng(3), { weights: model.weights, tokenizer: tok, verbalizer });
  const ids = tableIds(t);
  assert.deepEqual(ids.slice(0, expected.length), expected);
  assert.ok(ids.every((id) => id >= 0), 'the padding rows are vocabulary embeddings');
  // Fewer virtual tokens than label tokens: cut.
  const short = promptEmbeddingsInit(model.config, 2, { kind: 'labels' }, createRng(3), { weights: model.weights, tokenizer: tok, verbalizer });
  assert.deepEqual(tableIds(short), expected.slice(0, 2));
  assert.throws(() => promptEmbeddingsInit(model.config, 4, { kind: 'labels' }, createRng(3), { weights: model.weights, tokenizer: tok }), /needs the verbalizer/);
});

test('random init: N(0, 1) like nn.Embedding, same seed same values', () => {
  const method = promptTuning(model.config, { numVirtualTokens: 200 });
  const a = initParams(model.config, method, { seed: 11 })['prompt_embeddings']!;
  const { mean, std } = stats(a.data as Float32Array);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(std - 1) < 0.03, `mean ${mean}, std ${std}`);
  assert.deepEqual(initParams(model.config, method, { seed: 11 })['prompt_embeddings']!.data, a.data);
  assert.notDeepEqual(initParams(model.config, method, { seed: 12 })['prompt_embeddings']!.data, a.data);
  assert.equal(a.dtype, 'float32');
});

test('p-tuning init: embedding N(0, 1); nn.Linear weight and bias within ±1/√fan_in', () => {
  const h = 16;
  const method = pTuning(model.config, { numVirtualTokens: 30, encoderHiddenSize: h });
  const p = initParams(model.config, method, { seed: 5 });
  assert.deepEqual(Object.keys(p), method.params.map((q) => q.name));
  const emb = stats(p['embedding.weight']!.data as Float32Array);
  assert.ok(Math.abs(emb.mean) < 0.1 && Math.abs(emb.std - 1) < 0.1, `embedding mean ${emb.mean}, std ${emb.std}`);
  const fanIn: Record<string, number> = { 'mlp_head.0': D, 'mlp_head.2': h, 'mlp_head.4': h };
  for (const [layer, fin] of Object.entries(fanIn)) {
    const bound = Math.fround(1 / Math.sqrt(fin));
    for (const part of ['weight', 'bias']) {
      const data = p[`${layer}.${part}`]!.data as Float32Array;
      const max = data.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assert.ok(max <= bound, `${layer}.${part}: max |x| ${max} > ${bound}`);
      if (data.length >= 64) assert.ok(max > 0.9 * bound, `${layer}.${part} fills its range (max ${max}, bound ${bound})`);
    }
  }
  assert.deepEqual(initParams(model.config, method, { seed: 5 })['mlp_head.4.weight']!.data, p['mlp_head.4.weight']!.data);
  assert.throws(() => initParams(model.config, method, { seed: 5, init: { kind: 'vocab' } }), /prompt tuning only/);
});

test('prefix init: the [n, 2·L·KV·hd] table ~ N(0, 1)', () => {
  const method = prefixTuning(model.config, { numVirtualTokens: 10 });
  const t = initParams(model.config, method, { seed: 2 })['prompt_embeddings']!;
  assert.deepEqual(t.shape, [10, prefixWidth(model.config)]);
  const { mean, std } = stats(t.data as Float32Array);
  assert.ok(Math.abs(mean) < 0.05 && Math.abs(std - 1) < 0.05, `mean ${mean}, std ${std}`);
});

test('bad sizes and missing inputs are InitErrors', () => {
  assert.throws(() => promptEmbeddingsInit(model.config, 0, { kind: 'random' }, createRng(1)), (e: unknown) => e instanceof InitError && /positive integer, got 0/.test(e.message));
  assert.throws(() => initParams(model.config, promptTuning(model.config, { numVirtualTokens: 0 }), { seed: 1 }), InitError);
  assert.throws(() => initParams(model.config, promptTuning(model.config, { numVirtualTokens: 2 }), { seed: 1, init: { kind: 'text', text: 'x' }, weights: model.weights }), /needs the tokenizer/);
  assert.throws(() => initParams(model.config, promptTuning(model.config, { numVirtualTokens: 2 }), { seed: 1, init: { kind: 'vocab' } }), /needs the model weights/);
});

test('the input-embedding name follows src/models (GPT-2 with and without "transformer.")', () => {
  const gpt2 = loadModelDir(join(GOLDEN, 'tiny-gpt2'));
  assert.equal(inputEmbeddingName(gpt2.config, gpt2.weights), gpt2.weights.has('transformer.wte.weight') ? 'transformer.wte.weight' : 'wte.weight');
  const bare = memoryWeightStore({ 'wte.weight': table });
  assert.equal(inputEmbeddingName(gpt2.config, bare), 'wte.weight');
  assert.equal(inputEmbeddingName(model.config, model.weights), 'model.embed_tokens.weight');
});
