/**
 * PEFT-format adapters: a folder laid out by hand as PEFT writes it loads; save → load round-trips
 * bit-exactly for every method; the loaded adapter scores like the in-memory params.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { pTuningEncoderOutput } from '../../src/adapter/encoder.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { peftDims, pythonJson } from '../../src/adapter/peft_config.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { AdapterMetaInput } from '../../src/adapter/save.ts';
import type { BaseModelFingerprint, PromptInit } from '../../src/adapter/types.ts';
import { rankExample, RankScorer } from '../../src/eval/rank.ts';
import { readSafetensorsMetadata, readSafetensors } from '../../src/formats/safetensors.ts';
import { readLlama2c } from '../../src/formats/llama2c.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { memoryWeightStore } from '../../src/formats/weights.ts';
import { initParams } from '../../src/methods/init.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import { prefixTuning, prefixWidth } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assertSameBits, tempDir } from '../formats/helpers.ts';
import { STORIES } from '../helpers/paths.ts';
import { peftPromptTuningConfig, writePeftAdapter, writePeftPromptTuning, values } from './helpers.ts';

let model: ModelDir;
let tok: Tokenizer;
let fp: BaseModelFingerprint;

before(async () => {
  model = loadModelDir(STORIES);
  tok = await loadTokenizer(STORIES);
  fp = fingerprintModel(model);
});

const noWarnings = (m: string): never => assert.fail(`unexpected warning: ${m}`);

const META: AdapterMetaInput = {
  template: { source: '{text}\nThe story is about a' },
  verbalizer: { girl: ' girl', boy: ' boy' },
  label_field: 'label',
  training: { lr: 0.3, steps: 10, seed: 1 },
  metrics: { accuracy: 0.75, macro_f1: 0.74, n: 400, step: 10 },
};

function assertSameParams(a: Readonly<Record<string, Tensor>>, b: Readonly<Record<string, Tensor>>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k]!.shape, b[k]!.shape, k);
    assertSameBits(a[k]!.data as Float32Array, b[k]!.data as Float32Array, k);
  }
}

test('fingerprint: architecture and a sha256 of the embedding table, stable, sensitive to the weights', () => {
  assert.deepEqual({ ...fp, sha256: '' }, {
    model_type: 'llama', hidden_size: 64, num_layers: 5, num_attention_heads: 8, vocab_size: 512, sha256: '', path: model.dir,
  });
  assert.match(fp.sha256, /^[0-9a-f]{64}$/);
  assert.equal(fingerprintModel(model, 'elsewhere').sha256, fp.sha256);
  assert.equal(fingerprintModel(model, 'elsewhere').path, 'elsewhere');
  const table = model.weights.get('model.embed_tokens.weight');
  const changed = Float32Array.from(table.data);
  changed[7] = changed[7]! + 1e-3;
  const other = fingerprintModel({ config: model.config, weights: memoryWeightStore({ 'model.embed_tokens.weight': tensor('float32', table.shape, changed) }) });
  assert.notEqual(other.sha256, fp.sha256);
  // The llama2.c copy of stories260K is the same model: same hash.
  assert.equal(fingerprintModel(readLlama2c(join(STORIES, 'llama2c', 'stories260K.bin'))).sha256, fp.sha256);
});

test('a PEFT-written PROMPT_TUNING adapter (hand-built to PEFT\'s layout) loads, meta null', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const pe = writePeftPromptTuning(dir, 6);
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  assert.equal(a.peftType, 'PROMPT_TUNING');
  assert.equal(a.meta, null);
  assert.equal(a.method.kind, 'prompt_tuning');
  assert.equal(a.method.numVirtualTokens, 6);
  assert.equal(a.trainMethod, a.method);
  assertSameParams(a.params, { prompt_embeddings: pe });
  assert.equal(a.trainable, a.params);
  assert.equal(a.peftConfig['prompt_tuning_init_text'], 'Is the story about a girl or a boy?');

  // PEFT ≥ 0.17 adds modules_to_save, ≥ 0.18 peft_version: still loads.
  const newer = tempDir(t, 'softprompt-adapter-');
  writePeftPromptTuning(newer, 6, (c) => Object.assign(c, { modules_to_save: null, peft_version: '0.18.0' }));
  assert.equal(loadAdapter(newer, model, { onWarning: noWarnings }).method.numVirtualTokens, 6);
});

test('a PEFT-written P_TUNING adapter loads as prompt tuning over its saved encoder output', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const out = tensor('float32', [5, 64], values(5 * 64, 9));
  writePeftAdapter(dir, {
    auto_mapping: null, base_model_name_or_path: 'stories260K', encoder_dropout: 0.0, encoder_hidden_size: 64, encoder_num_layers: 2,
    encoder_reparameterization_type: 'LSTM', inference_mode: true, num_attention_heads: 8, num_layers: 5, num_transformer_submodules: 1,
    num_virtual_tokens: 5, peft_type: 'P_TUNING', revision: null, task_type: 'CAUSAL_LM', token_dim: 64,
  }, { prompt_embeddings: out });
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  assert.equal(a.peftType, 'P_TUNING');
  assert.equal(a.method.kind, 'prompt_tuning');
  assert.equal(a.trainMethod.kind, 'prompt_tuning');
  assertSameParams(a.params, { prompt_embeddings: out });
  assert.equal(a.trainable, a.params);
});

interface Case {
  name: string;
  method: PromptMethod;
  init?: PromptInit;
}

test('save → load round-trips bit-exactly for prompt tuning, p-tuning and prefix tuning', (t) => {
  const c = model.config;
  const cases: Case[] = [
    { name: 'prompt tuning (random)', method: promptTuning(c, { numVirtualTokens: 4 }) },
    { name: 'p-tuning', method: pTuning(c, { numVirtualTokens: 3, encoderHiddenSize: 16 }) },
    { name: 'prefix tuning', method: prefixTuning(c, { numVirtualTokens: 2 }) },
  ];
  for (const { name, method } of cases) {
    const dir = join(tempDir(t, 'softprompt-adapter-'), 'out', 'adapter'); // parents are created
    const trainable = initParams(c, method, { seed: 3 });
    const saved = saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: META });
    assert.deepEqual(readdirSync(dir).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'softprompt.json'], `${name}: no temporary files`);

    // PEFT's files: one tensor, torch's metadata, config text as json.dumps(indent=2, sort_keys=True).
    const tensors = readSafetensors(saved.weightsPath);
    assert.deepEqual([...tensors.keys()], ['prompt_embeddings'], name);
    assert.deepEqual(readSafetensorsMetadata(saved.weightsPath), { format: 'pt' });
    const text = readFileSync(saved.configPath, 'utf8');
    const cfg = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(cfg), Object.keys(cfg).sort(), 'sorted keys');
    assert.equal(text, pythonJson(cfg));
    const dims = peftDims(c, method.kind);
    assert.deepEqual(
      { task_type: cfg.task_type, n: cfg.num_virtual_tokens, token_dim: cfg.token_dim, heads: cfg.num_attention_heads, layers: cfg.num_layers, sub: cfg.num_transformer_submodules, inference_mode: cfg.inference_mode, base: cfg.base_model_name_or_path, revision: cfg.revision, auto_mapping: cfg.auto_mapping },
      { task_type: 'CAUSAL_LM', n: method.numVirtualTokens, token_dim: dims.tokenDim, heads: dims.numAttentionHeads, layers: 5, sub: 1, inference_mode: true, base: model.dir, revision: null, auto_mapping: null },
      name,
    );

    const a = loadAdapter(dir, model, { onWarning: noWarnings });
    assert.equal(a.trainMethod.kind, method.kind, name);
    assertSameParams(a.trainable, trainable);
    assert.deepEqual(a.meta?.template, META.template);
    assert.deepEqual(a.meta?.verbalizer, META.verbalizer);
    assert.deepEqual(a.meta?.training, META.training);
    assert.deepEqual(a.meta?.metrics, META.metrics);
    assert.equal(a.meta?.label_field, 'label');
    assert.deepEqual(a.meta?.base_model, fp);

    if (method.kind === 'p_tuning') {
      assert.equal(a.peftType, 'P_TUNING');
      assert.equal(a.method.kind, 'prompt_tuning', 'inference view');
      assertSameParams(a.params, { prompt_embeddings: pTuningEncoderOutput(trainable) });
      assert.deepEqual(a.trainMethod.params, method.params);
      assert.ok(text.includes('"encoder_dropout": 0.0,'), 'a Python float stays a float');
      assert.deepEqual([cfg.encoder_reparameterization_type, cfg.encoder_hidden_size, cfg.encoder_num_layers, cfg.encoder_dropout], ['MLP', 16, 2, 0]);
    } else {
      assertSameParams(a.params, trainable);
      assert.equal(a.method.kind, method.kind);
    }
    if (method.kind === 'prefix_tuning') {
      // stories260K has GQA (8 heads, 4 kv heads): PEFT sizes the prefix by the kv heads.
      assert.deepEqual([cfg.token_dim, cfg.num_attention_heads, cfg.encoder_hidden_size, cfg.prefix_projection], [32, 4, 32, false]);
      assert.deepEqual(a.params['prompt_embeddings']!.shape, [2, prefixWidth(c)]);
      assert.equal((cfg.num_layers as number) * 2 * (cfg.token_dim as number), prefixWidth(c));
    }
    if (method.kind === 'prompt_tuning') {
      assert.deepEqual([cfg.prompt_tuning_init, cfg.prompt_tuning_init_text, cfg.tokenizer_name_or_path, cfg.tokenizer_kwargs], ['RANDOM', null, null, null]);
    }

    // Saving again over the folder replaces it (resume → save).
    const next = Object.fromEntries(Object.entries(trainable).map(([k, v]) => [k, tensor('float32', v.shape, (v.data as Float32Array).map((x) => x * 2))]));
    saveAdapter(dir, { method, trainable: next, config: c, fingerprint: fp });
    const b = loadAdapter(dir, model, { onWarning: noWarnings });
    assertSameParams(b.trainable, next);
    assert.equal(b.meta?.template, undefined);
  }
});

test('prompt_tuning_init in adapter_config.json, and the real init in softprompt.json', (t) => {
  const c = model.config;
  const method = promptTuning(c, { numVirtualTokens: 4 });
  const trainable = initParams(c, method, { seed: 1 });
  const expected: [PromptInit, unknown[]][] = [
    [{ kind: 'random' }, ['RANDOM', null, null]],
    [{ kind: 'vocab' }, ['SAMPLE_VOCAB', null, null]],
    [{ kind: 'text', text: 'Once upon a time' }, ['TEXT', 'Once upon a time', model.dir]],
    [{ kind: 'labels' }, ['SAMPLE_VOCAB', null, null]],
  ];
  for (const [init, fields] of expected) {
    const dir = tempDir(t, 'softprompt-adapter-');
    saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: { init } });
    const a = loadAdapter(dir, model, { onWarning: noWarnings });
    assert.deepEqual([a.peftConfig['prompt_tuning_init'], a.peftConfig['prompt_tuning_init_text'], a.peftConfig['tokenizer_name_or_path']], fields, init.kind);
    assert.deepEqual(a.meta?.init, init);
  }
  // A TEXT init without a tokenizer path is not loadable by PEFT: SAMPLE_VOCAB instead.
  const dir = tempDir(t, 'softprompt-adapter-');
  saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: { init: { kind: 'text', text: 'x' } }, baseModelPath: null });
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  assert.deepEqual([a.peftConfig['prompt_tuning_init'], a.peftConfig['base_model_name_or_path']], ['SAMPLE_VOCAB', null]);
  assert.deepEqual(a.meta?.init, { kind: 'text', text: 'x' });
});

test('other weights of the same architecture: a warning, not an error', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const method = promptTuning(model.config, { numVirtualTokens: 2 });
  saveAdapter(dir, { method, trainable: initParams(model.config, method, { seed: 1 }), config: model.config, fingerprint: { ...fp, sha256: 'ab'.repeat(32) } });
  const warnings: string[] = [];
  loadAdapter(dir, model, { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /softprompt\.json: field "base_model\.sha256" differs/);
  // Without weights there is nothing to compare.
  loadAdapter(dir, { config: model.config }, { onWarning: noWarnings });
});

/** A few story_gender-like examples, tokenized as eval does. */
function examples(): ReturnType<typeof rankExample>[] {
  return [
    'Once upon a time, there was a little girl named Lily. She loved to play outside.',
    'Tom went to the park. He saw a big dog.',
    'One day, a boy found a red ball.',
  ].map((text) => rankExample(tok, `${text}\nThe story is about a`, [' girl', ' boy']));
}

test('a loaded prompt-tuning adapter scores exactly like the in-memory params (RankScorer)', async (t) => {
  const c = model.config;
  const method = promptTuning(c, { numVirtualTokens: 4 });
  const trainable = initParams(c, method, { seed: 21, init: { kind: 'vocab' }, weights: model.weights });
  const dir = tempDir(t, 'softprompt-adapter-');
  saveAdapter(dir, { method, trainable, config: c, fingerprint: fp });
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  const ex = examples();
  const mem = new RankScorer(c, model.weights, method, { params: trainable });
  const loaded = new RankScorer(c, model.weights, a.method, { params: a.params });
  try {
    const want = await mem.score(ex);
    const got = await loaded.score(ex);
    assert.deepEqual(got, want);
  } finally {
    await mem.release();
    await loaded.release();
  }
});

test('a loaded p-tuning adapter (inference view) scores like the encoder it was saved from', async (t) => {
  const c = model.config;
  const method = pTuning(c, { numVirtualTokens: 3, encoderHiddenSize: 16 });
  const trainable = initParams(c, method, { seed: 4 });
  const dir = tempDir(t, 'softprompt-adapter-');
  saveAdapter(dir, { method, trainable, config: c, fingerprint: fp });
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  const ex = examples();
  const enc = new RankScorer(c, model.weights, method, { params: trainable }); // the encoder runs in ORT
  const view = new RankScorer(c, model.weights, a.method, { params: a.params });
  try {
    const want = await enc.score(ex);
    const got = await view.score(ex);
    let diff = 0;
    want.scores.forEach((r, i) => r.forEach((x, k) => (diff = Math.max(diff, Math.abs(x - got.scores[i]![k]!)))));
    t.diagnostic(`max |Δ score| host encoder vs ORT encoder: ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-4, `max |Δ| ${diff}`);
  } finally {
    await enc.release();
    await view.release();
  }
  // The inference view needs only the adapter's two PEFT files.
  rmSync(join(dir, 'softprompt.json'));
  const peftOnly = loadAdapter(dir, model, { onWarning: noWarnings });
  assertSameParams(peftOnly.params, a.params);
  assert.equal(peftOnly.trainMethod.kind, 'prompt_tuning');
});

test('the hand-built PEFT config matches what saveAdapter writes for the same adapter', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const method = promptTuning(model.config, { numVirtualTokens: 6 });
  saveAdapter(dir, {
    method, trainable: initParams(model.config, method, { seed: 1 }), config: model.config, fingerprint: fp,
    meta: { init: { kind: 'text', text: 'Is the story about a girl or a boy?' } }, baseModelPath: 'stories260K',
  });
  const ours = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(ours, peftPromptTuningConfig(6));
});
