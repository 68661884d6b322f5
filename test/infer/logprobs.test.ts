/** Token log-probabilities: the score graph's outputs, one logits row's, OpenAI's penalties, and text offsets. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadModel } from '../../src/cli/eval.ts';
import { buildScoreGraph, rowLogprob, SCORE, tokenOffsets } from '../../src/infer/logprobs.ts';
import { Sampler } from '../../src/infer/sampling.ts';
import { STORIES } from '../helpers/paths.ts';

describe('log-probabilities', () => {
  test('the score graph returns [B, S] and [B, S, k] only: no output has the vocabulary as a dimension', async () => {
    const model = await loadModel(STORIES);
    const g = buildScoreGraph(model.config, model.weights);
    const shapes = Object.fromEntries(g.outputs.map((o) => [o.name, o.shape]));
    assert.deepEqual(shapes, { [SCORE.tokenLogprobs]: ['B', 'S'], [SCORE.topLogprobs]: ['B', 'S', 'K'], [SCORE.topIds]: ['B', 'S', 'K'] });
    assert.ok(g.nodes.some((n) => n.op === 'TopK') && g.nodes.some((n) => n.op === 'ReduceLogSumExp'));
  });

  test('rowLogprob: the log-softmax of the chosen token and the k best, best first, the lower id on ties', () => {
    const row = Float32Array.from([7, 1, 3, 3, 2, 0]); // offset 1: logits [1, 3, 3, 2, 0]
    const lse = Math.log([1, 3, 3, 2, 0].reduce((s, x) => s + Math.exp(x), 0));
    const r = rowLogprob(row, 1, 5, 3, 3);
    assert.ok(Math.abs(r.logprob - (2 - lse)) < 1e-6);
    assert.deepEqual(r.top.map((t) => t.id), [1, 2, 3]);
    assert.ok(Math.abs(r.top[0]!.logprob - (3 - lse)) < 1e-6);
    assert.deepEqual(rowLogprob(row, 1, 5, 0, 0).top, []);
  });

  test("penalties and logit_bias as OpenAI defines them: logit - count·frequency - (count > 0)·presence + bias", () => {
    const logits = Float32Array.from([3, 1.6, 0]);
    const greedy = (o: object, seen: number[]): number => {
      const s = new Sampler({ maxNewTokens: 1, ...o });
      for (const id of seen) s.observe(id);
      return s.next(logits, 0, 3);
    };
    assert.equal(greedy({ frequencyPenalty: 0.6 }, [0, 0]), 0); // 3 - 1.2 = 1.8 > 1.6
    assert.equal(greedy({ frequencyPenalty: 0.8 }, [0, 0]), 1); // 3 - 1.6 = 1.4 < 1.6
    assert.equal(greedy({ presencePenalty: 1.3 }, [0, 0, 0]), 0); // once: 1.7 > 1.6
    assert.equal(greedy({ presencePenalty: 1.5 }, [0]), 1);
    assert.equal(greedy({ logitBias: { 2: 3.5 } }, []), 2);
    assert.equal(greedy({ logitBias: { 0: -100 } }, []), 1);
    assert.deepEqual(Array.from(logits), [3, 1.6000000238418579, 0], "the caller's logits stay the model's");
  });

  test('tokenOffsets: offsets in characters, a character split across byte tokens goes to the token that completes it', () => {
    // A byte-level "tokenizer": each id is one UTF-8 byte.
    const bytes = [...Buffer.from('a☃b é', 'utf8')];
    const decode = (ids: readonly number[]): string => Buffer.from(ids.map((i) => i)).toString('utf8');
    const r = tokenOffsets(decode, bytes);
    assert.equal(r.text, 'a☃b é');
    assert.deepEqual(r.pieces, ['a', '', '', '☃', 'b', ' ', '', 'é']);
    assert.deepEqual(r.offsets, [0, 1, 1, 1, 2, 3, 4, 4]);
    assert.equal(r.pieces.join(''), r.text);
    // With context before the ids, offsets count from the first id's text; alternatives read in place.
    const c = tokenOffsets(decode, bytes.slice(1, 4), [bytes[0]!], [null, null, [0x41]]);
    assert.deepEqual(c.pieces, ['', '', '☃']);
    assert.deepEqual(c.alternatives, [null, null, ['A']]);
  });

  test('tokenOffsets stays linear on a long text (anchors), and agrees with decoding every prefix', () => {
    const text = 'Once upon a time ☃ there was é. '.repeat(30);
    const ids = [...Buffer.from(text, 'utf8')];
    let calls = 0;
    const decode = (x: readonly number[]): string => {
      calls += x.length;
      return Buffer.from([...x]).toString('utf8');
    };
    const r = tokenOffsets(decode, ids);
    assert.equal(r.pieces.join(''), text);
    ids.forEach((_, i) => {
      const p = Buffer.from(ids.slice(0, i)).toString('utf8').replace(/\uFFFD+$/, '');
      assert.equal(r.offsets[i], p.length, `offset ${i}`);
    });
    assert.ok(calls < 200 * ids.length, `decoded ${calls} ids for ${ids.length} (quadratic would be ${(ids.length * ids.length) / 2})`);
  });
});
