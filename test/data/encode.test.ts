import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { DataError } from '../../src/data/errors.ts';
import { readAllRecords, type DataRecord } from '../../src/data/readers.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { GPT2_TOKENIZER, SHARED, STORIES } from '../helpers/paths.ts';

let stories: Tokenizer;
let gpt2: Tokenizer;
let train: DataRecord[];
let tmp: string;
const template = new Template('{text}\nThe story is about a');
const verbalizer = new Verbalizer({ girl: ' girl', boy: ' boy' });

before(async () => {
  stories = await loadTokenizer(STORIES);
  gpt2 = await loadTokenizer(GPT2_TOKENIZER);
  train = await readAllRecords(join(SHARED, 'datasets', 'story_gender', 'train.jsonl'));
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-enc-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('Verbalizer', () => {
  test('continuations are tokenized after the prompt', () => {
    // Tokenized alone, " girl" is [410 ("▁"), 298, 315, 421]; after the prompt it is [298, 315, 421].
    assert.deepEqual(stories.encode(' girl', { addSpecialTokens: false }), [410, 298, 315, 421]);
    const v = verbalizer.encode(stories, 'The story is about a');
    assert.deepEqual(v.candidates, [
      [298, 315, 421],
      [268, 414, 422],
    ]);
    assert.deepEqual(v.promptIds, stories.encode('The story is about a'));
    assert.deepEqual(v.promptIds.concat(v.candidates[0]!), stories.encode('The story is about a girl'));
    const g = verbalizer.encode(gpt2, 'The story is about a');
    assert.deepEqual(g.candidates, [[2576], [2933]]);
  });

  test('labels, lookup and errors', async () => {
    assert.deepEqual(verbalizer.labels, ['girl', 'boy']);
    const r: DataRecord = { text: 'x', label: 'cat', __line: 12, __file: 'f.jsonl' };
    assert.throws(
      () => verbalizer.continuation('cat', r),
      (e: unknown) => e instanceof DataError && e.field === 'cat' && e.line === 12 && e.message.startsWith('f.jsonl:12: label "cat" has no verbalizer entry') && /girl, boy/.test(e.message),
    );
    assert.throws(() => Verbalizer.fromJson('{"girl": " girl",}', 'v.json'), (e: unknown) => e instanceof DataError && e.file === 'v.json' && /not valid JSON/.test(e.message));
    assert.throws(() => Verbalizer.fromJson('[" girl"]'), /must be a JSON object/);
    assert.throws(() => Verbalizer.fromJson('{"girl": 1}'), /must be a string/);
    assert.throws(() => Verbalizer.fromJson('{"girl": ""}'), /is empty/);
    assert.throws(() => Verbalizer.fromJson('{}'), /no labels/);
    const path = join(tmp, 'verbalizer.json');
    writeFileSync(path, '{"negative": " terrible", "positive": " great"}');
    const v = await Verbalizer.fromFile(path);
    assert.equal(v.continuation('positive'), ' great');
    await assert.rejects(Verbalizer.fromFile(join(tmp, 'missing.json')), (e: unknown) => e instanceof DataError && /no such verbalizer file/.test(e.message));
  });
});

describe('ExampleEncoder on story_gender', () => {
  test('stories260K: exact ids of the first training example', () => {
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 512 });
    const first = train[0]!;
    const e = enc.encode(first);
    assert.equal(e.label, 'boy');
    assert.equal(e.labelIndex, 1);
    assert.deepEqual(e.targetIds, [268, 414, 422]);
    assert.deepEqual(e.candidates, [
      [298, 315, 421],
      [268, 414, 422],
    ]);
    assert.equal(e.truncated, false);
    assert.equal(e.line, 1);
    assert.deepEqual(e.promptIds, stories.encode(`${String(first['text'])}\nThe story is about a`));
    assert.equal(e.promptIds[0], stories.bosTokenId);
    // The joint sequence equals tokenizing the whole sentence with its answer.
    assert.deepEqual([...e.promptIds, ...e.targetIds], stories.encode(`${String(first['text'])}\nThe story is about a boy`));
  });

  test('gpt2: single-token answers, no BOS', () => {
    const e = new ExampleEncoder({ template, verbalizer, tokenizer: gpt2, maxLength: 1024 }).encode(train[0]!);
    assert.deepEqual(e.candidates, [[2576], [2933]]);
    assert.deepEqual(e.targetIds, [2933]);
    assert.deepEqual(e.promptIds, gpt2.encode(`${String(train[0]!['text'])}\nThe story is about a`));
  });

  test('every training example encodes and fits', () => {
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 512 });
    for (const r of train.slice(0, 200)) {
      const e = enc.encode(r);
      assert.equal(e.candidates[e.labelIndex], e.candidates[e.labelIndex]);
      assert.deepEqual(e.targetIds, e.candidates[verbalizer.labels.indexOf(String(r['label']))]);
      assert.equal(e.truncated, false);
    }
  });

  test('over-long input: only the input field is cut, by tokens, to fit exactly', () => {
    for (const tokenizer of [stories, gpt2]) {
      const maxLength = 30;
      const enc = new ExampleEncoder({ template, verbalizer, tokenizer, maxLength });
      const r = train[0]!;
      const e = enc.encode(r);
      assert.equal(e.truncated, true);
      const longest = Math.max(...e.candidates.map((c) => c.length));
      assert.ok(e.promptIds.length + longest <= maxLength);
      // The cut is tight: one more token of the field would not fit (within a token of slack for merges).
      assert.ok(e.promptIds.length + longest >= maxLength - 1, `${e.promptIds.length} + ${longest}`);
      const text = tokenizer.decode(e.promptIds, { skipSpecialTokens: true });
      assert.ok(text.endsWith('\nThe story is about a'), JSON.stringify(text));
      const kept = text.slice(0, -'\nThe story is about a'.length).trimStart();
      assert.ok(String(r['text']).startsWith(kept), JSON.stringify(kept));
      assert.ok(kept.length > 10);
      assert.deepEqual(e.targetIds, e.candidates[1]);
    }
  });

  test('template alone too long: DataError with both numbers', () => {
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 8 });
    assert.throws(
      () => enc.encode(train[0]!),
      (e: unknown) => e instanceof DataError && e.line === 1 && /template alone is 17 tokens \(prompt 14 \+ longest answer 3, with "text" empty\), longer than the context 8/.test(e.message),
    );
    // With demonstrations in front, the message says so.
    const enc2 = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 20 });
    assert.throws(() => enc2.encode(train[0]!, 'A very long demonstration that does not fit.\n\n'), /template with its demonstrations is \d+ tokens/);
  });

  test('truncation field choice, labels, unlabelled records', () => {
    const pair = new Template('{premise}\nQuestion: {hypothesis} True or False?');
    const v = new Verbalizer({ entailment: ' True', not_entailment: ' False' });
    const r: DataRecord = { premise: 'word '.repeat(100).trim(), hypothesis: 'The sky is blue.', label: 'entailment', __line: 3 };
    const e = new ExampleEncoder({ template: pair, verbalizer: v, tokenizer: gpt2, maxLength: 40, truncateField: 'premise' }).encode(r);
    assert.equal(e.truncated, true);
    assert.match(gpt2.decode(e.promptIds), /\nQuestion: The sky is blue\. True or False\?$/);
    assert.throws(() => new ExampleEncoder({ template: pair, verbalizer: v, tokenizer: gpt2, maxLength: 40, truncateField: 'text' }), /not a slot of the template/);

    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 512 });
    assert.throws(() => enc.encode({ text: 'a', __line: 5, __file: 'u.jsonl' }), (err: unknown) => err instanceof DataError && /u\.jsonl:5: record has no label field "label"/.test(err.message));
    assert.throws(() => enc.encode({ text: 'a', label: 'dog', __line: 6 }), (err: unknown) => err instanceof DataError && err.field === 'label' && err.line === 6 && /label field "label" holds "dog", which has no verbalizer entry/.test(err.message));
    assert.throws(() => enc.encode({ story: 'a', label: 'boy', __line: 9 }), (err: unknown) => err instanceof DataError && err.field === 'text' && err.line === 9);
    const unl = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 512, allowUnlabelled: true }).encode({ text: 'a', __line: 1 });
    assert.equal(unl.label, null);
    assert.equal(unl.labelIndex, -1);
    assert.deepEqual(unl.targetIds, []);
    assert.equal(unl.candidates.length, 2);
  });
});

describe('ExampleEncoder with tasks', () => {
  const tasks = ['gender', 'sentiment'];
  const taskPrompts = new Map([
    ['sentiment', { template: new Template('{text}\nIt was'), verbalizer: new Verbalizer({ negative: ' bad', positive: ' good' }, 'sent.json') }],
  ]);
  test("a task's own template and verbalizer give its prompt, candidates and labels; others use the shared ones", () => {
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 200, tasks, taskField: 'task', taskPrompts });
    const s = enc.encode({ text: 'A dull film.', label: 'negative', task: 'sentiment', __line: 1 });
    assert.equal(s.taskId, 1);
    assert.deepEqual(s.labels, ['negative', 'positive']);
    assert.equal(s.labelIndex, 0);
    const own = new Verbalizer({ negative: ' bad', positive: ' good' }).encode(stories, 'A dull film.\nIt was');
    assert.deepEqual(s.promptIds, own.promptIds);
    assert.deepEqual(s.candidates, own.candidates);
    const g = enc.encode({ text: 'Lily ran.', label: 'girl', task: 'gender', __line: 2 });
    assert.equal(g.taskId, 0);
    assert.equal(g.labels, undefined);
    assert.deepEqual(g.promptIds, verbalizer.encode(stories, 'Lily ran.\nThe story is about a').promptIds);
  });

  test("a label of another task, an unknown task and a prompt for an unknown task are errors naming what is wrong", () => {
    const enc = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 200, tasks, taskField: 'task', taskPrompts });
    assert.throws(
      () => enc.encode({ text: 'x', label: 'girl', task: 'sentiment', __line: 7, __file: 'mix.jsonl' }),
      (e: unknown) => e instanceof DataError && /mix\.jsonl:7/.test(e.message) && /holds "girl", which has no verbalizer entry; the verbalizer \(sent\.json\) has: negative, positive/.test(e.message),
    );
    assert.throws(
      () => enc.encode({ text: 'x', label: 'girl', task: 'weather', __line: 8, __file: 'mix.jsonl' }),
      (e: unknown) => e instanceof DataError && /mix\.jsonl:8/.test(e.message) && /task field "task" holds "weather", which is not one of the tasks: gender, sentiment/.test(e.message),
    );
    assert.throws(
      () => new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 200, tasks: ['gender'], taskField: 'task', taskPrompts }),
      /given for task "sentiment", which is not one of the tasks: gender/,
    );
  });
});

describe('{soft:N} slot positions', () => {
  test('slots sit at the token boundary where the text before them ends; the prompt ids are the hard prompt\'s (GPT-2 and sentencepiece)', () => {
    for (const tok of [gpt2, stories]) {
      const t = new Template('{text}{soft:2}\nThe story is about{soft:1} a');
      const enc = new ExampleEncoder({ template: t, verbalizer, tokenizer: tok, maxLength: 200 });
      const e = enc.encode({ text: 'Lily ran home.', label: 'girl', __line: 1 });
      assert.deepEqual(e.promptIds, verbalizer.encode(tok, 'Lily ran home.\nThe story is about a').promptIds);
      const k1 = tok.encode('Lily ran home.').length;
      const k2 = tok.encode('Lily ran home.\nThe story is about').length;
      assert.deepEqual(e.softAt, [k1, k1, k2]);
      assert.deepEqual(e.promptIds.slice(0, k1), tok.encode('Lily ran home.'));
    }
  });

  test('a slot inside what the tokenizer merges moves after the merged token; a slot at the start goes first', () => {
    // GPT-2 encodes "cats" as one token: a slot between "cat" and "s" cannot split it.
    assert.equal(gpt2.encode('cats').length, 1);
    const mid = new ExampleEncoder({ template: new Template('{text}{soft:1}s are'), verbalizer, tokenizer: gpt2, maxLength: 200 });
    const e = mid.encode({ text: 'cat', label: 'boy', __line: 1 });
    assert.deepEqual(e.promptIds, verbalizer.encode(gpt2, 'cats are').promptIds);
    assert.deepEqual(e.softAt, [0]);
    const start = new ExampleEncoder({ template: new Template('{soft:3}{text} is'), verbalizer, tokenizer: stories, maxLength: 200 });
    assert.deepEqual(start.encode({ text: 'Tom', label: 'boy', __line: 1 }).softAt, [0, 0, 0]);
  });
});
