/**
 * Rank classification against an independent oracle (one unpadded full-logits forward per
 * sequence, log-softmax in JS), with and without prompt tuning. The zero-shot story_gender figure
 * (45.0%, as HF PEFT) is asserted exactly in test/cli/eval.test.ts.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { argmax, RankError, rankExample, RankScorer } from '../../src/eval/rank.ts';
import type { RankExample } from '../../src/eval/rank.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { multitaskPromptTuning } from '../../src/methods/multitask.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { join } from 'node:path';
import { GOLDEN, STORIES } from '../helpers/paths.ts';

let model: ModelDir;
let tok: Tokenizer;

before(async () => {
  model = loadModelDir(STORIES);
  tok = await loadTokenizer(STORIES);
});

/** Deterministic uniform(-1, 1) values (mulberry32). */
function random(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
  }
  return out;
}

/** The oracle: each prompt ++ candidate run alone (no padding), full logits, log-softmax in float64. */
async function oracleScores(method: PromptMethod | null, params: Record<string, Tensor>, examples: readonly RankExample[]): Promise<number[][]> {
  const program = buildProgram(model.config, model.weights, method, { fullLogits: true, loss: false, gradients: false });
  const session = await compileGraph(program.graph);
  const lead = method?.numVirtualTokens ?? 0; // prompt tuning: virtual tokens occupy the first slots
  try {
    const scores: number[][] = [];
    for (const ex of examples) {
      const row: number[] = [];
      for (const cand of ex.candidates) {
        const ids = [...ex.promptIds, ...cand];
        const T = ids.length;
        const feeds = batchFeeds(method, {
          inputIds: tensor('int64', [1, T], BigInt64Array.from(ids, BigInt)),
          attentionMask: tensor('int64', [1, T], new BigInt64Array(T).fill(1n)),
        });
        const logits = (await session.run({ ...feeds, ...params }, ['logits']))['logits']!;
        const [, S, V] = logits.shape as [number, number, number];
        assert.equal(S, lead + T);
        const d = logits.data as Float32Array;
        let sum = 0;
        for (let k = 0; k < cand.length; k++) {
          const t = ex.promptIds.length + k; // index of the candidate token in the real sequence
          const s = lead + t - 1; // the slot whose logits predict it
          let max = -Infinity;
          for (let v = 0; v < V; v++) max = Math.max(max, d[s * V + v]!);
          let z = 0;
          for (let v = 0; v < V; v++) z += Math.exp(d[s * V + v]! - max);
          sum += d[s * V + cand[k]!]! - max - Math.log(z);
        }
        row.push(sum);
      }
      scores.push(row);
    }
    return scores;
  } finally {
    await session.release();
  }
}

function testExamples(): RankExample[] {
  const texts = [
    'Once upon a time, there was a little girl named Lily.',
    'Tom went to the park.',
    'One day, a big dog saw a cat in the garden. The dog wanted to play, but the cat ran away fast.',
    'Hi',
  ];
  const cands = [' girl', ' boy', ' little red ball', ' elephant and a tiger'];
  const out = texts.map((t, i) => rankExample(tok, `${t}\nThe story is about a`, i % 2 === 0 ? cands : cands.slice(0, 2)));
  // Hand-made ids too: a one-token prompt (BOS only) and candidates of 1..3 tokens.
  out.push({ promptIds: [1], candidates: [[300], [301, 302], [5, 6, 7]] });
  return out;
}

function maxDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  a.forEach((r, i) => {
    assert.equal(r.length, b[i]!.length);
    r.forEach((x, k) => (m = Math.max(m, Math.abs(x - b[i]![k]!))));
  });
  return m;
}

test('rank scores of the plain model match the unpadded full-logits oracle', async (t) => {
  const examples = testExamples();
  assert.ok(examples.some((e) => e.candidates.some((c) => c.length > 2)), 'some candidate has several tokens');
  const oracle = await oracleScores(null, {}, examples);
  for (const [batchRows, sortByLength, padId] of [[3, false, 0], [4, true, 7], [64, false, 2]] as const) {
    const scorer = await RankScorer.create(model.config, model.weights, null, { batchRows, sortByLength, padId });
    const { scores, predictions } = await scorer.score(examples);
    const err = maxDiff(scores, oracle);
    t.diagnostic(`batchRows=${batchRows} sort=${sortByLength} pad=${padId}: max |Δ| = ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `max |Δ| ${err}`);
    assert.deepEqual(predictions, oracle.map(argmax));
    // Length normalisation divides by the candidate's token count.
    const normalised = new RankScorer(model.config, model.weights, null, { batchRows, lengthNormalize: true });
    const mean = await normalised.score(examples);
    await normalised.release();
    const expected = oracle.map((r, i) => r.map((x, k) => x / examples[i]!.candidates[k]!.length));
    assert.ok(maxDiff(mean.scores, expected) < 1e-4);
    await scorer.release();
  }
});

test('rank scores with prompt tuning (virtual-token offsets) match the oracle', async (t) => {
  const method = promptTuning(model.config, { numVirtualTokens: 4 });
  const pe = tensor('float32', [4, model.config.hiddenSize], random(4 * model.config.hiddenSize, 1234));
  const params = { prompt_embeddings: pe };
  const examples = testExamples();
  const oracle = await oracleScores(method, params, examples);
  const plain = await oracleScores(null, {}, examples);
  assert.ok(maxDiff(oracle, plain) > 1e-2, 'the soft prompt changes the scores');
  const scorer = new RankScorer(model.config, model.weights, method, { batchRows: 5 });
  const { scores } = await scorer.score(examples, params);
  const err = maxDiff(scores, oracle);
  t.diagnostic(`prompt tuning, n=4: max |Δ| = ${err.toExponential(2)}`);
  assert.ok(err < 1e-4, `max |Δ| ${err}`);
  // The session is reused with other params (a second call, params from the options).
  const pe2 = tensor('float32', pe.shape, random(pe.data.length, 99));
  const withDefault = new RankScorer(model.config, model.weights, method, { params: { prompt_embeddings: pe2 } });
  const oracle2 = await oracleScores(method, { prompt_embeddings: pe2 }, examples);
  assert.ok(maxDiff((await withDefault.score(examples)).scores, oracle2) < 1e-4);
  assert.ok(maxDiff((await scorer.score(examples, { prompt_embeddings: pe2 })).scores, oracle2) < 1e-4);
  await scorer.release();
  await withDefault.release();
});

test('packed candidates score like one row per candidate, for every method, every model family and {soft:N} slots', async (t) => {
  for (const dir of [
    STORIES,
    join(GOLDEN, 'tiny-gpt2'),
    join(GOLDEN, 'tiny-gpt-neox'), // partial RoPE
    join(GOLDEN, 'tiny-opt'), // learned positions read from position_ids, not the mask's cumsum
    join(GOLDEN, 'tiny-bloom'), // ALiBi key positions
  ]) {
    const m = loadModelDir(dir);
    const c = m.config;
    const n = 3;
    const cases: [string, PromptMethod | null, boolean][] = [
      ['base model', null, false],
      ['prompt tuning', promptTuning(c, { numVirtualTokens: n }), false],
      ['prompt tuning with slots', promptTuning(c, { numVirtualTokens: n }), true],
      ['p-tuning', pTuning(c, { numVirtualTokens: n, encoderHiddenSize: 8 }), false],
      ['prefix tuning', prefixTuning(c, { numVirtualTokens: n }), false],
      ['multitask prompt tuning', multitaskPromptTuning(c, { numVirtualTokens: n, numTasks: 2, numRanks: 1 }), false],
    ];
    // Prompts of 1..6 tokens, 1..4 candidates of 1..3 tokens each; ids are the same on both vocabularies (512).
    const ids = Array.from(random(200, 7), (x) => 3 + Math.floor(((x + 1) / 2) * 500));
    let k = 0;
    const examples: RankExample[] = [];
    for (let i = 0; i < 9; i++) {
      const P = 1 + (i % 6);
      const promptIds = [1, ...ids.slice(k, (k += P - 1))];
      const candidates = Array.from({ length: 1 + (i % 4) }, (_, j) => ids.slice(k, (k += 1 + ((i + j) % 3))));
      // Slots at the start, mid-prompt and right after the prompt (before the candidates).
      const softAt = [0, Math.floor(P / 2), P];
      examples.push({ promptIds, candidates, softAt, taskId: i % 2 });
    }
    for (const [name, method, softSlots] of cases) {
      const params: Record<string, Tensor> = {};
      (method?.params ?? []).forEach((p, i) => {
        const size = p.shape.reduce((a, b) => a * b, 1);
        params[p.name] = tensor('float32', [...p.shape], random(size, 100 + i).map((x) => x * 0.5));
      });
      const exs = examples.map(({ promptIds, candidates, softAt, taskId }) => ({
        promptIds,
        candidates,
        ...(softSlots ? { softAt } : {}),
        ...(method?.numTasks !== undefined ? { taskId } : {}),
      }));
      const packed = new RankScorer(c, m.weights, method, { softSlots, params, batchRows: 5 });
      const plain = new RankScorer(c, m.weights, method, { softSlots, params, batchRows: 5, packCandidates: false });
      const a = await packed.score(exs);
      const b = await plain.score(exs);
      const err = maxDiff(a.scores, b.scores);
      t.diagnostic(`${c.modelType}, ${name}: max |Δ| packed vs separate rows = ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `${c.modelType}, ${name}: max |Δ| ${err}`);
      assert.deepEqual(a.predictions, b.predictions);
      await packed.release();
      await plain.release();
    }
  }
});

test('packed rows are checked: segments in order, slots inside the shared prompt', () => {
  const method = promptTuning(model.config, { numVirtualTokens: 2 });
  const row = (ids: number[]) => ({
    inputIds: tensor('int64', [1, ids.length], BigInt64Array.from(ids, BigInt)),
    attentionMask: tensor('int64', [1, ids.length], new BigInt64Array(ids.length).fill(1n)),
  });
  assert.throws(() => batchFeeds(method, { ...row([1, 5, 6, 7]), segments: [[0, 0, 2, 2]] }), /blocks must be numbered 1, 2/);
  assert.throws(() => batchFeeds(method, { ...row([1, 5, 6, 7]), segments: [[1, 1, 2, 2]] }), /need a shared prompt/);
  assert.throws(() => batchFeeds(method, { ...row([1, 5, 6, 7]), segments: [[0, 0, 1]] }), /3 segment ids for 4 tokens/);
  assert.throws(() => batchFeeds(method, { ...row([1, 5, 6, 7]), segments: [[0, 0, 1, 1], [0, 1]] }), /segments has 2 rows but the batch has 1/);
  const holed = { ...row([1, 5, 6, 7]), attentionMask: tensor('int64', [1, 4], BigInt64Array.of(1n, 0n, 1n, 1n)) };
  assert.throws(() => batchFeeds(method, { ...holed, segments: [[0, 0, 1, 1]] }), /need right-padded rows/);
  assert.throws(() => batchFeeds(method, { ...row([1, 5, 6, 7]), segments: [[0, 0, 1, 2]], virtualAt: [[0, 3]] }), /inside a packed continuation/);
  // Each block restarts its positions right after the shared part (2 virtual tokens + 2 tokens).
  const feeds = batchFeeds(method, { ...row([1, 5, 6, 7, 8]), segments: [[0, 0, 1, 1, 2]] });
  assert.deepEqual([...feeds['position_ids']!.data].map(Number), [0, 1, 2, 3, 4, 5, 4]);
  assert.deepEqual([...feeds['segment_ids']!.data].map(Number), [0, 0, 0, 0, 1, 1, 2]);
});

test('bad inputs are reported', async () => {
  const method = promptTuning(model.config, { numVirtualTokens: 4 });
  const s = new RankScorer(model.config, model.weights, method);
  await assert.rejects(s.score([{ promptIds: [1], candidates: [[5]] }]), (e: unknown) => e instanceof RankError && /missing param "prompt_embeddings"/.test(e.message));
  await assert.rejects(
    s.score([{ promptIds: [1], candidates: [[5]] }], { prompt_embeddings: tensor('float32', [3, 64], new Float32Array(192)) }),
    (e: unknown) => e instanceof RankError && /shape \[3, 64\]/.test(e.message),
  );
  const p = new RankScorer(model.config, model.weights, null);
  await assert.rejects(p.score([{ promptIds: [], candidates: [[5]] }]), (e: unknown) => e instanceof RankError && /promptIds is empty/.test(e.message));
  await assert.rejects(p.score([{ promptIds: [1], candidates: [] }]), (e: unknown) => e instanceof RankError && /no candidates/.test(e.message));
  await assert.rejects(p.score([{ promptIds: [1], candidates: [[5], []] }]), (e: unknown) => e instanceof RankError && /candidate 1: no tokens/.test(e.message));
  await assert.rejects(p.score([{ promptIds: [1], candidates: [[512]] }]), (e: unknown) => e instanceof RankError && /outside the vocabulary/.test(e.message));
  assert.throws(() => new RankScorer(model.config, model.weights, null, { batchRows: 0 }), RankError);
  assert.deepEqual(await p.score([]), { scores: [], predictions: [] });
  await p.release();
  await s.release();
});

test('rankExample splits a common prompt and keeps each joint encoding', () => {
  const fake = {
    encodeContinuation(_prompt: string, c: string) {
      // Pretend the tokenizer merges the prompt's last token with "x..." continuations.
      return c.startsWith('x') ? { promptIds: [1, 10], continuationIds: [30] } : { promptIds: [1, 10, 11], continuationIds: [20 + c.length] };
    },
  };
  assert.deepEqual(rankExample(fake, 'p', ['ab', 'xy']), { promptIds: [1, 10], candidates: [[11, 22], [30]] });
  const ex = rankExample(tok, 'Once upon a time, there was a little', [' girl', ' boy']);
  assert.equal(ex.promptIds[0], tok.bosTokenId);
  assert.deepEqual(ex.candidates.map((c) => tok.decode(c)), ['girl', 'boy']);
});
