import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, MissingTensorError, ShapeMismatchError, UnsupportedDtypeError, UnsupportedModelError } from '../../src/errors.ts';
import { float32, int64, tensor } from '../../src/tensor.ts';
import type { Tensor } from '../../src/tensor.ts';
import { loadModelDir, memoryWeightStore } from '../../src/formats/model_dir.ts';
import { readSafetensors, writeSafetensors } from '../../src/formats/safetensors.ts';
import { STORIES, TINY_GPT2, TINY_LLAMA, assertSameBits, assertThrowsWith, tempDir } from './helpers.ts';

test('loadModelDir: tiny-gpt2 config and lazily read weights', () => {
  const m = loadModelDir(TINY_GPT2);
  const weightsPath = join(TINY_GPT2, 'model.safetensors');
  assert.equal(m.dir, TINY_GPT2);
  assert.equal(m.configPath, join(TINY_GPT2, 'config.json'));
  assert.equal(m.weightsPath, weightsPath);
  assert.equal(m.config.modelType, 'gpt2');
  assert.equal(m.generation, undefined);
  const all = readSafetensors(weightsPath);
  assert.deepEqual(m.weights.names(), [...all.keys()].sort());
  for (const [name, t] of all) {
    const got = m.weights.get(name, t.shape);
    assertSameBits(got.data, t.data as Float32Array, name);
  }
  assert.ok(m.weights.has('transformer.wte.weight'));
  assert.ok(!m.weights.has('lm_head.weight'));
  assert.deepEqual(m.weights.info('transformer.wte.weight'), { dtype: 'F32', shape: [512, 64] });
});

test('stories260K folder reads generation_config.json (eos [2, 1])', () => {
  const m = loadModelDir(STORIES);
  assert.deepEqual(m.generation, { bosTokenId: 1, eosTokenIds: [2, 1], padTokenId: undefined });
  assert.deepEqual(m.config.eosTokenIds, [2]);
  assert.equal(m.weights.names().length, 47);
});

test('WeightStore errors: missing tensor and shape mismatch name file, tensor and shapes', () => {
  const m = loadModelDir(TINY_GPT2);
  const file = join(TINY_GPT2, 'model.safetensors');
  const miss = assertThrowsWith(() => m.weights.get('lm_head.weight'), MissingTensorError, [file, '"lm_head.weight"']);
  assert.equal((miss as MissingTensorError).tensor, 'lm_head.weight');
  assertThrowsWith(() => m.weights.info('nope'), MissingTensorError, [file, '"nope"']);
  const err = assertThrowsWith(() => m.weights.get('transformer.wte.weight', [50257, 64]), ShapeMismatchError,
    [file, '"transformer.wte.weight"', '[512, 64]', '[50257, 64]']);
  assert.deepEqual((err as ShapeMismatchError).expected, [50257, 64]);
  assert.deepEqual((err as ShapeMismatchError).actual, [512, 64]);
});

test('loadModelDir errors: missing folder, missing config.json, no weights', (t) => {
  const dir = tempDir(t);
  const nowhere = join(dir, 'nowhere');
  assertThrowsWith(() => loadModelDir(nowhere), FormatError, [nowhere, 'does not exist']);

  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assertThrowsWith(() => loadModelDir(empty), FormatError, [join(empty, 'config.json'), 'needs config.json']);

  copyFileSync(join(TINY_GPT2, 'config.json'), join(empty, 'config.json'));
  assertThrowsWith(() => loadModelDir(empty), FormatError, [empty, 'no weights found', 'model.safetensors', 'model.safetensors.index.json']);
  writeFileSync(join(empty, 'pytorch_model.bin'), 'x');
  assertThrowsWith(() => loadModelDir(empty), FormatError, [empty, 'pytorch_model.bin', 'convert']);

  const file = join(dir, 'file');
  writeFileSync(file, 'x');
  assertThrowsWith(() => loadModelDir(file), FormatError, [file, 'this is a file']);
});

test('loadModelDir surfaces config errors and corrupt weights with the file path', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'bert', vocab_size: 10 }));
  assertThrowsWith(() => loadModelDir(dir), UnsupportedModelError, [join(dir, 'config.json'), '"bert"', 'gpt2, llama']);
  copyFileSync(join(TINY_GPT2, 'config.json'), join(dir, 'config.json'));
  writeFileSync(join(dir, 'model.safetensors'), new Uint8Array(4));
  assertThrowsWith(() => loadModelDir(dir), FormatError, [join(dir, 'model.safetensors'), '4 bytes']);
});

/** Split a model into two shard files plus an index, as transformers' save_pretrained does. */
function writeSharded(dir: string, tensors: Map<string, Tensor>): Record<string, string> {
  const names = [...tensors.keys()].sort();
  const half = Math.ceil(names.length / 2);
  const shards = [names.slice(0, half), names.slice(half)];
  const weightMap: Record<string, string> = {};
  shards.forEach((part, i) => {
    const file = `model-0000${i + 1}-of-00002.safetensors`;
    writeSafetensors(join(dir, file), new Map(part.map((n) => [n, tensors.get(n)!])), { format: 'pt' });
    for (const n of part) weightMap[n] = file;
  });
  const totalSize = [...tensors.values()].reduce((s, t) => s + 4 * t.data.length, 0);
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return weightMap;
}

test('sharded checkpoint loads the same tensors as the single file', (t) => {
  const dir = tempDir(t);
  copyFileSync(join(TINY_LLAMA, 'config.json'), join(dir, 'config.json'));
  const all = readSafetensors(join(TINY_LLAMA, 'model.safetensors'));
  const weightMap = writeSharded(dir, all);
  assert.equal(new Set(Object.values(weightMap)).size, 2);

  const m = loadModelDir(dir);
  const index = join(dir, 'model.safetensors.index.json');
  assert.equal(m.weightsPath, index);
  assert.equal(m.weights.source, index);
  assert.equal(m.config.numKvHeads, 2);
  assert.deepEqual(m.weights.names(), [...all.keys()].sort());
  for (const [name, want] of all) {
    const got = m.weights.get(name, want.shape);
    assertSameBits(got.data, want.data as Float32Array, name);
  }
  // A missing tensor names the index file; a shape mismatch names the shard holding the tensor.
  assertThrowsWith(() => m.weights.get('model.layers.9.mlp.up_proj.weight'), MissingTensorError, [index, '"model.layers.9.mlp.up_proj.weight"']);
  const name = 'lm_head.weight';
  assertThrowsWith(() => m.weights.get(name, [1, 2]), ShapeMismatchError, [join(dir, weightMap[name]!), name, '[512, 64]', '[1, 2]']);
});

test('sharded checkpoint errors: missing shard, tensor absent from its shard, bad index', (t) => {
  const dir = tempDir(t);
  copyFileSync(join(TINY_LLAMA, 'config.json'), join(dir, 'config.json'));
  const all = readSafetensors(join(TINY_LLAMA, 'model.safetensors'));
  const weightMap = writeSharded(dir, all);
  const index = join(dir, 'model.safetensors.index.json');

  rmSync(join(dir, 'model-00002-of-00002.safetensors'));
  assertThrowsWith(() => loadModelDir(dir), FormatError, [index, '"model-00002-of-00002.safetensors"', 'is missing']);

  writeSharded(dir, all);
  const [first, second] = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const wrong = { ...weightMap, 'model.norm.weight': weightMap['model.norm.weight'] === first ? second : first };
  writeFileSync(index, JSON.stringify({ weight_map: wrong }));
  assertThrowsWith(() => loadModelDir(dir), FormatError, [index, '"model.norm.weight"', 'no such tensor']);

  writeFileSync(index, JSON.stringify({ weight_map: { 'model.norm.weight': '../elsewhere.safetensors' } }));
  assertThrowsWith(() => loadModelDir(dir), FormatError, [index, 'model.norm.weight', 'same folder']);
  writeFileSync(index, JSON.stringify({ metadata: {} }));
  assertThrowsWith(() => loadModelDir(dir), FormatError, [index, 'weight_map']);
  writeFileSync(index, '{');
  assertThrowsWith(() => loadModelDir(dir), FormatError, [index, 'not valid JSON']);
});

test('F16 model folder: weights come back as float32 through the store', (t) => {
  const dir = tempDir(t);
  copyFileSync(join(TINY_GPT2, 'config.json'), join(dir, 'config.json'));
  const all = readSafetensors(join(TINY_GPT2, 'model.safetensors'));
  writeSafetensors(join(dir, 'model.safetensors'), all, { format: 'pt' }, { dtype: 'BF16' });
  const m = loadModelDir(dir);
  const w = m.weights.get('transformer.wte.weight', [512, 64]);
  assert.equal(w.dtype, 'float32');
  assert.equal(m.weights.info('transformer.wte.weight').dtype, 'BF16');
  const orig = all.get('transformer.wte.weight')!.data as Float32Array;
  for (let i = 0; i < orig.length; i++) assert.ok(Math.abs(w.data[i]! - orig[i]!) <= Math.abs(orig[i]!) * 2 ** -8);
});

test('memoryWeightStore: float32 as is, float64 rounded, integers rejected', () => {
  const store = memoryWeightStore(new Map<string, Tensor>([
    ['a', float32([2], [1, 2])],
    ['d', tensor('float64', [1], Float64Array.from([0.1]))],
    ['i', int64([1], [3])],
  ]), 'mem');
  assert.deepEqual(store.names(), ['a', 'd', 'i']);
  assert.deepEqual([...store.get('a', [2]).data], [1, 2]);
  assert.equal(store.get('d').data[0], Math.fround(0.1));
  assert.deepEqual(store.info('i'), { dtype: 'int64', shape: [1] });
  assertThrowsWith(() => store.get('i'), UnsupportedDtypeError, ['mem', '"i"', 'int64']);
  assertThrowsWith(() => store.get('z'), MissingTensorError, ['mem', '"z"']);
  assertThrowsWith(() => store.get('a', [1, 2]), ShapeMismatchError, ['mem', '"a"', '[2]', '[1, 2]']);
  assert.ok(memoryWeightStore({ x: float32([1], [1]) }).has('x'));
});
