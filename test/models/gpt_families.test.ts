/**
 * GPT-NeoX, OPT and BLOOM beyond the golden files: their configs in old and new layouts, the
 * settings refused by name, and rows of a mixed, padded batch that compute exactly what they
 * compute alone (OPT's positions and BLOOM's ALiBi both depend on each row's own positions), and
 * a few training steps that lower the loss, then KV-cached generation with the trained tensors.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { greedyFullRecompute } from '../../src/check/golden.ts';
import { ExampleEncoder, padIdOf, Template, Verbalizer } from '../../src/data/index.ts';
import { ConfigError } from '../../src/errors.ts';
import type { GptNeoxConfig } from '../../src/formats/gpt_config.ts';
import { parseHfConfig } from '../../src/formats/hf_config.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { batchFeeds } from '../../src/methods/batch.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { alibiSlopes } from '../../src/models/alibi.ts';
import { buildModel } from '../../src/models/registry.ts';
import { Graph } from '../../src/graph/graph.ts';
import { Generator } from '../../src/infer/generator.ts';
import { prefixFromTable } from '../../src/infer/kv.ts';
import { initParams } from '../../src/methods/init.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { TrainSource } from '../../src/train/source.ts';
import { train } from '../../src/train/trainer.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { assertThrowsWith } from '../formats/helpers.ts';
import { GOLDEN, SHARED } from '../helpers/paths.ts';

type Json = Record<string, unknown>;
const rawConfig = (name: string): Json => JSON.parse(readFileSync(join(GOLDEN, name, 'config.json'), 'utf8')) as Json;
const without = (o: Json, ...keys: string[]): Json => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));

describe('configs', () => {
  test('tiny-gpt-neox: rope_parameters (transformers 5) and rotary_pct + rotary_emb_base (older) give the same model', () => {
    const v5 = rawConfig('tiny-gpt-neox');
    const c = parseHfConfig(v5, 'neox/config.json') as GptNeoxConfig;
    assert.deepEqual(
      [c.headDim, c.rotaryDim, c.ropeTheta, c.parallelResidual, c.normEps, c.intermediateSize, c.tieWordEmbeddings, c.activation],
      [16, 4, 5000, true, 1e-6, 160, false, 'gelu'],
    );
    const old = { ...without(v5, 'rope_parameters'), rotary_pct: 0.25, rotary_emb_base: 5000, rope_scaling: null };
    const { raw: _a, ...a } = c;
    const { raw: _b, ...b } = parseHfConfig(old, 'neox/config.json') as GptNeoxConfig;
    assert.deepEqual(b, a);
    // GPTNeoXConfig's defaults: rotary_pct 0.25, base 10000.
    assert.deepEqual(
      [(parseHfConfig(without(v5, 'rope_parameters'), 'x') as GptNeoxConfig).rotaryDim, parseHfConfig(without(v5, 'rope_parameters'), 'x').ropeTheta],
      [4, 10000],
    );
  });

  test('tiny-opt and tiny-bloom; BLOOM accepts n_embed and num_attention_heads / num_hidden_layers for its old names', () => {
    const opt = parseHfConfig(rawConfig('tiny-opt'), 'opt/config.json');
    assert.deepEqual([opt.hiddenSize, opt.intermediateSize, opt.maxPositions, opt.normEps, opt.activation, opt.tieWordEmbeddings], [64, 160, 128, 1e-5, 'relu', true]);
    const bloomRaw = rawConfig('tiny-bloom');
    const bloom = parseHfConfig(bloomRaw, 'bloom/config.json');
    assert.deepEqual([bloom.hiddenSize, bloom.numHeads, bloom.headDim, bloom.numLayers, bloom.intermediateSize, bloom.normEps], [48, 6, 8, 2, 192, 1e-6]);
    const renamed = { ...without(bloomRaw, 'hidden_size', 'n_head', 'n_layer'), n_embed: 48, num_attention_heads: 6, num_hidden_layers: 2 };
    const { raw: _a, ...a } = bloom;
    const { raw: _b, ...b } = parseHfConfig(renamed, 'bloom/config.json');
    assert.deepEqual(b, a);
  });

  test('unsupported settings are refused, naming the file, the field and the value', () => {
    const neox = rawConfig('tiny-gpt-neox');
    const opt = rawConfig('tiny-opt');
    const bloom = rawConfig('tiny-bloom');
    const cases: [Json, string[]][] = [
      [{ ...opt, word_embed_proj_dim: 32 }, ['"word_embed_proj_dim"', '32 ≠ hidden_size 64']],
      [{ ...opt, do_layer_norm_before: false }, ['"do_layer_norm_before"', 'false', 'post-LayerNorm']],
      [{ ...opt, _remove_final_layer_norm: true }, ['"_remove_final_layer_norm"', 'true']],
      [{ ...opt, enable_bias: false }, ['"enable_bias"', 'false']],
      [{ ...opt, ffn_dim: undefined }, ['"ffn_dim"', 'is missing']],
      [{ ...neox, rope_parameters: { rope_type: 'linear', factor: 2, rope_theta: 5000 } }, ['"rope_parameters.rope_type"', '"linear"']],
      [{ ...without(neox, 'rope_parameters'), rope_scaling: { type: 'dynamic', factor: 2 } }, ['"rope_scaling.rope_type"', '"dynamic"']],
      [{ ...neox, rope_parameters: { partial_rotary_factor: 0.2, rope_theta: 5000 } }, ['"partial_rotary_factor"', 'rotates 3 of 16', 'even number']],
      [{ ...neox, attention_bias: false }, ['"attention_bias"', 'false']],
      [{ ...bloom, apply_residual_connection_post_layernorm: true }, ['"apply_residual_connection_post_layernorm"', 'true']],
      [{ ...bloom, num_attention_heads: 4 }, ['"num_attention_heads"', '(4) contradicts n_head (6)']],
      [without(bloom, 'n_head'), ['"n_head"', 'is missing', 'num_attention_heads']],
      [{ ...bloom, n_head: 5 }, ['"n_head"', '(5) must divide the hidden size (48)']],
    ];
    for (const [raw, parts] of cases) assertThrowsWith(() => parseHfConfig(raw, 'm/config.json'), ConfigError, ['m/config.json', ...parts]);
  });

  test('an activation the family does not have is refused when the model is built', () => {
    const m = loadModelDir(join(GOLDEN, 'tiny-gpt-neox'));
    const config = parseHfConfig({ ...rawConfig('tiny-gpt-neox'), hidden_act: 'swish' }, 'm/config.json');
    assertThrowsWith(() => buildModel(new Graph('t'), config, m.weights), ConfigError, ['"hidden_act"', '"swish"', 'gelu']);
  });

  test('ALiBi slopes: powers of two as in the paper, other head counts interleave those of the next power', () => {
    assert.deepEqual(alibiSlopes(6), [1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
    assert.deepEqual(alibiSlopes(8), Array.from({ length: 8 }, (_, h) => 2 ** -(h + 1)));
    alibiSlopes(12).slice(8).forEach((s, j) => assert.ok(Math.abs(s - 2 ** -(0.5 + j)) < 1e-15, `head ${8 + j}: ${s}`));
  });
});

/** Logits [B, S, V] of `method` (with `params`) on right-padded rows. */
async function logits(dir: string, method: PromptMethod | null, params: Record<string, Tensor>, rows: number[][]): Promise<Float32Array[]> {
  const m = loadModelDir(dir);
  const program = buildProgram(m.config, m.weights, method, { fullLogits: true, loss: false, gradients: false });
  const session = await compileGraph(program.graph);
  try {
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(B * T); // pad id 0
    const mask = new BigInt64Array(B * T);
    rows.forEach((r, b) => r.forEach((id, t) => ((ids[b * T + t] = BigInt(id)), (mask[b * T + t] = 1n))));
    const feeds = batchFeeds(method, { inputIds: tensor('int64', [B, T], ids), attentionMask: tensor('int64', [B, T], mask) });
    const out = (await session.run({ ...feeds, ...params }, ['logits']))['logits']!;
    const [, S, V] = out.shape as [number, number, number];
    return rows.map((_, b) => (out.data as Float32Array).slice(b * S * V, (b + 1) * S * V));
  } finally {
    await session.release();
  }
}

describe('a row of a mixed, padded batch computes what it computes alone', () => {
  const rows = [
    [1, 17, 300, 45, 99, 260, 7, 511, 12, 88, 401, 3, 150, 33],
    [1, 250, 9, 480],
    [1, 60, 61, 62, 63, 64, 65, 66],
  ];
  for (const name of ['tiny-gpt-neox', 'tiny-opt', 'tiny-bloom']) {
    test(name, async () => {
      const config = loadModelDir(join(GOLDEN, name)).config;
      const fill = (shape: number[], seed: number): Tensor =>
        tensor('float32', shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed + i * 0.37) * 0.5));
      const methods: [string, PromptMethod | null][] = [
        ['base', null],
        ['prompt tuning', promptTuning(config, { numVirtualTokens: 3 })],
        ['prefix tuning', prefixTuning(config, { numVirtualTokens: 3 })],
      ];
      for (const [label, method] of methods) {
        const params = Object.fromEntries((method?.params ?? []).map((p, i) => [p.name, fill([...p.shape], i + 1)]));
        const lead = method && method.kind !== 'prefix_tuning' ? method.numVirtualTokens : 0;
        const batch = await logits(join(GOLDEN, name), method, params, rows);
        for (let b = 0; b < rows.length; b++) {
          const [alone] = await logits(join(GOLDEN, name), method, params, [rows[b]!]);
          const real = (lead + rows[b]!.length) * config.vocabSize; // the real slots come first
          let err = 0;
          for (let i = 0; i < real; i++) err = Math.max(err, Math.abs(batch[b]![i]! - alone![i]!));
          assert.ok(err < 1e-5, `${name} ${label} row ${b}: max |Δlogit| ${err}`);
        }
      }
    });
  }
});

describe('a few training steps lower the loss; the trained tensors then steer KV-cached generation', () => {
  // Random tiny models barely react to their context (BLOOM least), so: one full batch of 8
  // examples per update, where the loss must fall at every step.
  for (const [name, kind] of [['tiny-gpt-neox', 'prefix'], ['tiny-opt', 'prompt'], ['tiny-bloom', 'prompt']] as const) {
    test(`${name}, ${kind} tuning`, async (t) => {
      const dir = join(GOLDEN, name);
      const m = loadModelDir(dir);
      const tok = await loadTokenizer(dir);
      const verbalizer = Verbalizer.fromJson('{"girl":" girl","boy":" boy"}');
      const encoder = new ExampleEncoder({ template: new Template('{text}\nThe story is about a'), verbalizer, tokenizer: tok, maxLength: 120, truncateField: 'text' });
      const method = kind === 'prefix' ? prefixTuning(m.config, { numVirtualTokens: 4 }) : promptTuning(m.config, { numVirtualTokens: 4 });
      const outDir = mkdtempSync(join(tmpdir(), 'sp-gpt-families-'));
      t.after(() => rmSync(outDir, { recursive: true, force: true }));
      let last: Record<string, Tensor> = {};
      await train({
        config: m.config, weights: m.weights, method, padId: padIdOf(tok),
        init: initParams(m.config, method, { seed: 1, weights: m.weights, tokenizer: tok }),
        source: new TrainSource({ file: join(SHARED, 'datasets', 'story_gender', 'train.jsonl'), encoder, batchSize: 8, seed: 1, maxExamples: 8 }),
        labels: verbalizer.labels, outDir, lr: 0.3, steps: 6, recipe: { test: name }, saveAdapter: (_dir, params) => (last = params),
      });
      const losses = MetricsLog.read(join(outDir, 'metrics.jsonl')).filter((e) => e.event === 'step').map((e) => e['loss'] as number);
      assert.equal(losses.length, 6);
      losses.slice(1).forEach((l, i) => assert.ok(l < losses[i]!, `loss falls at every step: ${losses.map((x) => x.toFixed(5)).join(' ')}`));

      const prompt = tok.encode('Once upon a time, there was a');
      const table = last['prompt_embeddings']!;
      const gen = await Generator.create(m.config, m.weights, { decode: (ids) => Array.from(ids).join(' '), eosTokenId: undefined });
      try {
        const prefix = kind === 'prefix' ? prefixFromTable(m.config, table) : (await gen.promptPrefixes([table]))[0]!;
        const [got] = await gen.run([{ promptIds: prompt, prefix, options: { maxNewTokens: 8 } }]);
        const program = buildProgram(m.config, m.weights, method, { fullLogits: true, loss: false, gradients: false });
        const session = await compileGraph(program.graph);
        assert.deepEqual(got!.ids, await greedyFullRecompute(session, method, { prompt_embeddings: table }, prompt, 8));
        await session.release();
      } finally {
        await gen.release();
      }
    });
  }
});
