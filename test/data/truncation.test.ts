/**
 * Hardening (issue 16, item 1): truncation tokenizes the field once and cuts by token ids.
 * Oracle: the previous algorithm (a binary search re-rendering the whole record per candidate
 * length), copied here, must give identical ids on normal inputs; the work is bounded by
 * counting the characters handed to the tokenizer (not by timing).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { DataError } from '../../src/data/errors.ts';
import { readAllRecords, type DataRecord } from '../../src/data/readers.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer, type VerbalizedPrompt } from '../../src/data/verbalizer.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { GPT2_TOKENIZER, SHARED, STORIES } from '../helpers/paths.ts';

let stories: Tokenizer;
let gpt2: Tokenizer;
let records: DataRecord[];

before(async () => {
  stories = await loadTokenizer(STORIES);
  gpt2 = await loadTokenizer(GPT2_TOKENIZER);
  records = (await readAllRecords(join(SHARED, 'datasets', 'story_gender', 'train.jsonl'))).slice(0, 40);
});

/** Verbalizer.encode as it was: each label tokenized with the whole prompt (encodeContinuation). */
function oldVerbalize(verbalizer: Verbalizer, tok: Tokenizer, prompt: string): VerbalizedPrompt {
  const encs = verbalizer.labels.map((l) => tok.encodeContinuation(prompt, verbalizer.continuation(l)));
  const joint = encs.map((e) => [...e.promptIds, ...e.continuationIds]);
  const promptIds = encs.reduce((a, e) => (e.promptIds.length < a.length ? e.promptIds : a), encs[0]!.promptIds);
  return { promptIds, candidates: joint.map((ids) => ids.slice(promptIds.length)) };
}

/** The truncation as it was before issue 16: binary search over the whole field's token count, every label at every step. */
function oldEncode(record: DataRecord, template: Template, verbalizer: Verbalizer, tok: Tokenizer, maxLength: number, capped = false): VerbalizedPrompt {
  const longest = (c: readonly number[][]): number => Math.max(0, ...c.map((x) => x.length));
  const fits = (v: VerbalizedPrompt): boolean => v.promptIds.length + longest(v.candidates) <= maxLength;
  const encodeWith = (o: Record<string, string>): VerbalizedPrompt => oldVerbalize(verbalizer, tok, template.renderWithSlots(record, o).text);
  // capped: the version between (a field over 2·context + 16 tokens is known not to fit, and only
  // that many of its tokens are searched); the same cut, at a cost linear in the field.
  const cap = 2 * maxLength + 16;
  const field = template.fields[0]!;
  const ids = tok.encode(template.fieldValue(record, field), { addSpecialTokens: false });
  if (!capped || ids.length <= cap) {
    const enc = encodeWith({});
    if (fits(enc)) return enc;
  }
  const empty = encodeWith({ [field]: '' });
  if (!fits(empty)) throw new Error('does not fit');
  const textOf = (k: number): string => (k === 0 ? '' : tok.decode(ids.slice(0, k)).replace(/\uFFFD+$/, ''));
  let lo = 0;
  let hi = capped ? Math.min(ids.length, cap) : ids.length;
  let best = empty;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const e = encodeWith({ [field]: textOf(mid) });
    if (fits(e)) {
      lo = mid;
      best = e;
    } else hi = mid - 1;
  }
  return lo === 0 ? empty : best;
}

test('the cut equals the old binary search on many inputs (two tokenizers, many context lengths)', () => {
  const template = new Template('Story: {text}\nThe story is about a');
  const verbalizer = new Verbalizer({ girl: ' girl', boy: ' boy' });
  let compared = 0;
  let cut = 0;
  for (const tok of [gpt2, stories]) {
    for (const [i, r] of records.entries()) {
      // Short contexts cut most records; a long field (the record repeated) goes past the cap.
      const rec = i % 5 === 0 ? { ...r, text: String(r['text']).repeat(12) } : r;
      for (const maxLength of [12, 17, 24, 33, 48, 64, 200]) {
        const enc = new ExampleEncoder({ template, verbalizer, tokenizer: tok, maxLength });
        let want: VerbalizedPrompt;
        try {
          want = oldEncode(rec, template, verbalizer, tok, maxLength);
        } catch {
          continue;
        }
        const got = enc.encode(rec);
        assert.deepEqual(got.promptIds, want.promptIds, `record ${i}, maxLength ${maxLength}`);
        compared++;
        if (got.truncated) cut++;
      }
    }
  }
  assert.ok(compared > 300 && cut > 200, `${compared} compared, ${cut} cut`);
});

test('a long field costs bounded work: only its head is tokenized (characters given to the tokenizer counted)', () => {
  let chars = 0;
  const counting = new Proxy(gpt2, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (key === 'encode' || key === 'encodeContinuation') {
        return (...args: unknown[]) => {
          chars += (args[0] as string).length + (typeof args[1] === 'string' ? args[1].length : 0);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const text = 'Once upon a time there was a little girl who liked to run. '.repeat(3000); // 180 000 chars
  const enc = new ExampleEncoder({
    template: new Template('{text}\nThe story is about a'),
    verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy', cat: ' cat', dog: ' dog' }),
    tokenizer: counting,
    maxLength: 64,
  });
  const e = enc.encode({ text, label: 'girl', __line: 1 });
  assert.ok(e.truncated && e.promptIds.length + 1 <= 64);
  // A bounded head of the field, plus a bounded amount per search step: never the whole field
  // (the first linear version: once over it, 1.2×; the old search: ~17 whole renders × 8 encodes).
  assert.ok(chars < 10_000, `${chars} characters tokenized for a ${text.length}-character field`);
});

test('many labels: the cut and every candidate equal the old search (labels of different lengths, merges at the boundary)', () => {
  // Labels of 1 to 5 tokens; with the field last in the template the labels join the field's
  // text, so which label is longest changes with the cut (the search's label may not be it).
  // {s, ing, ed} after "{text}": GPT-2 merges "s" into the field's last word, so the label searched
  // with (longest with the field empty) is not the longest at the cut, and the cut steps down.
  const many = new Verbalizer({ a: ' girl', b: ' boy and a dog', c: 's', d: 'ing', e: '!', f: ' the little red ball', g: ' 42' });
  const merging = new Verbalizer({ a: 's', b: 'ing', c: 'ed' });
  let compared = 0;
  let cut = 0;
  for (const tok of [gpt2, stories]) {
    for (const [template, verbalizer] of [[new Template('Story: {text}\nThe story is about a'), many], [new Template('{text}'), many], [new Template('{text}'), merging]] as const) {
      for (const [i, r] of records.slice(0, 8).entries()) {
        const rec = i % 4 === 0 ? { ...r, text: String(r['text']).repeat(8) } : r;
        for (const maxLength of [14, 40, 96]) {
          let want: VerbalizedPrompt;
          try {
            want = oldEncode(rec, template, verbalizer, tok, maxLength);
          } catch {
            continue;
          }
          const got = new ExampleEncoder({ template, verbalizer, tokenizer: tok, maxLength, allowUnlabelled: true, labelField: 'none' }).encode(rec);
          assert.deepEqual({ promptIds: got.promptIds, candidates: got.candidates }, want, `record ${i}, ${JSON.stringify(template.source)}, maxLength ${maxLength}`);
          compared++;
          if (got.truncated) cut++;
        }
      }
    }
  }
  assert.ok(compared > 120 && cut > 90, `${compared} compared, ${cut} cut`);
});

test('a near-limit input (190 000 characters, 8 labels, context 512): the same cut and candidates as the search before', () => {
  // The uncapped search takes minutes here (each step re-tokenizes up to the whole field), so the
  // oracle is the capped one, which equals it on every input of the tests above.
  const text = 'The little dog ran to the park and played. '.repeat(4419).slice(0, 190_000);
  const verbalizer = new Verbalizer(Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`label${i}`, i % 3 === 2 ? `s${i}` : ` word${i}`])));
  const template = new Template('{text}\nThe story is about a');
  const got = new ExampleEncoder({ template, verbalizer, tokenizer: stories, maxLength: 512, allowUnlabelled: true, labelField: 'none' }).encode({ text, __line: 1 });
  const want = oldEncode({ text, __line: 1 }, template, verbalizer, stories, 512, true);
  assert.ok(got.truncated && got.promptIds.length > 400);
  assert.deepEqual({ promptIds: got.promptIds, candidates: got.candidates }, want);
});

test('Verbalizer.encode on a long prompt (window per label) equals each label tokenized with the whole prompt', () => {
  const verbalizer = new Verbalizer({ a: ' girl', b: 's', c: "'s friend", d: ' \u00e9t\u00e9', e: '\n\nThe end', f: 'ly', g: ' 🐶 dog', h: '!!' });
  for (const tok of [gpt2, stories]) {
    for (const [i, r] of records.slice(0, 12).entries()) {
      const prompt = `Story: ${String(r['text']).repeat(Math.ceil(1100 / String(r['text']).length))}${i % 2 ? '\nThe story is about a' : ''}`;
      assert.ok(prompt.length > 1024, 'long enough for the window');
      assert.deepEqual(verbalizer.encode(tok, prompt), oldVerbalize(verbalizer, tok, prompt), `record ${i}`);
    }
  }
});

test('a field over the character limit is refused naming the field, file and line', () => {
  const enc = new ExampleEncoder({
    template: new Template('{title}: {text}\nAbout a'),
    verbalizer: new Verbalizer({ girl: ' girl', boy: ' boy' }),
    tokenizer: gpt2,
    maxLength: 64,
    maxFieldChars: 1000,
    truncateField: 'text',
  });
  assert.equal(enc.encode({ title: 't', text: 'x'.repeat(1000), label: 'boy', __line: 1 }).truncated, true);
  assert.throws(
    () => enc.encode({ title: 'y'.repeat(1001), text: 'x', label: 'boy', __file: 'd.jsonl', __line: 3 }),
    (e: unknown) => e instanceof DataError && e.field === 'title' && /^d\.jsonl:3: .*field "title" holds 1001 characters, over the limit of 1000/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(() => new ExampleEncoder({ template: new Template('{text}'), verbalizer: new Verbalizer({ a: ' a' }), tokenizer: gpt2, maxLength: 8, maxFieldChars: 0 }), RangeError);
});
