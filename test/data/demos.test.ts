import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DemoSelector, bagCosine } from '../../src/data/demos.ts';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { DataError } from '../../src/data/errors.ts';
import { readAllRecords, type DataRecord } from '../../src/data/readers.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { GPT2_TOKENIZER, SHARED } from '../helpers/paths.ts';

const template = new Template('Review: {text}\nSentiment:');
const verbalizer = new Verbalizer({ negative: ' bad', positive: ' good' });
let gpt2: Tokenizer;
let pool: DataRecord[];

before(async () => {
  gpt2 = await loadTokenizer(GPT2_TOKENIZER);
  pool = (await readAllRecords(join(SHARED, 'datasets', 'sst2', 'validation.jsonl'))).slice(0, 200);
});

describe('DemoSelector', () => {
  test('random: seeded, k distinct, never the query itself', () => {
    const s = new DemoSelector(pool, { k: 4, strategy: 'random', seed: 1, template, verbalizer });
    const q = pool[10]!;
    const a = s.select(q);
    assert.equal(a.length, 4);
    assert.equal(new Set(a).size, 4);
    assert.ok(!a.includes(q));
    assert.deepEqual(new DemoSelector(pool, { k: 4, strategy: 'random', seed: 1, template, verbalizer }).select(q), a);
    assert.notDeepEqual(new DemoSelector(pool, { k: 4, strategy: 'random', seed: 2, template, verbalizer }).select(q), a);
    const small = new DemoSelector(pool.slice(0, 3), { k: 5, strategy: 'random', seed: 0, template, verbalizer });
    assert.equal(small.select(pool[0]!).length, 2);
  });

  test('balanced: round-robin over labels', () => {
    const s = new DemoSelector(pool, { k: 6, strategy: 'balanced', seed: 3, template, verbalizer });
    for (const q of pool.slice(0, 20)) {
      const labels = s.select(q).map((d) => d['label']);
      assert.equal(labels.filter((l) => l === 'positive').length, 3);
      assert.equal(labels.filter((l) => l === 'negative').length, 3);
      assert.notEqual(labels[0], labels[1]);
    }
  });

  test('similar: nearest by bag-of-tokens cosine, nearest last', () => {
    const mk = (text: string, label: string, line: number): DataRecord => ({ text, label, __line: line, __file: 'pool.jsonl' });
    const small = [
      mk('the cat sat on the mat', 'positive', 1),
      mk('stocks fell sharply today', 'negative', 2),
      mk('a cat sat on a mat', 'positive', 3),
      mk('completely unrelated words here', 'negative', 4),
    ];
    const s = new DemoSelector(small, { k: 2, strategy: 'similar', seed: 0, template, verbalizer, tokenizer: gpt2 });
    const q: DataRecord = { text: 'the cat sat on the mat', label: 'positive', __line: 99, __file: 'q.jsonl' };
    const demos = s.select(q);
    assert.deepEqual(
      demos.map((d) => d.__line),
      [3, 1],
    );
    // The query from the pool itself is excluded.
    assert.ok(!s.select(small[0]!).includes(small[0]!));
    assert.throws(() => new DemoSelector(small, { k: 1, strategy: 'similar', seed: 0, template, verbalizer }), /needs a tokenizer/);
    const a = { bag: new Map([[1, 2]]), norm: 2 };
    assert.equal(bagCosine(a, a), 1);
    assert.equal(bagCosine(a, { bag: new Map([[2, 1]]), norm: 1 }), 0);
  });

  test('format and encode with demonstrations (never truncated)', () => {
    const mk = (text: string, label: string, line: number): DataRecord => ({ text, label, __line: line });
    const demos = [mk('great film', 'positive', 1), mk('awful plot', 'negative', 2)];
    const s = new DemoSelector(demos, { k: 2, strategy: 'random', seed: 0, template, verbalizer });
    assert.equal(s.format(demos), 'Review: great film\nSentiment: good\n\nReview: awful plot\nSentiment: bad\n\n');
    const q = mk('word '.repeat(300), 'positive', 3);
    const prefix = s.prefixFor(q);
    assert.equal(prefix.split('\n\n').length, 3);
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: gpt2, maxLength: 64 });
    const e = enc.encode(q, prefix);
    assert.equal(e.truncated, true);
    assert.ok(e.promptIds.length + 1 <= 64);
    const text = gpt2.decode(e.promptIds);
    assert.ok(text.startsWith(prefix), text);
    assert.ok(text.endsWith('\nSentiment:'));
    assert.deepEqual(e.targetIds, gpt2.encodeContinuation(text, ' good').continuationIds);
  });

  test('a pool record without a verbalized label fails at construction', () => {
    assert.throws(
      () => new DemoSelector([{ text: 'x', label: 'neutral', __line: 4, __file: 'p.jsonl' }], { k: 1, strategy: 'random', seed: 0, template, verbalizer }),
      (e: unknown) => e instanceof DataError && e.line === 4 && /label "neutral" has no verbalizer entry/.test(e.message),
    );
    assert.throws(() => new DemoSelector([], { k: 1, strategy: 'random', seed: 0, template, verbalizer }), /pool is empty/);
  });
});
