import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { bucketBatches, collatePrompts, collateTrain, padIdOf, paddingOf, type PromptTarget } from '../../src/data/collate.ts';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { DataError } from '../../src/data/errors.ts';
import { readAllRecords } from '../../src/data/readers.ts';
import { createRng } from '../../src/data/rng.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { IGNORE_INDEX, batchFeeds } from '../../src/methods/batch.ts';
import { FEEDS } from '../../src/methods/program.ts';
import { loadTokenizer } from '../../src/tokenizer/index.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const nums = (a: BigInt64Array): number[] => Array.from(a, Number);

describe('collateTrain', () => {
  test('prompt ++ target, labels only on the target, right padding, mask', () => {
    const batch = collateTrain(
      [
        { promptIds: [1, 5, 6], targetIds: [7, 8] },
        { promptIds: [1, 9], targetIds: [10] },
      ],
      { padId: 0 },
    );
    assert.deepEqual(batch.inputIds.shape, [2, 5]);
    assert.deepEqual(nums(batch.inputIds.data), [1, 5, 6, 7, 8, 1, 9, 10, 0, 0]);
    assert.deepEqual(nums(batch.attentionMask.data), [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const I = IGNORE_INDEX;
    assert.deepEqual(nums(batch.labels!.data), [I, I, I, 7, 8, I, I, 10, I, I]);
    // What the loss sees through batchFeeds: the logit before each answer token predicts it.
    const feeds = batchFeeds(null, batch);
    assert.deepEqual(nums(feeds[FEEDS.lossTargets]!.data as BigInt64Array), [7, 8, 10]);
    assert.deepEqual(nums(feeds[FEEDS.lossPositions]!.data as BigInt64Array), [2, 3, 6]);
  });

  test('padTo, empty batch, unlabelled example, pad id choice', () => {
    assert.deepEqual(collateTrain([{ promptIds: [1], targetIds: [2] }], { padId: 3, padTo: 4 }).inputIds.shape, [1, 4]);
    assert.throws(() => collateTrain([], { padId: 0 }), DataError);
    assert.throws(() => collateTrain([{ promptIds: [1], targetIds: [] }], { padId: 0 }), /no target ids/);
    assert.equal(padIdOf({ padTokenId: 5, eosTokenId: 2 }), 5);
    assert.equal(padIdOf({ padTokenId: undefined, eosTokenId: 2 }), 2);
    assert.equal(padIdOf({ padTokenId: undefined, eosTokenId: undefined }), 0);
    const p = collatePrompts([[1, 2, 3], [4]], { padId: 9 });
    assert.deepEqual(nums(p.inputIds.data), [1, 2, 3, 4, 9, 9]);
    assert.deepEqual(nums(p.attentionMask.data), [1, 1, 1, 1, 0, 0]);
    assert.equal(p.labels, undefined);
  });
});

describe('bucketBatches', () => {
  const items: PromptTarget[] = Array.from({ length: 1003 }, (_, i) => ({
    promptIds: Array.from({ length: 5 + ((i * 7919) % 200) }, () => i),
    targetIds: [i],
  }));

  test('every example exactly once, seeded, less padding than random batches', () => {
    const batches = bucketBatches(items, 16, createRng(1), { chunkBatches: 20 });
    const seen = batches.flat();
    assert.equal(seen.length, items.length);
    assert.equal(new Set(seen).size, items.length);
    assert.ok(batches.every((b) => b.length >= 1 && b.length <= 16));
    assert.deepEqual(
      bucketBatches(items, 16, createRng(1), { chunkBatches: 20 }).map((b) => b.map((x) => x.targetIds[0])),
      batches.map((b) => b.map((x) => x.targetIds[0])),
    );
    assert.notDeepEqual(
      bucketBatches(items, 16, createRng(2), { chunkBatches: 20 }).map((b) => b.map((x) => x.targetIds[0])),
      batches.map((b) => b.map((x) => x.targetIds[0])),
    );
    const random = bucketBatches(items, 16, createRng(1), { chunkBatches: 1 }); // chunk = one batch: no sorting across
    assert.ok(paddingOf(batches) * 5 < paddingOf(random), `${paddingOf(batches)} vs ${paddingOf(random)}`);
    const custom = bucketBatches(['aaa', 'b', 'cc'], 2, createRng(0), { lengthOf: (s: string) => s.length });
    assert.deepEqual(custom.flat().sort(), ['aaa', 'b', 'cc']);
    assert.throws(() => bucketBatches(items, 0, createRng(0)), RangeError);
  });

  test('story_gender end to end: encode, bucket, collate', async () => {
    const tok = await loadTokenizer(STORIES);
    const records = await readAllRecords(join(SHARED, 'datasets', 'story_gender', 'validation.jsonl'));
    const enc = new ExampleEncoder({ template: new Template('{text}\nThe story is about a'), verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy' }), tokenizer: tok, maxLength: 512 });
    const examples = records.map((r) => enc.encode(r));
    const batches = bucketBatches(examples, 8, createRng(0));
    assert.equal(batches.flat().length, 400);
    const batch = collateTrain(batches[0]!, { padId: padIdOf(tok) });
    const [B, T] = batch.inputIds.shape as [number, number];
    assert.equal(B, 8);
    let counted = 0;
    for (const y of batch.labels!.data) if (y !== BigInt(IGNORE_INDEX)) counted++;
    assert.equal(counted, 8 * 3); // " girl" and " boy" are 3 tokens each with stories260K
    assert.ok(T <= 512);
  });
});
