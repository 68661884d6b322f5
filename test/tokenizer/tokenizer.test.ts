import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, loadTokenizerSync, type Tokenizer } from '../../src/tokenizer/index.ts';
import { ConfigError, FormatError, SoftpromptError } from '../../src/errors.ts';

const STORIES = '/work/shared/models/stories260K';
const GPT2 = '/work/shared/tokenizers/gpt2';

let stories: Tokenizer;
let gpt2: Tokenizer;
let tmp: string;

before(async () => {
  stories = await loadTokenizer(STORIES);
  gpt2 = await loadTokenizer(GPT2);
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-tok-'));
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** A fresh folder under tmp holding the given files (copied from `from` or written as text). */
function folder(name: string, files: Record<string, string | { copy: string }>): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    if (typeof content === 'string') writeFileSync(join(dir, file), content);
    else copyFileSync(content.copy, join(dir, file));
  }
  return dir;
}

describe('stories260K (sentencepiece-style BPE, byte fallback, BOS by post-processor)', () => {
  test('special tokens and vocab', () => {
    assert.equal(stories.vocabSize, 512);
    assert.equal(stories.bosTokenId, 1);
    assert.equal(stories.eosTokenId, 2);
    assert.equal(stories.unkTokenId, 0);
    assert.equal(stories.padTokenId, undefined);
    assert.equal(stories.addBosToken, true);
    assert.equal(stories.addEosToken, false);
    assert.deepEqual(stories.specialIds, [0, 1, 2]);
    assert.equal(stories.isSpecial(1), true);
    assert.equal(stories.isSpecial(403), false);
  });

  test('encode adds BOS by default', () => {
    assert.deepEqual(stories.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    assert.deepEqual(stories.encode('Once upon a time', { addSpecialTokens: true }), [1, 403, 407, 261, 378]);
    assert.deepEqual(stories.encode('Once upon a time', { addSpecialTokens: false }), [403, 407, 261, 378]);
  });

  test('decode round trip', () => {
    const texts = ['Once upon a time', "it 's a charming and often affecting journey . ", '  leading spaces', 'ünïcödé 日本 🙂\ttab\nnewline'];
    for (const text of texts) {
      assert.equal(stories.decode(stories.encode(text), { skipSpecialTokens: true }), text);
      assert.equal(stories.decode(stories.encode(text, { addSpecialTokens: false })), text);
    }
    assert.equal(stories.decode([1, 403, 407, 261, 378]), '<s> Once upon a time');
    assert.equal(stories.decode(Int32Array.from([1, 403, 407, 261, 378]), { skipSpecialTokens: true }), 'Once upon a time');
  });

  test('token lookup and display text', () => {
    assert.equal(stories.idToToken(403), '▁Once');
    assert.equal(stories.tokenToId('▁Once'), 403);
    assert.equal(stories.tokenToId('<s>'), 1);
    assert.equal(stories.tokenToId('no such piece'), undefined);
    assert.equal(stories.idToToken(512), undefined);
    assert.equal(stories.idToToken(-1), undefined);
    assert.equal(stories.tokenText(403), 'Once');
    assert.equal(stories.tokenText(13), '\n'); // <0x0A>
    assert.equal(stories.tokenText(1), '<s>');
    // A lone byte of a multi-byte character shows as its piece rather than U+FFFD.
    assert.equal(stories.tokenText(3 + 0xe2), '<0xE2>');
  });

  test('encodeContinuation: template text then " girl"', () => {
    const texts = ['I liked it.', "it 's a charming and often affecting journey . ", 'Lily and Ben played in the park'];
    for (const text of texts) {
      const prompt = `${text}\nThe story is about a`;
      const r = stories.encodeContinuation(prompt, ' girl');
      assert.equal(r.boundaryMerged, false);
      assert.deepEqual(r.promptIds, stories.encode(prompt));
      assert.deepEqual([...r.promptIds, ...r.continuationIds], stories.encode(prompt + ' girl'));
      assert.equal(r.promptIds[0], 1);
      assert.deepEqual(r.continuationIds, [298, 315, 421]);
      assert.equal(r.continuationIds.map((id) => stories.idToToken(id)).join(''), '▁girl');
    }
    // Encoding " girl" on its own would prepend another "▁" (the legacy normalizer's dummy prefix).
    assert.notDeepEqual(stories.encode(' girl', { addSpecialTokens: false }), [298, 315, 421]);
  });

  test('encodeContinuation without special tokens', () => {
    const r = stories.encodeContinuation('The story is about a', ' girl', { addSpecialTokens: false });
    assert.deepEqual(r.promptIds, stories.encode('The story is about a', { addSpecialTokens: false }));
    assert.deepEqual(r.continuationIds, [298, 315, 421]);
  });

  test('encodeContinuation: merge across the boundary splits at the longest common prefix', () => {
    const prompt = 'The story is about a';
    const r = stories.encodeContinuation(prompt, 'nd');
    assert.equal(r.boundaryMerged, true);
    const joint = stories.encode(prompt + 'nd');
    assert.deepEqual([...r.promptIds, ...r.continuationIds], joint);
    assert.equal(stories.decode(r.continuationIds), 'and');
    const own = stories.encode(prompt);
    assert.deepEqual(r.promptIds, own.slice(0, r.promptIds.length));
    assert.ok(r.promptIds.length < own.length);
  });

  test('encodeContinuation: empty continuation gives no ids', () => {
    const r = stories.encodeContinuation('Once upon a time', '');
    assert.deepEqual(r.promptIds, [1, 403, 407, 261, 378]);
    assert.deepEqual(r.continuationIds, []);
  });
});

describe('GPT-2 (byte-level BPE, no BOS)', () => {
  test('special tokens and vocab', () => {
    assert.equal(gpt2.vocabSize, 50257);
    assert.equal(gpt2.eosTokenId, 50256);
    assert.equal(gpt2.bosTokenId, 50256);
    assert.equal(gpt2.addBosToken, false);
    assert.equal(gpt2.addEosToken, false);
    assert.deepEqual(gpt2.specialIds, [50256]);
    assert.equal(gpt2.isSpecial(50256), true);
  });

  test('encode', () => {
    assert.deepEqual(gpt2.encode('Hello world'), [15496, 995]);
    assert.deepEqual(gpt2.encode(' The story is about a girl'), [383, 1621, 318, 546, 257, 2576]);
    assert.deepEqual(gpt2.encode('Hello world', { addSpecialTokens: false }), [15496, 995]);
    assert.deepEqual(gpt2.encode('<|endoftext|>Hello'), [50256, 15496]);
  });

  test('decode and display text', () => {
    assert.equal(gpt2.decode([383, 1621, 318, 546, 257, 2576]), ' The story is about a girl');
    assert.equal(gpt2.decode([50256, 15496, 995, 50256], { skipSpecialTokens: true }), 'Hello world');
    assert.equal(gpt2.decode([]), '');
    assert.equal(gpt2.idToToken(2576), 'Ġgirl');
    assert.equal(gpt2.tokenToId('Ġgirl'), 2576);
    assert.equal(gpt2.tokenText(2576), ' girl');
    assert.equal(gpt2.tokenText(50256), '<|endoftext|>');
    const text = "it 's a charming and often affecting journey . 日本 🙂";
    assert.equal(gpt2.decode(gpt2.encode(text)), text);
  });

  test('encodeContinuation " girl" -> [2576]', () => {
    const r = gpt2.encodeContinuation(' The story is about a', ' girl');
    assert.deepEqual(r, { promptIds: [383, 1621, 318, 546, 257], continuationIds: [2576], boundaryMerged: false });
    const r2 = gpt2.encodeContinuation('I liked it.\nThe story is about a', ' girl');
    assert.deepEqual(r2.continuationIds, [2576]);
    assert.deepEqual(r2.promptIds, gpt2.encode('I liked it.\nThe story is about a'));
  });

  test('decode rejects ids outside the vocabulary', () => {
    assert.throws(() => gpt2.decode([50257]), (e: unknown) => e instanceof SoftpromptError && /50257/.test(e.message));
    assert.throws(() => gpt2.decode([1.5]), SoftpromptError);
    assert.throws(() => gpt2.tokenText(-1), SoftpromptError);
  });
});

describe('batch', () => {
  const texts = ['Once upon a time', '', 'Hello world', ' The story is about a girl', 'it \'s a charming and often affecting journey . '];
  for (const [name, tok] of [['stories260K', () => stories], ['gpt2', () => gpt2]] as const) {
    test(`${name}: encodeBatch/decodeBatch equal per-item calls`, () => {
      const t = tok();
      for (const addSpecialTokens of [true, false]) {
        const batch = t.encodeBatch(texts, { addSpecialTokens });
        assert.deepEqual(batch, texts.map((s) => t.encode(s, { addSpecialTokens })));
        assert.deepEqual(t.decodeBatch(batch, { skipSpecialTokens: true }), batch.map((ids) => t.decode(ids, { skipSpecialTokens: true })));
        assert.deepEqual(t.decodeBatch(batch, { skipSpecialTokens: true }), texts);
      }
      assert.deepEqual(t.encodeBatch([]), []);
    });
  }
});

describe('config handling', () => {
  test('tokenizer_config add_bos_token overrides the post-processor', async () => {
    const noBos = folder('stories-nobos', {
      'tokenizer.json': { copy: join(STORIES, 'tokenizer.json') },
      'tokenizer_config.json': JSON.stringify({ add_bos_token: false, bos_token: '<s>', eos_token: '</s>' }),
    });
    const t = await loadTokenizer(noBos);
    assert.equal(t.addBosToken, false);
    assert.deepEqual(t.encode('Once upon a time'), [403, 407, 261, 378]);

    const gBos = folder('gpt2-bos', {
      'tokenizer.json': { copy: join(GPT2, 'tokenizer.json') },
      'tokenizer_config.json': JSON.stringify({ add_bos_token: true, bos_token: { content: '<|endoftext|>', __type: 'AddedToken' } }),
    });
    const g = await loadTokenizer(gBos);
    assert.equal(g.addBosToken, true);
    assert.deepEqual(g.encode('Hello world'), [50256, 15496, 995]);
    assert.deepEqual(g.encode('Hello world', { addSpecialTokens: false }), [15496, 995]);
    const r = g.encodeContinuation(' The story is about a', ' girl');
    assert.deepEqual(r.promptIds, [50256, 383, 1621, 318, 546, 257]);
    assert.deepEqual(r.continuationIds, [2576]);
  });

  test('AddedToken objects and special_tokens_map.json; tokenizer_config.json optional', () => {
    const dir = folder('stories-objects', {
      'tokenizer.json': { copy: join(STORIES, 'tokenizer.json') },
      'special_tokens_map.json': JSON.stringify({
        bos_token: { content: '<s>', lstrip: false, normalized: false, rstrip: false, single_word: false },
        eos_token: { content: '</s>' },
        pad_token: '</s>',
      }),
    });
    const t = loadTokenizerSync(dir);
    assert.equal(t.bosTokenId, 1);
    assert.equal(t.eosTokenId, 2);
    assert.equal(t.padTokenId, 2);
    assert.equal(t.unkTokenId, undefined);
    // No add_bos_token in any config: the post-processor decides.
    assert.equal(t.addBosToken, true);
    assert.deepEqual(t.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    // Without tokenizer_config.json, clean_up_tokenization_spaces defaults to false (exact round trip).
    assert.equal(t.decode(t.encode("it 's good ."), { skipSpecialTokens: true }), "it 's good .");
  });

  test('a special token of the wrong type is a ConfigError naming file and field', async () => {
    const dir = folder('bad-field', {
      'tokenizer.json': { copy: join(STORIES, 'tokenizer.json') },
      'tokenizer_config.json': JSON.stringify({ bos_token: 42 }),
    });
    await assert.rejects(loadTokenizer(dir), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.file, join(dir, 'tokenizer_config.json'));
      assert.equal(e.field, 'bos_token');
      return true;
    });
  });
});

describe('errors', () => {
  test('missing tokenizer.json names the full path and what is needed', async () => {
    const dir = folder('empty', {});
    const expected = join(dir, 'tokenizer.json');
    for (const load of [() => loadTokenizer(dir), async () => loadTokenizerSync(dir)]) {
      await assert.rejects(load(), (e: unknown) => {
        assert.ok(e instanceof FormatError);
        assert.equal(e.file, expected);
        assert.ok(e.message.includes(expected), e.message);
        assert.match(e.message, /Hugging Face model folder with tokenizer\.json/);
        return true;
      });
    }
  });

  test('a folder with only a slow tokenizer gets a conversion hint', async () => {
    const dir = folder('slow', { 'vocab.json': '{}', 'merges.txt': '' });
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof FormatError && /vocab\.json, merges\.txt/.test(e.message) && /save_pretrained/.test(e.message));
  });

  test('a folder that does not exist', async () => {
    const dir = join(tmp, 'does-not-exist');
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof FormatError && e.message.includes(join(dir, 'tokenizer.json')) && /does not exist/.test(e.message));
  });

  test('corrupt tokenizer.json names the path', async () => {
    const dir = folder('corrupt', { 'tokenizer.json': '{"model": {"type": "BPE", "vocab": {' });
    const expected = join(dir, 'tokenizer.json');
    await assert.rejects(loadTokenizer(dir), (e: unknown) => {
      assert.ok(e instanceof FormatError);
      assert.equal(e.file, expected);
      assert.ok(e.message.startsWith(expected), e.message);
      assert.match(e.message, /not valid JSON/);
      return true;
    });
  });

  test('tokenizer.json without a model, or one the library rejects', async () => {
    const noModel = folder('no-model', { 'tokenizer.json': JSON.stringify({ version: '1.0' }) });
    await assert.rejects(loadTokenizer(noModel), (e: unknown) => e instanceof FormatError && /"model"/.test(e.message));
    const arr = folder('array', { 'tokenizer.json': '[1, 2]' });
    await assert.rejects(loadTokenizer(arr), (e: unknown) => e instanceof FormatError && /JSON object/.test(e.message));
    const unknown = folder('unknown-model', { 'tokenizer.json': JSON.stringify({ model: { type: 'Mystery' } }) });
    await assert.rejects(loadTokenizer(unknown), (e: unknown) => e instanceof FormatError && /@huggingface\/tokenizers/.test(e.message) && e.message.includes(join(unknown, 'tokenizer.json')));
  });

  test('corrupt tokenizer_config.json names the path', async () => {
    const dir = folder('corrupt-config', {
      'tokenizer.json': { copy: join(STORIES, 'tokenizer.json') },
      'tokenizer_config.json': '{"add_bos_token": tru',
    });
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof FormatError && e.file === join(dir, 'tokenizer_config.json'));
  });
});
