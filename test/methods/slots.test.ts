/**
 * {soft:N} slots: virtual tokens placed inside the template instead of before it.
 *
 * Oracles: (1) virtual tokens equal to real tokens' embeddings give exactly the base model's logits
 * on the sequence with those tokens inserted at the slot; (2) causality: a slot changes the logits
 * after it and not those before; (3) all slots at 0 are PEFT's prepending; (4) a batch of rows
 * with different slot positions equals each row alone; (5) float64 gradients against finite
 * differences.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { collateTrain } from '../../src/data/collate.ts';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { RankScorer } from '../../src/eval/rank.ts';
import { loadGoldenCase } from '../../src/check/golden.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import type { TokenBatch } from '../../src/methods/batch.ts';
import { multitaskPromptTuning, multitaskTaskPrompt } from '../../src/methods/multitask.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { CompiledSession } from '../../src/runtime/backend.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import type { Tokenizer } from '../../src/tokenizer/index.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';
import { randn } from '../helpers/gradcheck.ts';

let model: ModelDir;
let tok: Tokenizer;
let base: CompiledSession;
let slotted: CompiledSession;
const N = 3;
let method: PromptMethod;

before(async () => {
  model = loadModelDir(STORIES);
  tok = await loadTokenizer(STORIES);
  method = promptTuning(model.config, { numVirtualTokens: N });
  base = await compileGraph(buildProgram(model.config, model.weights, null, { fullLogits: true, loss: false }).graph);
  slotted = await compileGraph(buildProgram(model.config, model.weights, method, { fullLogits: true, loss: false, gradients: false, softSlots: true }).graph);
});

const d = (): number => model.config.hiddenSize;

/** Rows of the input-embedding table for `ids`, as prompt_embeddings. */
function embeddingRows(ids: readonly number[]): Tensor<'float32'> {
  const table = model.weights.get('model.embed_tokens.weight', [model.config.vocabSize, d()]).data;
  const out = new Float32Array(ids.length * d());
  ids.forEach((id, i) => out.set(table.subarray(id * d(), (id + 1) * d()), i * d()));
  return tensor('float32', [ids.length, d()], out);
}

function row(ids: readonly number[], T = ids.length): TokenBatch {
  const data = new BigInt64Array(T);
  const mask = new BigInt64Array(T);
  ids.forEach((id, t) => ((data[t] = BigInt(id)), (mask[t] = 1n)));
  return { inputIds: tensor('int64', [1, T], data), attentionMask: tensor('int64', [1, T], mask) };
}

async function logits(session: CompiledSession, feeds: Record<string, Tensor>): Promise<{ data: Float32Array; shape: readonly number[] }> {
  const out = (await session.run(feeds, ['logits']))['logits']!;
  return { data: out.data as Float32Array, shape: out.shape };
}

/** Logits [V] of row b, sequence slot s. */
const at = (l: { data: Float32Array; shape: readonly number[] }, b: number, s: number): Float32Array => {
  const [, S, V] = l.shape as [number, number, number];
  return l.data.subarray((b * S + s) * V, (b * S + s + 1) * V);
};
const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe('{soft:N} slots in the graph', () => {
  test('virtual tokens equal to token embeddings give the base model on the sequence with those tokens inserted', async () => {
    const ids = tok.encode('Once upon a time there was a little girl');
    const inserted = tok.encode(' big red', { addSpecialTokens: false }).concat(tok.encode('dog', { addSpecialTokens: false })).slice(0, N);
    assert.equal(inserted.length, N);
    for (const k of [0, 1, 4, ids.length]) {
      const seq = [...ids.slice(0, k), ...inserted, ...ids.slice(k)];
      const want = await logits(base, batchFeeds(null, row(seq)));
      const got = await logits(slotted, { ...batchFeeds(method, { ...row(ids), virtualAt: [[k, k, k]] }), prompt_embeddings: embeddingRows(inserted) });
      assert.deepEqual(got.shape, want.shape);
      assert.ok(maxDiff(got.data, want.data) < 2e-5, `slot before token ${k}: max |Δlogit| ${maxDiff(got.data, want.data)}`);
    }
  });

  test('a slot in the middle changes the logits after it and not those before it', async () => {
    const ids = tok.encode('Once upon a time there was a little girl');
    const k = 5;
    const p1 = randn([N, d()], 1, 0.5);
    const p2 = randn([N, d()], 2, 0.5);
    const f32 = (t: Tensor<'float64'>): Tensor<'float32'> => tensor('float32', t.shape, Float32Array.from(t.data));
    const feeds = batchFeeds(method, { ...row(ids), virtualAt: [[k, k, k]] });
    const a = await logits(slotted, { ...feeds, prompt_embeddings: f32(p1) });
    const b = await logits(slotted, { ...feeds, prompt_embeddings: f32(p2) });
    const plain = await logits(base, batchFeeds(null, row(ids)));
    // Before the slot: tokens 0..k-1 sit at slots 0..k-1, unaffected by the virtual tokens (causal).
    for (let s = 0; s < k; s++) {
      assert.equal(maxDiff(at(a, 0, s), at(b, 0, s)), 0, `slot ${s} (before the virtual tokens) changed`);
      assert.ok(maxDiff(at(a, 0, s), at(plain, 0, s)) < 2e-5, `slot ${s} differs from the base model`);
    }
    // From the virtual tokens on, every position sees them.
    for (let s = k; s < ids.length + N; s++) assert.ok(maxDiff(at(a, 0, s), at(b, 0, s)) > 1e-3, `slot ${s} (after the virtual tokens) did not change`);
  });

  test('all virtual tokens at 0 is PEFT prepending', async () => {
    const ids = tok.encode('Once upon a time');
    const p = tensor('float32', [N, d()], Float32Array.from(randn([N, d()], 3, 0.5).data));
    const prepend = await compileGraph(buildProgram(model.config, model.weights, method, { fullLogits: true, loss: false, gradients: false }).graph);
    const want = await logits(prepend, { ...batchFeeds(method, row(ids)), prompt_embeddings: p });
    const got = await logits(slotted, { ...batchFeeds(method, { ...row(ids), virtualAt: [[0, 0, 0]] }), prompt_embeddings: p });
    assert.equal(maxDiff(got.data, want.data), 0);
    await prepend.release();
  });

  test('rows of different lengths and slot positions in one batch equal each row alone', async () => {
    const rows = [tok.encode('Once upon a time there was a girl'), tok.encode('Tom had a ball'), tok.encode('The sun was hot and the sky was blue')];
    const slots = [[2, 2, 6], [0, 4, 4], [9, 9, 9]];
    const p = tensor('float32', [N, d()], Float32Array.from(randn([N, d()], 4, 0.5).data));
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(rows.length * T);
    const mask = new BigInt64Array(rows.length * T);
    rows.forEach((r, b) => r.forEach((id, t) => ((ids[b * T + t] = BigInt(id)), (mask[b * T + t] = 1n))));
    const batch = await logits(slotted, {
      ...batchFeeds(method, { inputIds: tensor('int64', [rows.length, T], ids), attentionMask: tensor('int64', [rows.length, T], mask), virtualAt: slots }),
      prompt_embeddings: p,
    });
    for (let b = 0; b < rows.length; b++) {
      const alone = await logits(slotted, { ...batchFeeds(method, { ...row(rows[b]!), virtualAt: [slots[b]!] }), prompt_embeddings: p });
      for (let s = 0; s < rows[b]!.length + N; s++) assert.ok(maxDiff(at(batch, b, s), at(alone, 0, s)) < 2e-5, `row ${b} slot ${s}`);
    }
  });

  test('the loss is on the answer wherever the slots are: train rows score like rank classification', async () => {
    const template = new Template('{text}{soft:2} The story is about{soft:1} a');
    const verbalizer = new Verbalizer({ girl: ' girl', boy: ' boy' });
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: tok, maxLength: 200 });
    const e = enc.encode({ text: 'Lily found a shell.', label: 'girl', __line: 1 });
    // The prompt is the hard prompt's tokens; the slots sit at token boundaries of it.
    assert.deepEqual(e.promptIds, verbalizer.encode(tok, 'Lily found a shell. The story is about a').promptIds);
    const k1 = tok.encode('Lily found a shell.').length;
    const k2 = tok.encode('Lily found a shell. The story is about').length;
    assert.deepEqual(e.softAt, [k1, k1, k2]);
    const p = tensor('float32', [N, d()], Float32Array.from(randn([N, d()], 5, 0.5).data));
    const train = await compileGraph(buildProgram(model.config, model.weights, method, { gradients: false, softSlots: true }).graph);
    const loss = (await train.run({ ...batchFeeds(method, collateTrain([e], { padId: 0 })), prompt_embeddings: p }, ['loss']))['loss']!.data[0] as number;
    const scorer = new RankScorer(model.config, model.weights, method, { softSlots: true, params: { prompt_embeddings: p } });
    const { scores } = await scorer.score([e]);
    assert.ok(Math.abs(loss - -scores[0]![0]! / e.targetIds.length) < 1e-5, `loss ${loss} vs -logp/len ${-scores[0]![0]! / e.targetIds.length}`);
    await scorer.release();
    await train.release();
  });
});

describe('{soft:N} slots with per-example prompts', () => {
  test("multitask rows with slots equal prompt tuning with each task's prompt at the same slots", async () => {
    const mpt = multitaskPromptTuning(model.config, { numVirtualTokens: N, numTasks: 3, numRanks: 2 });
    const f32 = (t: Tensor<'float64'>): Tensor<'float32'> => tensor('float32', t.shape, Float32Array.from(t.data));
    const params = {
      'embedding.weight': f32(randn([N, d()], 11, 0.5)),
      prefix_task_cols: f32(randn([3, N, 2], 12, 1)),
      prefix_task_rows: f32(randn([3, 2, d()], 13, 1)),
    };
    const session = await compileGraph(buildProgram(model.config, model.weights, mpt, { fullLogits: true, loss: false, gradients: false, softSlots: true }).graph);
    const rows = [tok.encode('Once upon a time there was a girl'), tok.encode('Tom had a ball')];
    const slots = [[3, 3, 5], [1, 4, 4]];
    const taskIds = [2, 0];
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(2 * T);
    const mask = new BigInt64Array(2 * T);
    rows.forEach((r, b) => r.forEach((id, t) => ((ids[b * T + t] = BigInt(id)), (mask[b * T + t] = 1n))));
    const got = await logits(session, {
      ...batchFeeds(mpt, { inputIds: tensor('int64', [2, T], ids), attentionMask: tensor('int64', [2, T], mask), virtualAt: slots, taskIds }),
      ...params,
    });
    for (let b = 0; b < 2; b++) {
      const p = multitaskTaskPrompt(params, taskIds[b]!);
      const want = await logits(slotted, { ...batchFeeds(method, { ...row(rows[b]!), virtualAt: [slots[b]!] }), prompt_embeddings: tensor('float32', p.shape, Float32Array.from(p.data)) });
      for (let s = 0; s < rows[b]!.length + N; s++) assert.ok(maxDiff(at(got, b, s), at(want, 0, s)) < 2e-5, `row ${b} slot ${s}`);
    }
    await session.release();
  });
});

describe('{soft:N} slot gradients', () => {
  test('float64 tiny-llama: autodiff gradients of prompt_embeddings at mid-row slots match finite differences', async () => {
    const c = loadGoldenCase(GOLDEN, 'tiny-llama');
    const m = promptTuning(c.model.config, { numVirtualTokens: 3 });
    const session = await compileGraph(buildProgram(c.model.config, c.model.weights, m, { dtype: 'float64', softSlots: true }).graph);
    const V = c.model.config.vocabSize;
    const T = 7;
    const ids = BigInt64Array.from({ length: 2 * T }, (_, i) => BigInt((i * 7 + 3) % V));
    const mask = BigInt64Array.from({ length: 2 * T }, (_, i) => (i >= T && i % T >= 5 ? 0n : 1n)); // row 1 has 5 tokens
    const labels = BigInt64Array.from(ids, (x, i) => (mask[i] === 1n && i % T >= 2 ? x : -100n));
    const feeds: Record<string, Tensor> = {
      ...batchFeeds(m, {
        inputIds: tensor('int64', [2, T], ids),
        attentionMask: tensor('int64', [2, T], mask),
        labels: tensor('int64', [2, T], labels),
        virtualAt: [[1, 3, 3], [2, 2, 5]],
      }),
      prompt_embeddings: randn([3, c.model.config.hiddenSize], 7, 0.5),
    };
    const grad = (await session.run(feeds))['grad.prompt_embeddings']!.data as Float64Array;
    const lossAt = async (i: number, delta: number): Promise<number> => {
      const p = Float64Array.from(feeds['prompt_embeddings']!.data as Float64Array);
      p[i]! += delta;
      return (await session.run({ ...feeds, prompt_embeddings: tensor('float64', [3, c.model.config.hiddenSize], p) }, ['loss']))['loss']!.data[0] as number;
    };
    const scale = Math.max(...Array.from(grad, Math.abs));
    assert.ok(scale > 0);
    for (let i = 0; i < grad.length; i += Math.max(1, Math.floor(grad.length / 12))) {
      const fd = ((await lossAt(i, 1e-6)) - (await lossAt(i, -1e-6))) / 2e-6;
      assert.ok(Math.abs(fd - grad[i]!) / scale < 1e-6, `prompt_embeddings[${i}]: fd ${fd} vs autodiff ${grad[i]}`);
    }
    await session.release();
  });
});

describe('{soft:N} slot errors', () => {
  test('a slot count that disagrees with the method, a slot past the row, and prefix tuning are refused', () => {
    const ids = [1, 2, 3, 4];
    assert.throws(() => batchFeeds(method, { ...row(ids), virtualAt: [[1, 1]] }), /places 2 virtual tokens but the prompt_tuning adapter has 3/);
    assert.throws(() => batchFeeds(method, { ...row(ids), virtualAt: [[1, 1, 5]] }), /non-decreasing integers in 0\.\.4/);
    assert.throws(() => batchFeeds(method, { ...row(ids), virtualAt: [[2, 1, 1]] }), /non-decreasing/);
    const prefix = prefixTuning(model.config, { numVirtualTokens: 3 });
    assert.throws(() => batchFeeds(prefix, { ...row(ids), virtualAt: [[0, 0, 0]] }), /not prefix tuning/);
    assert.throws(() => buildProgram(model.config, model.weights, prefix, { softSlots: true }), /prefix tuning puts its prefix into every layer/);
  });

  test('the scorer refuses examples whose slots disagree with the adapter', async () => {
    const scorer = new RankScorer(model.config, model.weights, method, { softSlots: true, params: { prompt_embeddings: embeddingRows([1, 2, 3]) } });
    await assert.rejects(scorer.score([{ promptIds: [1, 5, 6], candidates: [[7]], softAt: [1, 1] }]), /slots hold 2 virtual tokens but the adapter has 3/);
    await assert.rejects(scorer.score([{ promptIds: [1, 5, 6], candidates: [[7]] }]), /has no slot positions/);
    await scorer.release();
  });

  test('hard-prompt rendering of a slotted template says what it needs', () => {
    const t = new Template('{text}{soft:4} The story is about a', { source: 'train.yaml' });
    assert.equal(t.softTokens, 4);
    assert.deepEqual(t.renderWithSlots({ text: 'Hi.' }), { text: 'Hi. The story is about a', slots: [{ offset: 3, count: 4 }] });
    assert.throws(() => t.render({ text: 'Hi.' }), /needs a prompt-tuning or p-tuning adapter with 4 virtual tokens/);
  });
});
