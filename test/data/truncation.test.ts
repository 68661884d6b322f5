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

/** The truncation as it was before issue 16: binary search over the whole field's token count. */
function oldEncode(record: DataRecord, template: Template, verbalizer: Verbalizer, tok: Tokenizer, maxLength: number): number[] {
  const longest = (c: readonly number[][]): number => Math.max(0, ...c.map((x) => x.length));
  const fits = (v: VerbalizedPrompt): boolean => v.promptIds.length + longest(v.candidates) <= maxLength;
  const encodeWith = (o: Record<string, string>): VerbalizedPrompt => verbalizer.encode(tok, template.renderWithSlots(record, o).text);
  const enc = encodeWith({});
  if (fits(enc)) return enc.promptIds;
  const field = template.fields[0]!;
  const empty = encodeWith({ [field]: '' });
  if (!fits(empty)) throw new Error('does not fit');
  const ids = tok.encode(template.fieldValue(record, field), { addSpecialTokens: false });
  const textOf = (k: number): string => (k === 0 ? '' : tok.decode(ids.slice(0, k)).replace(/\uFFFD+$/, ''));
  let lo = 0;
  let hi = ids.length;
  let best = empty;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const e = encodeWith({ [field]: textOf(mid) });
    if (fits(e)) {
      lo = mid;
      best = e;
    } else hi = mid - 1;
  }
  return (lo === 0 ? empty : best).promptIds;
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
        let want: number[];
        try {
          want = oldEncode(rec, template, verbalizer, tok, maxLength);
        } catch {
          continue;
        }
        const got = enc.encode(rec);
        assert.deepEqual(got.promptIds, want, `record ${i}, maxLength ${maxLength}`);
        compared++;
        if (got.truncated) cut++;
      }
    }
  }
  assert.ok(compared > 300 && cut > 200, `${compared} compared, ${cut} cut`);
});

test('a long field costs work linear in its length (characters given to the tokenizer counted)', () => {
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
  // Once over the field, plus a bounded amount per search step (the old search: ~17 whole renders × 8 encodes).
  assert.ok(chars < 1.2 * text.length + 100_000, `${chars} characters tokenized for a ${text.length}-character field`);
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
