import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../src/errors.ts';
import { readHfConfig } from '../../src/formats/model_dir.ts';
import { parseLlama2c, permuteRope, readLlama2c, readLlama2cTokenizer } from '../../src/formats/llama2c.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { STORIES, assertSameBits, assertThrowsWith, tempDir } from './helpers.ts';

const BIN = join(STORIES, 'llama2c/stories260K.bin');
const TOK = join(STORIES, 'llama2c/tok512.bin');

test('stories260K.bin gives bit-identical tensors to the HF model.safetensors', () => {
  const ckpt = readLlama2c(BIN);
  const hf = readSafetensors(join(STORIES, 'model.safetensors'));
  assert.deepEqual(ckpt.weights.names(), [...hf.keys()].sort());
  for (const [name, want] of hf) {
    const got = ckpt.weights.get(name, want.shape);
    assertSameBits(got.data, want.data as Float32Array, name);
  }
});

test('stories260K.bin config agrees with the HF config.json on every field', () => {
  const { config } = readLlama2c(BIN);
  const { raw: _a, ...fromBin } = config;
  const { raw: _b, ...fromHf } = readHfConfig(join(STORIES, 'config.json'));
  assert.deepEqual(fromBin, fromHf);
  assert.equal(config.raw.vocab_size, 512);
});

test('permuteRope matches the HF permute on a hand-worked example', () => {
  // One head of 4 rows: interleaved pairs (0,1), (2,3) -> rotate-half order 0, 2, 1, 3.
  const w = Float32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
  assert.deepEqual([...permuteRope(w, 4, 2, 1)], [0, 0, 2, 2, 1, 1, 3, 3]);
  // Two heads of 4 rows, 1 column: each head permuted on its own.
  assert.deepEqual([...permuteRope(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 8, 1, 2)], [0, 2, 1, 3, 4, 6, 5, 7]);
  // Head size 6: rows 0..5 -> 0, 2, 4, 1, 3, 5.
  assert.deepEqual([...permuteRope(Float32Array.from([0, 1, 2, 3, 4, 5]), 6, 1, 1)], [0, 2, 4, 1, 3, 5]);
});

/** A tiny synthetic checkpoint: values are their own float index, so every slice is checkable. */
function synthetic(vocab: number, { dim = 4, hidden = 6, layers = 2, heads = 2, kvHeads = 1, seqLen = 3 } = {}): Uint8Array {
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;
  const n = Math.abs(vocab) * dim + layers * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hidden * dim) + dim + seqLen * headDim
    + (vocab < 0 ? -vocab * dim : 0);
  const out = new Uint8Array(28 + 4 * n);
  const view = new DataView(out.buffer);
  [dim, hidden, layers, heads, kvHeads, vocab, seqLen].forEach((v, i) => view.setInt32(4 * i, v, true));
  for (let i = 0; i < n; i++) view.setFloat32(28 + 4 * i, i, true);
  return out;
}

test('negative vocab_size: untied classifier read from after the RoPE tables', () => {
  const bytes = synthetic(-5);
  const { config, weights } = parseLlama2c(bytes, 'syn.bin');
  assert.equal(config.tieWordEmbeddings, false);
  assert.equal(config.vocabSize, 5);
  assert.equal(config.numKvHeads, 1);
  const head = weights.get('lm_head.weight', [5, 4]);
  const total = (bytes.length - 28) / 4;
  assert.deepEqual([...head.data], Array.from({ length: 20 }, (_, i) => total - 20 + i));
  assert.deepEqual([...weights.get('model.embed_tokens.weight', [5, 4]).data], Array.from({ length: 20 }, (_, i) => i));
  // rms_att of layer 1 follows the embeddings and layer 0's rms_att.
  assert.deepEqual([...weights.get('model.layers.1.input_layernorm.weight', [4]).data], [24, 25, 26, 27]);
  assert.ok(parseLlama2c(synthetic(5), 'tied.bin').weights.has('lm_head.weight') === false);
});

test('errors: truncated, oversized, short header, bad header values', (t) => {
  const dir = tempDir(t);
  const full = readFileSync(BIN);
  const cut = join(dir, 'cut.bin');
  writeFileSync(cut, full.subarray(0, full.length - 100));
  assertThrowsWith(() => readLlama2c(cut), FormatError, [cut, 'truncated', `implies ${full.length} bytes`, `file has ${full.length - 100}`]);

  const long = join(dir, 'long.bin');
  writeFileSync(long, Buffer.concat([full, Buffer.alloc(16)]));
  assertThrowsWith(() => readLlama2c(long), FormatError, [long, '16 more', 'version-0']);

  const tiny = join(dir, 'tiny.bin');
  writeFileSync(tiny, full.subarray(0, 10));
  assertThrowsWith(() => readLlama2c(tiny), FormatError, [tiny, 'truncated', '28-byte header']);

  const zero = synthetic(5);
  new DataView(zero.buffer).setInt32(8, 0, true); // n_layers = 0
  assertThrowsWith(() => parseLlama2c(zero, 'zero.bin'), FormatError, ['zero.bin', 'n_layers is 0']);

  const v1 = synthetic(5);
  new DataView(v1.buffer).setUint32(0, 0x616b3432, true);
  assertThrowsWith(() => parseLlama2c(v1, 'v1.bin'), FormatError, ['v1.bin', 'version-1', 'ak42']);
});

test('tok512.bin: 512 pieces that match tokenizer.json', () => {
  const tok = readLlama2cTokenizer(TOK);
  assert.equal(tok.maxTokenLength, 7);
  assert.equal(tok.pieces.length, 512);
  assert.equal(tok.pieces[0]!.piece, '<unk>');
  assert.equal(tok.pieces[1]!.piece, '\n<s>\n');
  assert.equal(tok.pieces[2]!.piece, '\n</s>\n');
  assert.equal(tok.pieces[3]!.piece, '<0x00>');
  const vocab = (JSON.parse(readFileSync(join(STORIES, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } }).model.vocab;
  for (let id = 3; id < 512; id++) {
    const piece = tok.pieces[id]!.piece.replaceAll(' ', '\u2581');
    assert.equal(vocab[piece], id, `piece ${JSON.stringify(piece)}`);
  }
  assert.ok(tok.pieces.every((p) => Number.isFinite(p.score)));
  assert.ok(Math.max(...tok.pieces.map((p) => p.piece.length)) <= 7);
});

test('tokenizer file truncated mid-token is a FormatError', (t) => {
  const path = join(tempDir(t), 'tok.bin');
  const full = readFileSync(TOK);
  writeFileSync(path, full.subarray(0, full.length - 2));
  assertThrowsWith(() => readLlama2cTokenizer(path), FormatError, [path, 'token 511']);
});
