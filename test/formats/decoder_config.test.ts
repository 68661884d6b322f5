/**
 * Config parsing of the decoder families: the golden configs (transformers-5 layout), the same
 * values in the older layouts hub checkpoints carry, transformers' defaults, and refusals by field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';
import { scaledInverseFrequencies } from '../../src/models/rope_scaling.ts';
import { GOLDEN } from '../helpers/paths.ts';
import { assertThrowsWith } from './helpers.ts';

type Json = Record<string, unknown>;
const golden = (name: string): Json => JSON.parse(readFileSync(join(GOLDEN, name, 'config.json'), 'utf8')) as Json;
const parse = (raw: Json, file = 'm/config.json'): ModelConfig => parseHfConfig(raw, file);
const spec = (c: ModelConfig) => c.decoder!;
const plain = (theta: number, rotaryDim: number) => ({ theta, scaling: { type: 'default' }, rotaryDim });

/** `raw` without the given keys. */
function without(raw: Json, ...keys: string[]): Json {
  const out = { ...raw };
  for (const k of keys) delete out[k];
  return out;
}

test('golden configs: what each family differs in', () => {
  const qwen2 = parse(golden('tiny-qwen2'));
  assert.equal(qwen2.headDim, 16);
  assert.equal(qwen2.normEps, 1e-5);
  assert.equal(qwen2.tieWordEmbeddings, true);
  assert.deepEqual([spec(qwen2).qkvBias, spec(qwen2).outBias, spec(qwen2).qkNorm], [true, false, false]);
  assert.deepEqual(spec(qwen2).layers, [{ window: null, rope: plain(1e6, 16) }, { window: null, rope: plain(1e6, 16) }]);

  const qwen3 = parse(golden('tiny-qwen3'));
  assert.equal(qwen3.headDim, 24, 'head_dim from the config, not hidden/heads');
  assert.deepEqual([spec(qwen3).qkvBias, spec(qwen3).qkNorm, qwen3.tieWordEmbeddings], [false, true, false]);
  assert.equal(spec(qwen3).layers[0]!.rope.theta, 5e5);

  const llama3 = parse(golden('tiny-llama3'));
  assert.equal(llama3.numKvHeads, 1);
  assert.deepEqual(spec(llama3).layers[0]!.rope, {
    theta: 5e5, rotaryDim: 16, scaling: { type: 'llama3', factor: 16, lowFreqFactor: 2, highFreqFactor: 8, originalMaxPositions: 100 },
  });

  const mistral = parse(golden('tiny-mistral'));
  assert.deepEqual(spec(mistral).layers.map((l) => l.window), [6, 6]);
  assert.equal(spec(mistral).qkvBias, false);

  const gemma = parse(golden('tiny-gemma3'));
  const g = spec(gemma);
  assert.deepEqual(g.layers, [{ window: 6, rope: plain(5000, 32) }, { window: null, rope: plain(2e5, 32) }]);
  assert.equal(g.embedScale, 8);
  assert.equal(g.attnScale, 1 / Math.sqrt(24), 'query_pre_attn_scalar, not head_dim');
  assert.deepEqual([g.unitOffsetNorm, g.sandwichNorms, g.qkNorm, g.activation, gemma.tieWordEmbeddings], [true, true, true, 'gelu_pytorch_tanh', true]);

  const phi3 = parse(golden('tiny-phi3'));
  assert.equal(phi3.headDim, 16);
  assert.equal(phi3.normEps, 1e-6);
  assert.deepEqual([spec(phi3).fused, spec(phi3).layers[0]!.rope.rotaryDim, spec(phi3).layers[0]!.window], [true, 12, null]);
});

test('old layouts (rope_theta, rope_scaling, rope_local_base_freq, sliding_window_pattern, partial_rotary_factor) give the same spec', () => {
  const v5 = golden('tiny-llama3');
  const { rope_theta, ...scaling } = v5.rope_parameters as Json;
  const old = parse({ ...without(v5, 'rope_parameters'), rope_theta, rope_scaling: scaling });
  assert.deepEqual(spec(old), spec(parse(v5)));

  const g5 = golden('tiny-gemma3');
  // Gemma 3 before v5: global rope_theta, local rope_local_base_freq, sliding_window_pattern instead of layer_types.
  const gOld = parse({ ...without(g5, 'rope_parameters', 'layer_types', '_sliding_window_pattern'), rope_theta: 2e5, rope_local_base_freq: 5000, rope_scaling: null, sliding_window_pattern: 2 });
  assert.deepEqual(spec(gOld), spec(parse(g5)));

  const p5 = golden('tiny-phi3');
  const pOld = parse({ ...without(p5, 'rope_parameters'), rope_theta: 5e4, partial_rotary_factor: 0.75, rope_scaling: null });
  assert.deepEqual(spec(pOld), spec(parse(p5)));

  const q5 = golden('tiny-qwen2');
  // Qwen2.5 hub configs: use_sliding_window false beside a sliding_window and max_window_layers, no layer_types.
  const qOld = parse({ ...without(q5, 'rope_parameters', 'layer_types'), rope_theta: 1e6, sliding_window: 32768, max_window_layers: 1 });
  assert.deepEqual(spec(qOld), spec(parse(q5)));
});

test('transformers defaults per family', () => {
  const base = { vocab_size: 100, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 3, num_attention_heads: 4, max_position_embeddings: 64 };
  const mistral = parse({ ...base, model_type: 'mistral' });
  assert.deepEqual(spec(mistral).layers.map((l) => l.window), [4096, 4096, 4096], 'MistralConfig: sliding_window 4096');
  assert.equal(mistral.numKvHeads, 4);
  assert.equal(mistral.normEps, 1e-6);
  assert.equal(parse({ ...base, model_type: 'mistral', sliding_window: null }).decoder!.layers[0]!.window, null);
  assert.equal(parse({ ...base, model_type: 'qwen3' }).headDim, 128, 'Qwen3Config: head_dim 128');
  // Qwen: with use_sliding_window, layers from max_window_layers on slide.
  const q = parse({ ...base, model_type: 'qwen2', use_sliding_window: true, sliding_window: 8, max_window_layers: 1 });
  assert.deepEqual(spec(q).layers.map((l) => l.window), [null, 8, 8]);
  assert.deepEqual(spec(parse({ ...base, model_type: 'qwen2', sliding_window: 8, max_window_layers: 1 })).layers.map((l) => l.window), [null, null, null]);
  const phi = parse({ ...base, model_type: 'phi3' });
  assert.deepEqual([phi.normEps, spec(phi).layers[0]!.window, spec(phi).layers[0]!.rope.rotaryDim], [1e-5, null, 16]);
  const gemma = parse({ ...base, num_hidden_layers: 7, model_type: 'gemma3_text', num_key_value_heads: 1 });
  assert.equal(gemma.headDim, 256);
  assert.equal(gemma.tieWordEmbeddings, true);
  // pattern 6: layer 5 (the 6th) is global; local theta 10000, global 1e6; sliding_window 4096.
  assert.deepEqual(spec(gemma).layers.map((l) => [l.window, l.rope.theta]), [
    [4096, 1e4], [4096, 1e4], [4096, 1e4], [4096, 1e4], [4096, 1e4], [null, 1e6], [4096, 1e4],
  ]);
  assert.equal(spec(gemma).attnScale, 1 / 16, 'query_pre_attn_scalar 256');
  const linear = parse({ ...base, model_type: 'llama', rope_scaling: { type: 'linear', factor: 4 } });
  assert.deepEqual(scaledInverseFrequencies(spec(linear).layers[0]!.rope), scaledInverseFrequencies({ theta: 10000, scaling: { type: 'default' }, rotaryDim: 16 }).map((f) => f / 4));
});

test('llama3 RoPE: wavelengths below orig/high kept, above orig/low divided by factor, between smoothed', () => {
  const rope = spec(parse(golden('tiny-llama3'))).layers[0]!.rope;
  const inv = scaledInverseFrequencies(rope);
  const plainInv = scaledInverseFrequencies({ ...rope, scaling: { type: 'default' } });
  const wavelen = plainInv.map((f) => (2 * Math.PI) / f);
  assert.ok(Math.abs(wavelen[0]! - 6.28) < 0.01 && Math.abs(wavelen[1]! - 32.4) < 0.1 && wavelen[2]! > 166);
  assert.equal(inv[0], plainInv[0]);
  const s = (100 / wavelen[1]! - 2) / (8 - 2);
  assert.ok(Math.abs(s - 0.18) < 0.005);
  assert.ok(Math.abs(inv[1]! - ((1 - s) * plainInv[1]! / 16 + s * plainInv[1]!)) < 1e-15);
  for (let i = 2; i < 8; i++) assert.equal(inv[i], plainInv[i]! / 16);
});

test('unsupported settings are refused by field and value', () => {
  const q = golden('tiny-qwen2');
  for (const type of ['yarn', 'dynamic', 'longrope']) {
    const err = assertThrowsWith(() => parse({ ...q, rope_parameters: { rope_type: type, rope_theta: 1e6, factor: 4 } }, 'q/config.json'), ConfigError, ['q/config.json', 'rope_parameters.rope_type', `"${type}"`]);
    assert.equal((err as ConfigError).field, 'rope_parameters.rope_type');
  }
  const phi = golden('tiny-phi3');
  assertThrowsWith(() => parse({ ...without(phi, 'rope_parameters'), rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }), ConfigError, ['rope_scaling.type', '"longrope"']);
  const g = golden('tiny-gemma3');
  assertThrowsWith(() => parse({ ...g, final_logit_softcapping: 30 }), ConfigError, ['final_logit_softcapping', '30', 'soft-capping']);
  assertThrowsWith(() => parse({ ...g, attn_logit_softcapping: 50 }), ConfigError, ['attn_logit_softcapping', 'soft-capping']);
  assertThrowsWith(() => parse({ ...g, use_bidirectional_attention: true }), ConfigError, ['use_bidirectional_attention']);
  assertThrowsWith(() => parse({ ...g, hidden_activation: 'gelu' }), ConfigError, ['hidden_activation', '"gelu"']);
  assertThrowsWith(() => parse(without(g, 'num_key_value_heads')), ConfigError, ['num_key_value_heads', 'is missing']);
  assertThrowsWith(() => parse({ ...g, layer_types: ['sliding_attention'] }), ConfigError, ['layer_types', 'one type per layer']);
  assertThrowsWith(() => parse({ ...g, layer_types: ['sliding_attention', 'chunked_attention'] }), ConfigError, ['layer_types[1]', 'chunked_attention']);
  assertThrowsWith(() => parse({ ...q, num_local_experts: 8 }), ConfigError, ['num_local_experts', 'mixture-of-experts']);
  assertThrowsWith(() => parse({ ...q, hidden_act: 'gelu' }), ConfigError, ['hidden_act', '"gelu"', 'qwen2']);
  assertThrowsWith(() => parse({ ...q, sliding_window: 0, use_sliding_window: true }), ConfigError, ['sliding_window', 'positive integer']);
  assertThrowsWith(() => parse({ ...golden('tiny-llama3'), rope_parameters: { rope_type: 'default', rope_theta: 1e4, partial_rotary_factor: 0.5 } }), ConfigError, ['partial_rotary_factor', 'llama']);
  assertThrowsWith(() => parse({ ...golden('tiny-llama3'), rope_parameters: { rope_type: 'llama3', rope_theta: 1e4, factor: 8 } }), ConfigError, ['rope_parameters.low_freq_factor', 'is missing']);
  assertThrowsWith(() => parse({ ...golden('tiny-llama3'), pretraining_tp: 2 }), ConfigError, ['pretraining_tp']);
});
