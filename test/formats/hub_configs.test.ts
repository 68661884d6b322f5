/**
 * The published config.json of each hub id docs/families*.md name (copies found in public sources,
 * listed in test/fixtures/hub_configs/SOURCES.md; tests never download), parsed by our parser:
 * each parses to the head counts, RoPE and windows of the real model, or is refused by field name
 * (Phi-3.5's longrope). The benchmark shapes, written from memory, must agree with these configs.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DECODER_FAMILY_SHAPES } from '../../bench/families_decoder.ts';
import { GPT_FAMILY_SHAPES } from '../../bench/families_gpt.ts';
import { SCALE_SHAPES } from '../../bench/llama_folder.ts';
import { ConfigError } from '../../src/errors.ts';
import type { RopeSpec } from '../../src/formats/decoder_config.ts';
import type { BloomConfig, GptNeoxConfig } from '../../src/formats/gpt_config.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { readHfConfig } from '../../src/formats/model_dir.ts';
import type { ModelConfig } from '../../src/formats/hf_config.ts';

const DIR = fileURLToPath(new URL('../fixtures/hub_configs/', import.meta.url));
const hub = (name: string): ModelConfig => readHfConfig(join(DIR, `${name}.json`));
const plain = (theta: number, rotaryDim: number): RopeSpec => ({ theta, scaling: { type: 'default' }, rotaryDim });

/** The sizes a model is built from (what a wrong bench value would change). */
function shape(c: ModelConfig) {
  return {
    modelType: c.modelType, vocab: c.vocabSize, hidden: c.hiddenSize, layers: c.numLayers, heads: c.numHeads,
    kvHeads: c.numKvHeads, headDim: c.headDim, ffn: c.intermediateSize, eps: c.normEps, tied: c.tieWordEmbeddings,
    activation: c.activation, ropeTheta: c.ropeTheta, eos: c.eosTokenIds,
    rotaryDim: (c as Partial<GptNeoxConfig>).rotaryDim, parallelResidual: (c as Partial<GptNeoxConfig>).parallelResidual,
    decoder: c.decoder,
  };
}

test('RMSNorm decoders: head counts, head_dim, RoPE and windows of the published configs', () => {
  const smol = hub('smollm2-135m');
  assert.deepEqual([smol.modelType, smol.numHeads, smol.numKvHeads, smol.headDim, smol.tieWordEmbeddings], ['llama', 9, 3, 64, true]);
  assert.equal(smol.normEps, 1e-5);
  assert.deepEqual(new Set(smol.decoder!.layers.map((l) => JSON.stringify(l))), new Set([JSON.stringify({ window: null, rope: plain(1e5, 64) })]));

  const smol360 = hub('smollm2-360m-instruct');
  assert.deepEqual([smol360.numLayers, smol360.numHeads, smol360.numKvHeads, smol360.headDim, smol360.ropeTheta], [32, 15, 5, 64, 1e5]);

  const tiny = hub('tinyllama-1.1b-chat-v1.0');
  assert.deepEqual([tiny.numLayers, tiny.numHeads, tiny.numKvHeads, tiny.headDim, tiny.ropeTheta, tiny.tieWordEmbeddings], [22, 32, 4, 64, 1e4, false]);

  const llama = hub('llama-3.2-1b');
  assert.deepEqual([llama.numHeads, llama.numKvHeads, llama.headDim, llama.tieWordEmbeddings], [32, 8, 64, true]);
  assert.deepEqual(llama.decoder!.layers[15]!.rope, {
    theta: 5e5, rotaryDim: 64, scaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 },
  });

  const qwen2 = hub('qwen2.5-0.5b');
  const q2 = qwen2.decoder!;
  assert.deepEqual([qwen2.numHeads, qwen2.numKvHeads, qwen2.headDim, qwen2.normEps, qwen2.tieWordEmbeddings], [14, 2, 64, 1e-6, true]);
  assert.deepEqual([q2.qkvBias, q2.outBias, q2.qkNorm], [true, false, false]);
  // sliding_window 32768 is present but use_sliding_window is false: no layer slides.
  assert.deepEqual(q2.layers.map((l) => l.window), Array(24).fill(null));
  assert.deepEqual(q2.layers[0]!.rope, plain(1e6, 64));

  const qwen3 = hub('qwen3-0.6b');
  assert.deepEqual([qwen3.numHeads, qwen3.numKvHeads, qwen3.headDim, qwen3.hiddenSize], [16, 8, 128, 1024], 'head_dim 128, not hidden/heads = 64');
  assert.deepEqual([qwen3.decoder!.qkNorm, qwen3.decoder!.qkvBias, qwen3.tieWordEmbeddings], [true, false, true]);
  assert.deepEqual(qwen3.decoder!.layers.map((l) => l.window), Array(28).fill(null));

  const mistral = hub('mistral-7b-v0.1');
  assert.deepEqual([mistral.numHeads, mistral.numKvHeads, mistral.headDim], [32, 8, 128]);
  assert.deepEqual(mistral.decoder!.layers.map((l) => l.window), Array(32).fill(4096));
  assert.deepEqual(mistral.decoder!.layers[0]!.rope, plain(1e4, 128));

  const gemma = hub('gemma-3-270m');
  const g = gemma.decoder!;
  assert.deepEqual([gemma.numHeads, gemma.numKvHeads, gemma.headDim, gemma.hiddenSize, gemma.tieWordEmbeddings], [4, 1, 256, 640, true]);
  assert.deepEqual(g.layers.map((l) => l.window), Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? null : 512)));
  assert.deepEqual(g.layers[0]!.rope, plain(1e4, 256));
  assert.deepEqual(g.layers[5]!.rope, plain(1e6, 256));
  assert.equal(g.attnScale, 1 / 16);
  assert.equal(g.embedScale, Math.sqrt(640));

  const phi3 = hub('phi-3-mini-4k-instruct');
  assert.deepEqual([phi3.numHeads, phi3.numKvHeads, phi3.headDim, phi3.normEps], [32, 32, 96, 1e-5]);
  assert.deepEqual(phi3.decoder!.layers.map((l) => l.window), Array(32).fill(2047));
  assert.deepEqual(phi3.decoder!.layers[0]!.rope, plain(1e4, 96));
  assert.equal(phi3.decoder!.fused, true);
});

test('Phi-3.5-mini is refused by name: its longrope scaling', () => {
  assert.throws(() => hub('phi-3.5-mini-instruct'), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /phi-3\.5-mini-instruct\.json: field "rope_scaling\.type" "longrope" is not supported/);
    return true;
  });
});

test('GPT-style families: the published gpt2, pythia, opt and bloomz layouts', () => {
  const gpt2 = hub('gpt2');
  assert.deepEqual([gpt2.numHeads, gpt2.headDim, gpt2.intermediateSize, gpt2.maxPositions, gpt2.activation], [12, 64, 3072, 1024, 'gelu_new'], 'n_inner absent: 4 · n_embd');

  const pythia = hub('pythia-160m') as GptNeoxConfig;
  assert.deepEqual([pythia.numHeads, pythia.headDim, pythia.rotaryDim, pythia.ropeTheta], [12, 64, 16, 1e4], 'rotary_pct 0.25 of 64');
  assert.deepEqual([pythia.parallelResidual, pythia.tieWordEmbeddings, pythia.activation], [true, false, 'gelu']);

  const opt = hub('opt-125m');
  assert.deepEqual([opt.numHeads, opt.headDim, opt.intermediateSize, opt.maxPositions, opt.tieWordEmbeddings], [12, 64, 3072, 2048, true]);

  // bloomz-560m writes n_embed and num_attention_heads (not hidden_size / n_head).
  const bloom = hub('bloomz-560m') as BloomConfig;
  assert.deepEqual([bloom.hiddenSize, bloom.numHeads, bloom.numLayers, bloom.headDim, bloom.maxPositions], [1024, 16, 24, 64, 2048]);
});

test('every benchmark shape builds the model its hub config describes', () => {
  const fixtureOf: Record<string, string> = {
    'HuggingFaceTB/SmolLM2-135M': 'smollm2-135m',
    'meta-llama/Llama-3.2-1B': 'llama-3.2-1b',
    'Qwen/Qwen2.5-0.5B': 'qwen2.5-0.5b',
    'Qwen/Qwen3-0.6B': 'qwen3-0.6b',
    'mistralai/Mistral-7B-v0.1': 'mistral-7b-v0.1',
    'google/gemma-3-270m': 'gemma-3-270m',
    'microsoft/Phi-3-mini-4k-instruct': 'phi-3-mini-4k-instruct',
    'EleutherAI/pythia-160m': 'pythia-160m',
    'facebook/opt-125m': 'opt-125m',
    'bigscience/bloomz-560m': 'bloomz-560m',
  };
  const shapes = [...DECODER_FAMILY_SHAPES, ...GPT_FAMILY_SHAPES];
  assert.deepEqual(shapes.map((s) => s.hub).sort(), Object.keys(fixtureOf).sort());
  for (const s of shapes) {
    assert.deepEqual(shape(parseHfConfig(s.raw, `bench ${s.hub}`)), shape(hub(fixtureOf[s.hub]!)), s.hub);
  }
});

test('the scale shapes are SmolLM2-360M and TinyLlama-1.1B', () => {
  const sizes = (c: ModelConfig) => [c.hiddenSize, c.numLayers, c.intermediateSize, c.numHeads, c.numKvHeads, c.vocabSize, c.tieWordEmbeddings, c.ropeTheta];
  for (const [name, file] of [['smollm2-360m', 'smollm2-360m-instruct'], ['tinyllama-1.1b', 'tinyllama-1.1b-chat-v1.0']] as const) {
    const s = SCALE_SHAPES[name]!;
    assert.deepEqual([s.hidden, s.layers, s.ffn, s.heads, s.kvHeads, s.vocab, s.tied, s.ropeTheta], sizes(hub(file)), name);
  }
});
