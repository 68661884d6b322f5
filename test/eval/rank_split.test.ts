/**
 * Hardening (issue 16, item 2): many labels no longer go into one packed row past the model's
 * context (memory grew with the square of the label count); packed rows are split to fit and
 * score exactly as one row per candidate.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { packCandidateRows, RankScorer } from '../../src/eval/rank.ts';
import type { RankExample } from '../../src/eval/rank.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { STORIES } from '../helpers/paths.ts';

let model: ModelDir;
before(() => {
  model = loadModelDir(STORIES);
});

test('packCandidateRows keeps every row within the limit, in order, each candidate once', () => {
  const lengths = Array.from({ length: 1000 }, (_, i) => 1 + (i % 4));
  const rows = packCandidateRows(20, lengths, 512);
  assert.ok(rows.length > 1);
  assert.deepEqual(rows.flat(), lengths.map((_, i) => i));
  for (const r of rows) assert.ok(20 + r.reduce((s, k) => s + lengths[k]!, 0) <= 512);
  // A candidate too long even alone still gets its own row (the encoder refuses such examples first).
  assert.deepEqual(packCandidateRows(10, [3, 600, 2], 512), [[0], [1], [2]]);
  assert.deepEqual(packCandidateRows(10, [1, 2, 3], 512), [[0, 1, 2]]);
});

test('300 labels past the context score as one row per candidate', async () => {
  const V = model.config.vocabSize;
  const candidates = Array.from({ length: 300 }, (_, i) => [1 + ((i * 7) % (V - 1)), 1 + ((i * 13 + 5) % (V - 1))]);
  const ex: RankExample = { promptIds: [1, 300, 301, 302, 303, 304, 305, 306], candidates };
  assert.ok(8 + 600 > model.config.maxPositions);
  const packed = new RankScorer(model.config, model.weights, null, { batchRows: 64 });
  const plain = new RankScorer(model.config, model.weights, null, { batchRows: 64, packCandidates: false });
  try {
    const a = await packed.score([ex]);
    const b = await plain.score([ex]);
    assert.equal(a.scores[0]!.length, 300);
    for (let k = 0; k < 300; k++) assert.ok(Math.abs(a.scores[0]![k]! - b.scores[0]![k]!) < 1e-4, `candidate ${k}: ${a.scores[0]![k]} vs ${b.scores[0]![k]}`);
  } finally {
    await packed.release();
    await plain.release();
  }
});
