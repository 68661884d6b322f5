/**
 * Hardening (issue 16, item 7): a verbalizer whose labels the model cannot tell apart (two labels
 * with one continuation, or a single label) is refused, naming the labels, in every command that
 * encodes examples (they all go through ExampleEncoder) and in the server (a 400).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { DataError } from '../../src/data/errors.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { checkDistinctCandidates } from '../../src/data/verbalizer_check.ts';
import { loadTokenizer, type Tokenizer } from '../../src/tokenizer/index.ts';
import { cli } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

let tok: Tokenizer;
before(async () => {
  tok = await loadTokenizer(STORIES);
});
const template = new Template('{text}\nThe story is about a');
const make = (v: Verbalizer): ExampleEncoder => new ExampleEncoder({ template, verbalizer: v, tokenizer: tok, maxLength: 64 });

test('two labels with the same continuation are refused, naming both', () => {
  assert.throws(
    () => make(new Verbalizer({ girl: ' girl', boy: ' girl' }, 'v.json')),
    (e: unknown) => e instanceof DataError && /labels "girl" and "boy" the same continuation " girl"/.test(e.message) && e.message.startsWith('v.json: '),
  );
});

test('a one-label verbalizer is refused', () => {
  assert.throws(() => make(new Verbalizer({ girl: ' girl' })), (e: unknown) => e instanceof DataError && /one label \("girl"\)/.test(e.message));
});

test('labels whose continuations tokenize alike are refused, naming them', () => {
  // Byte-fallback tokenizers here tell any two texts apart; a normalizing one may not.
  assert.throws(
    () => checkDistinctCandidates(['a', 'b', 'c'], [[5, 6], [7], [5, 6]], 'v.json'),
    (e: unknown) => e instanceof DataError && /labels "a" and "c" of the verbalizer \(v\.json\) tokenize to the same ids \[5, 6\]/.test(e.message),
  );
  checkDistinctCandidates(['a', 'b'], [[5, 6], [5]], undefined);
});

test('eval and classify exit 2 with one line naming the labels', async () => {
  const data = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
  const [ev, cl] = await Promise.all([
    cli(['eval', '--model', STORIES, '--data', data, '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl": " girl", "boy": " girl"}', '--max-examples', '4']),
    cli(['classify', '--model', STORIES, '--text', 'Lily played.', '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl": " girl"}']),
  ]);
  assert.equal(ev.status, 2, ev.stderr);
  assert.match(ev.stderr, /labels "girl" and "boy" the same continuation/);
  assert.equal(ev.stderr.trim().split('\n').length, 1, ev.stderr);
  assert.equal(cl.status, 2, cl.stderr);
  assert.match(cl.stderr, /one label \("girl"\)/);
});
