import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, FormatError, UnsupportedModelError } from '../../src/errors.ts';
import { SUPPORTED_MODEL_TYPES, parseHfConfig } from '../../src/formats/hf_config.ts';
import { readHfConfig } from '../../src/formats/model_dir.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';
import { SHARED, STORIES, TINY_GPT2, TINY_LLAMA, assertThrowsWith, tempDir } from './helpers.ts';

/** Every field except `raw` and the decoder spec (test/formats/decoder_config.test.ts checks that). */
function fields(c: ModelConfig): Omit<ModelConfig, 'raw' | 'decoder'> {
  const { raw: _raw, decoder: _decoder, ...rest } = c;
  return rest;
}

test('tiny-gpt2 config', () => {
  const c = readHfConfig(join(TINY_GPT2, 'config.json'));
  assert.deepEqual(fields(c), {
    modelType: 'gpt2', vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16,
    intermediateSize: 256, maxPositions: 128, normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true,
    activation: 'gelu_new', attentionBias: true, mlpBias: true, bosTokenId: 1, eosTokenIds: [2],
  });
  assert.equal(c.raw.initializer_range, 0.02);
});

test('GPT-2 small config (tokenizers/gpt2)', () => {
  const c = readHfConfig(join(SHARED, 'tokenizers/gpt2/config.json'));
  assert.equal(c.modelType, 'gpt2');
  assert.equal(c.numLayers, 12);
  assert.equal(c.hiddenSize, 768);
  assert.equal(c.numHeads, 12);
  assert.equal(c.headDim, 64);
  assert.equal(c.intermediateSize, 3072);
  assert.equal(c.vocabSize, 50257);
  assert.equal(c.maxPositions, 1024);
  assert.equal(c.tieWordEmbeddings, true, 'GPT-2 ties by default');
  assert.equal(c.bosTokenId, 50256);
  assert.deepEqual(c.eosTokenIds, [50256]);
});

test('distilgpt2-style config: gpt2 model_type, explicit n_inner, defaults for the rest', () => {
  const c = parseHfConfig({
    model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 6, n_head: 12, n_positions: 1024, n_inner: 1000,
  }, 'distil/config.json');
  assert.equal(c.numLayers, 6);
  assert.equal(c.intermediateSize, 1000);
  assert.equal(c.activation, 'gelu_new');
  assert.equal(c.normEps, 1e-5);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.bosTokenId, undefined);
  assert.deepEqual(c.eosTokenIds, []);
});

test('tiny-llama config: GQA, head_dim 16, theta 1000, eps 1e-6, untied', () => {
  const c = readHfConfig(join(TINY_LLAMA, 'config.json'));
  assert.deepEqual(fields(c), {
    modelType: 'llama', vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
    intermediateSize: 172, maxPositions: 512, normEps: 1e-6, ropeTheta: 1000, tieWordEmbeddings: false,
    activation: 'silu', attentionBias: false, mlpBias: false, bosTokenId: 1, eosTokenIds: [2],
  });
});

test('stories260K config', () => {
  const c = readHfConfig(join(STORIES, 'config.json'));
  assert.deepEqual(fields(c), {
    modelType: 'llama', vocabSize: 512, hiddenSize: 64, numLayers: 5, numHeads: 8, numKvHeads: 4, headDim: 8,
    intermediateSize: 172, maxPositions: 512, normEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true,
    activation: 'silu', attentionBias: false, mlpBias: false, bosTokenId: 1, eosTokenIds: [2],
  });
});

const llamaBase = {
  model_type: 'llama', vocab_size: 100, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2,
  num_attention_heads: 4, max_position_embeddings: 64,
};

test('llama defaults: kv heads = heads, head_dim = hidden/heads, theta 10000, untied, eos list', () => {
  const c = parseHfConfig({ ...llamaBase, eos_token_id: [2, 1], rope_scaling: null, head_dim: null }, 'l/config.json');
  assert.equal(c.numKvHeads, 4);
  assert.equal(c.headDim, 8);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.normEps, 1e-6);
  assert.equal(c.tieWordEmbeddings, false);
  assert.equal(c.activation, 'silu');
  assert.deepEqual(c.eosTokenIds, [2, 1]);
  // transformers v5 keeps rope_theta in rope_parameters.
  const v5 = parseHfConfig({ ...llamaBase, rope_parameters: { rope_type: 'default', rope_theta: 500000 } }, 'l/config.json');
  assert.equal(v5.ropeTheta, 500000);
  assert.equal(parseHfConfig({ ...llamaBase, rope_scaling: { rope_type: 'default' } }, 'l').ropeTheta, 10000);
});

test('unsupported rope_scaling is a ConfigError naming the field', () => {
  const err = assertThrowsWith(
    () => parseHfConfig({ ...llamaBase, rope_scaling: { rope_type: 'yarn', factor: 8 } }, 'cfg/config.json'),
    ConfigError, ['cfg/config.json', 'rope_scaling.rope_type', 'yarn'],
  );
  assert.equal((err as ConfigError).field, 'rope_scaling.rope_type');
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, rope_scaling: { type: 'dynamic', factor: 2 } }, 'c'), ConfigError, ['rope_scaling', 'dynamic']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, rope_scaling: 'yarn' }, 'c'), ConfigError, ['rope_scaling', 'must be an object or null']);
});

test('missing and ill-typed fields are ConfigErrors naming file and field', () => {
  const { hidden_size: _h, ...noHidden } = llamaBase;
  let err = assertThrowsWith(() => parseHfConfig(noHidden, 'm/config.json'), ConfigError, ['m/config.json', '"hidden_size"', 'is missing']);
  assert.equal((err as ConfigError).field, 'hidden_size');
  err = assertThrowsWith(() => parseHfConfig({ ...llamaBase, num_hidden_layers: '2' }, 'm/config.json'), ConfigError, ['m/config.json', '"num_hidden_layers"', 'must be a positive integer', '"2"']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, num_attention_heads: 0 }, 'm'), ConfigError, ['num_attention_heads', 'positive integer']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, vocab_size: 10.5 }, 'm'), ConfigError, ['vocab_size', 'positive integer']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, rms_norm_eps: -1 }, 'm'), ConfigError, ['rms_norm_eps', 'positive number']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, tie_word_embeddings: 'yes' }, 'm'), ConfigError, ['tie_word_embeddings', 'true or false']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, eos_token_id: 'x' }, 'm'), ConfigError, ['eos_token_id']);
  assertThrowsWith(() => parseHfConfig({ ...llamaBase, num_key_value_heads: 3 }, 'm'), ConfigError, ['num_key_value_heads', 'must divide']);
  assertThrowsWith(() => parseHfConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 30, n_layer: 1, n_head: 4, n_positions: 8 }, 'g'), ConfigError, ['n_head', 'must divide n_embd']);
  assertThrowsWith(() => parseHfConfig({ model_type: 'gpt2', vocab_size: 10, n_embd: 32, n_head: 4, n_positions: 8 }, 'g/config.json'), ConfigError, ['g/config.json', '"n_layer"', 'is missing']);
  assertThrowsWith(() => parseHfConfig({ vocab_size: 10 }, 'g/config.json'), ConfigError, ['g/config.json', 'model_type', 'is missing']);
});

test('unknown model_type lists the supported ones', () => {
  assert.deepEqual([...SUPPORTED_MODEL_TYPES], ['gpt2', 'llama', 'qwen2', 'qwen3', 'mistral', 'gemma3_text', 'phi3', 'gpt_neox', 'opt', 'bloom']);
  const err = assertThrowsWith(() => parseHfConfig({ ...llamaBase, model_type: 'mamba' }, 'x/config.json'), UnsupportedModelError, ['x/config.json', '"mamba"', 'gpt2, llama']);
  assert.equal((err as UnsupportedModelError).modelType, 'mamba');
});

test('readHfConfig: unreadable or non-JSON files are FormatErrors naming the path', (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'config.json');
  writeFileSync(bad, '{"model_type": "gpt2",');
  assertThrowsWith(() => readHfConfig(bad), FormatError, [bad, 'not valid JSON']);
  writeFileSync(bad, '[1, 2]');
  assertThrowsWith(() => readHfConfig(bad), FormatError, [bad, 'JSON object']);
  const missing = join(dir, 'nope.json');
  assertThrowsWith(() => readHfConfig(missing), FormatError, [missing, 'cannot read']);
});
