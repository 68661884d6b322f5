import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExampleEncoder, Template, Verbalizer } from '../../src/data/index.ts';
import type { EncodedExample } from '../../src/data/index.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { TrainSource } from '../../src/train/source.ts';
import { STORIES } from '../helpers/paths.ts';

const tok = await loadTokenizer(STORIES);
const dir = mkdtempSync(join(tmpdir(), 'sp-source-'));
const encoder = new ExampleEncoder({ template: new Template('{text} is'), verbalizer: Verbalizer.fromJson('{"a":" yes","b":" no"}'), tokenizer: tok, maxLength: 512, truncateField: 'text' });

function dataset(n: number, name = `d${n}.jsonl`): string {
  const file = join(dir, name);
  // Lengths vary so bucketing has something to sort; the text says which record it is.
  const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ text: `story ${i}${' and then'.repeat(i % 7)}`, label: i % 3 ? 'a' : 'b' }));
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
const idOf = (e: EncodedExample): number => e.line!;
async function epoch(src: TrainSource, e: number, skip = 0): Promise<number[][]> {
  const out: number[][] = [];
  for await (const b of src.batches(e, skip)) out.push(b.map(idOf));
  return out;
}

test('a file that fits the buffer is shuffled uniformly per epoch: every example once, order set by (seed, epoch) alone', async () => {
  const file = dataset(50);
  const src = new TrainSource({ file, encoder, batchSize: 8, seed: 3 });
  // The longest example, in prompt + target tokens, counted over one epoch's batches.
  let longest = 0;
  for await (const batch of src.batches(0, 0)) for (const e of batch) longest = Math.max(longest, e.promptIds.length + e.targetIds.length);
  assert.deepEqual(await src.stats(), { examples: 50, batchesPerEpoch: 7, truncated: 0, longest });
  const e0 = await epoch(src, 0);
  assert.deepEqual(e0.map((b) => b.length), [8, 8, 8, 8, 8, 8, 2]);
  assert.deepEqual(e0.flat().sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.notDeepEqual(e0.flat(), Array.from({ length: 50 }, (_, i) => i + 1), 'shuffled');
  assert.deepEqual(await epoch(new TrainSource({ file, encoder, batchSize: 8, seed: 3 }), 0), e0, 'a new process regenerates the same order');
  assert.notDeepEqual(await epoch(src, 1), e0, 'each epoch has its own order');
  assert.notDeepEqual(await epoch(new TrainSource({ file, encoder, batchSize: 8, seed: 4 }), 0), e0, 'the seed changes it');
});

test('skipping k batches gives exactly the rest of the epoch (how resume re-enters it)', async () => {
  const src = new TrainSource({ file: dataset(50), encoder, batchSize: 8, seed: 1, bucket: true, bucketWindow: 2 });
  for (const e of [0, 2]) {
    const all = await epoch(src, e);
    assert.deepEqual(await epoch(src, e, 3), all.slice(3));
    assert.deepEqual(await epoch(src, e, 7), []);
  }
});

test('a file bigger than the shuffle buffer streams: every example exactly once, mixed beyond the buffer', async () => {
  const src = new TrainSource({ file: dataset(300, 'big.jsonl'), encoder, batchSize: 16, seed: 9, shuffleBuffer: 32 });
  const flat = (await epoch(src, 0)).flat();
  assert.equal(flat.length, 300);
  assert.equal(new Set(flat).size, 300);
  const displaced = flat.filter((id, pos) => Math.abs(id - 1 - pos) > 8).length;
  assert.ok(displaced > 150, `the buffer mixes the stream (${displaced} of 300 moved more than 8 places)`);
  assert.ok(flat.slice(0, 32).every((id) => id <= 64), 'yet nothing comes out long before it was read (streaming, not a whole-file shuffle)');
});

test('bucketing batches similar lengths and still yields every example once', async () => {
  const src = new TrainSource({ file: dataset(64, 'b.jsonl'), encoder, batchSize: 8, seed: 2, bucket: true, bucketWindow: 8 });
  const batches: EncodedExample[][] = [];
  for await (const b of src.batches(0)) batches.push(b);
  assert.equal(new Set(batches.flat().map(idOf)).size, 64);
  const spread = (b: EncodedExample[]): number => Math.max(...b.map((e) => e.promptIds.length)) - Math.min(...b.map((e) => e.promptIds.length));
  const plain = new TrainSource({ file: dataset(64, 'b.jsonl'), encoder, batchSize: 8, seed: 2 });
  const plainBatches: EncodedExample[][] = [];
  for await (const b of plain.batches(0)) plainBatches.push(b);
  const sum = (bs: EncodedExample[][]): number => bs.reduce((s, b) => s + spread(b), 0);
  assert.ok(sum(batches) < sum(plainBatches) / 2, `bucketed padding spread ${sum(batches)} vs shuffled ${sum(plainBatches)}`);
});

test('--max-train-examples takes the first N records; errors name the file and line', async () => {
  const src = new TrainSource({ file: dataset(50), encoder, batchSize: 4, seed: 0, maxExamples: 10 });
  assert.equal((await src.stats()).examples, 10);
  assert.deepEqual((await epoch(src, 0)).flat().sort((a, b) => a - b), Array.from({ length: 10 }, (_, i) => i + 1));

  const empty = join(dir, 'empty.jsonl');
  writeFileSync(empty, '');
  await assert.rejects(new TrainSource({ file: empty, encoder, batchSize: 4, seed: 0 }).stats(), (e: Error) => e.message.includes(empty) && /empty/.test(e.message));

  const unlabelled = join(dir, 'nolabel.jsonl');
  writeFileSync(unlabelled, '{"text":"x","label":"a"}\n{"text":"y"}\n');
  await assert.rejects(new TrainSource({ file: unlabelled, encoder, batchSize: 4, seed: 0 }).stats(), (e: Error) => e.message.includes(`${unlabelled}:2`) && /label/.test(e.message));

  const unknown = join(dir, 'unknown.jsonl');
  writeFileSync(unknown, '{"text":"x","label":"a"}\n{"text":"y","label":"c"}\n');
  await assert.rejects(new TrainSource({ file: unknown, encoder, batchSize: 4, seed: 0 }).stats(), (e: Error) => e.message.includes(`${unknown}:2`) && /"c"/.test(e.message) && /verbalizer/.test(e.message));
});
