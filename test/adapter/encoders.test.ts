/**
 * Adapters of methods that train through an encoder: p-tuning with PEFT's LSTM PromptEncoder and
 * prefix tuning with prefix_projection. PEFT's files hold only the encoder's output
 * (prompt_embeddings); softprompt.json holds the encoder so training can resume. Fixtures are built
 * here to PEFT's documented layout. Save → load is bit-exact; PEFT-only folders load as the
 * inference view; an encoder that belongs to another model or configuration is refused by name.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { prefixProjectionOutput, promptEmbeddingsToSave, pTuningEncoderOutput } from '../../src/adapter/encoder.ts';
import { AdapterError } from '../../src/adapter/errors.ts';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { encodeTensor } from '../../src/adapter/meta.ts';
import { pythonJson } from '../../src/adapter/peft_config.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { BaseModelFingerprint } from '../../src/adapter/types.ts';
import { ConfigError, MissingTensorError, ShapeMismatchError } from '../../src/errors.ts';
import { rankExample, RankScorer } from '../../src/eval/rank.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors, readSafetensorsMetadata } from '../../src/formats/safetensors.ts';
import { initParams } from '../../src/methods/init.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import { prefixTuning, prefixWidth } from '../../src/methods/prefix_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { assertSameBits, assertThrowsWith, tempDir } from '../formats/helpers.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';
import { values, writePeftAdapter } from './helpers.ts';

let model: ModelDir;
let tok: Tokenizer;
let fp: BaseModelFingerprint;

before(async () => {
  model = loadModelDir(STORIES);
  tok = await loadTokenizer(STORIES);
  fp = fingerprintModel(model);
});

const noWarnings = (m: string): never => assert.fail(`unexpected warning: ${m}`);
const quiet = { onWarning: () => {} };

function assertSameParams(a: Readonly<Record<string, Tensor>>, b: Readonly<Record<string, Tensor>>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k]!.shape, b[k]!.shape, k);
    assertSameBits(a[k]!.data as Float32Array, b[k]!.data as Float32Array, k);
  }
}

/**
 * adapter_config.json as PEFT's save_pretrained writes it (asdict(config), inference_mode True,
 * sort_keys) for PromptEncoderConfig(task_type="CAUSAL_LM", num_virtual_tokens=n,
 * encoder_reparameterization_type="LSTM", encoder_hidden_size=h) on stories260K.
 */
function peftLstmConfig(n: number, h: number): Record<string, unknown> {
  return {
    auto_mapping: null, base_model_name_or_path: 'stories260K', encoder_dropout: 0.0, encoder_hidden_size: h, encoder_num_layers: 2,
    encoder_reparameterization_type: 'LSTM', inference_mode: true, num_attention_heads: 8, num_layers: 5, num_transformer_submodules: 1,
    num_virtual_tokens: n, peft_type: 'P_TUNING', revision: null, task_type: 'CAUSAL_LM', token_dim: 64,
  };
}

/**
 * The same for PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n, prefix_projection=True,
 * encoder_hidden_size=h): stories260K has GQA (8 heads, 4 kv heads, head_dim 8), so PEFT's
 * _prepare_prompt_learning_config makes token_dim 4·8 = 32 and num_attention_heads 4.
 */
function peftProjectionConfig(n: number, h: number): Record<string, unknown> {
  return {
    auto_mapping: null, base_model_name_or_path: 'stories260K', encoder_hidden_size: h, inference_mode: true, num_attention_heads: 4,
    num_layers: 5, num_transformer_submodules: 1, num_virtual_tokens: n, peft_type: 'PREFIX_TUNING', prefix_projection: true, revision: null,
    task_type: 'CAUSAL_LM', token_dim: 32,
  };
}

const lstm = (n = 3, h = 8): PromptMethod => pTuning(model.config, { numVirtualTokens: n, encoderHiddenSize: h, encoderType: 'lstm' });
const projection = (n = 2, h = 16): PromptMethod => prefixTuning(model.config, { numVirtualTokens: n, projection: true, encoderHiddenSize: h });

interface Case {
  name: string;
  method: () => PromptMethod;
  peftConfig: () => Record<string, unknown>;
  /** The inference view's method kind. */
  view: PromptMethod['kind'];
}

const CASES: Case[] = [
  { name: 'p-tuning LSTM', method: () => lstm(3, 8), peftConfig: () => peftLstmConfig(3, 8), view: 'prompt_tuning' },
  { name: 'prefix projection', method: () => projection(2, 16), peftConfig: () => peftProjectionConfig(2, 16), view: 'prefix_tuning' },
];

for (const c of CASES) {
  test(`${c.name}: save → load is bit-exact; PEFT's files hold the encoder output, softprompt.json the encoder`, (t) => {
    const method = c.method();
    const trainable = initParams(model.config, method, { seed: 6 });
    const dir = tempDir(t, 'softprompt-adapter-');
    const saved = saveAdapter(dir, { method, trainable, config: model.config, fingerprint: fp, baseModelPath: 'stories260K' });

    // PEFT's two files: exactly what PEFT writes for this config.
    const text = readFileSync(saved.configPath, 'utf8');
    assert.equal(text, pythonJson(c.peftConfig()));
    assert.ok(text.includes('"encoder_dropout": 0.0') || c.view === 'prefix_tuning');
    const tensors = readSafetensors(saved.weightsPath);
    assert.deepEqual([...tensors.keys()], ['prompt_embeddings']);
    assert.deepEqual(readSafetensorsMetadata(saved.weightsPath), { format: 'pt' });
    const pe = tensors.get('prompt_embeddings')! as Tensor<'float32'>;
    assertSameParams({ pe }, { pe: promptEmbeddingsToSave(method, trainable) });
    assert.deepEqual(pe.shape, c.view === 'prefix_tuning' ? [2, prefixWidth(model.config)] : [3, model.config.hiddenSize]);

    const a = loadAdapter(dir, model, { onWarning: noWarnings });
    assert.equal(a.method.kind, c.view, 'the inference view');
    assertSameParams(a.params, { prompt_embeddings: pe });
    assertSameParams(a.trainable, trainable);
    assert.deepEqual(a.trainMethod.params, method.params);
    assert.deepEqual(a.trainMethod.encoder, method.encoder);

    // Saving the loaded trainable again gives the same bytes (resume → save).
    const again = tempDir(t, 'softprompt-adapter-');
    saveAdapter(again, { method: a.trainMethod, trainable: a.trainable, config: model.config, fingerprint: fp, baseModelPath: 'stories260K' });
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'softprompt.json']) {
      assert.ok(readFileSync(join(again, f)).equals(readFileSync(join(dir, f))), `${f} is byte-identical`);
    }

    // Without softprompt.json (as PEFT would hand it over) the inference view is unchanged.
    rmSync(join(dir, 'softprompt.json'));
    const warnings: string[] = [];
    const peftOnly = loadAdapter(dir, model, { onWarning: (m) => warnings.push(m) });
    assertSameParams(peftOnly.params, a.params);
    assert.equal(peftOnly.trainMethod, peftOnly.method);
    assert.equal(peftOnly.method.kind, c.view);
    assert.equal(warnings.length, c.view === 'prefix_tuning' ? 1 : 0, warnings.join('\n'));
  });
}

test('an LSTM encoder with 1 or 3 layers and one virtual token round-trips too (encoder_num_layers)', (t) => {
  for (const layers of [1, 3]) {
    const method = pTuning(model.config, { numVirtualTokens: 1, encoderHiddenSize: 4, encoderType: 'lstm', encoderNumLayers: layers });
    const trainable = initParams(model.config, method, { seed: layers });
    const dir = tempDir(t, 'softprompt-adapter-');
    saveAdapter(dir, { method, trainable, config: model.config, fingerprint: fp });
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.encoder_num_layers, layers);
    const a = loadAdapter(dir, model, { onWarning: noWarnings });
    assertSameParams(a.trainable, trainable);
    assert.deepEqual(a.trainMethod.encoder, { type: 'lstm', hiddenSize: 4, numLayers: layers });
  }
});

test("PEFT-written adapters (hand-built to PEFT's layout, no softprompt.json) load as the inference view", (t) => {
  const lstmDir = tempDir(t, 'softprompt-adapter-');
  const out = tensor('float32', [4, 64], values(4 * 64, 3));
  writePeftAdapter(lstmDir, peftLstmConfig(4, 32), { prompt_embeddings: out });
  const a = loadAdapter(lstmDir, model, { onWarning: noWarnings });
  assert.deepEqual([a.peftType, a.method.kind, a.trainMethod.kind, a.meta], ['P_TUNING', 'prompt_tuning', 'prompt_tuning', null]);
  assertSameParams(a.params, { prompt_embeddings: out });
  assert.equal(a.trainable, a.params);

  const prefixDir = tempDir(t, 'softprompt-adapter-');
  const table = tensor('float32', [2, prefixWidth(model.config)], values(2 * prefixWidth(model.config), 5));
  writePeftAdapter(prefixDir, peftProjectionConfig(2, 64), { prompt_embeddings: table });
  const warnings: string[] = [];
  const b = loadAdapter(prefixDir, model, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual([b.peftType, b.method.kind, b.trainMethod.kind], ['PREFIX_TUNING', 'prefix_tuning', 'prefix_tuning']);
  assert.equal(b.method.encoder, undefined, 'the table runs as plain prefix tuning');
  assertSameParams(b.params, { prompt_embeddings: table });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /field "prefix_projection" is true; PEFT saved the projected prefix, which runs exactly/);
});

/** A few story_gender-like examples, tokenized as eval does. */
function examples(): ReturnType<typeof rankExample>[] {
  return [
    'Once upon a time, there was a little girl named Lily. She loved to play outside.',
    'Tom went to the park. He saw a big dog.',
    'One day, a boy found a red ball.',
  ].map((text) => rankExample(tok, `${text}\nThe story is about a`, [' girl', ' boy']));
}

for (const c of CASES) {
  test(`${c.name}: the loaded inference view scores like the loaded encoder running in the graph (resume sees the same model)`, async (t) => {
    const method = c.method();
    const dir = tempDir(t, 'softprompt-adapter-');
    // Scaled up so the prompt visibly moves the scores.
    const trainable = Object.fromEntries(Object.entries(initParams(model.config, method, { seed: 12 })).map(([k, v]) => [k, tensor('float32', v.shape, v.data.map((x) => 2 * x))]));
    saveAdapter(dir, { method, trainable, config: model.config, fingerprint: fp });
    const a = loadAdapter(dir, model, { onWarning: noWarnings });
    const ex = examples();
    const enc = new RankScorer(model.config, model.weights, a.trainMethod, { params: a.trainable });
    const view = new RankScorer(model.config, model.weights, a.method, { params: a.params });
    try {
      const want = await enc.score(ex);
      const got = await view.score(ex);
      let diff = 0;
      want.scores.forEach((r, i) => r.forEach((x, k) => (diff = Math.max(diff, Math.abs(x - got.scores[i]![k]!)))));
      t.diagnostic(`max |Δ score| host encoder output vs graph encoder: ${diff.toExponential(2)}`);
      assert.ok(diff < 1e-4, `max |Δ| ${diff}`);
    } finally {
      await enc.release();
      await view.release();
    }
  });
}

// ---- Bad input ----

type Enc = Record<string, { shape: number[]; dtype: 'F32'; data_base64: string }>;

function editJson(dir: string, file: string, edit: (o: Record<string, unknown>) => void): void {
  const path = join(dir, file);
  const o = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(o);
  writeFileSync(path, JSON.stringify(o, null, 2));
}

function savedDir(t: TestContext, method: PromptMethod): string {
  const dir = tempDir(t, 'softprompt-adapter-');
  saveAdapter(dir, { method, trainable: initParams(model.config, method, { seed: 1 }), config: model.config, fingerprint: fp });
  return dir;
}

/** The encoder of `method` (trained on `config`) as softprompt.json stores it. */
function encoderOf(method: PromptMethod, config: ModelDir['config']): Enc {
  return Object.fromEntries(Object.entries(initParams(config, method, { seed: 2 })).map(([k, v]) => [k, encodeTensor(v)])) as Enc;
}

test('an LSTM encoder saved for another model (another hidden size) is refused, naming softprompt.json and the tensor', (t) => {
  const dir = savedDir(t, lstm(3, 8));
  const meta = join(dir, 'softprompt.json');
  const other = { ...model.config, hiddenSize: 48 };
  editJson(dir, 'softprompt.json', (o) => (o.encoder = encoderOf(pTuning(other, { numVirtualTokens: 3, encoderHiddenSize: 8, encoderType: 'lstm' }), other)));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [
    meta, 'field "encoder.embedding.weight"', 'shape [3, 48]', '[3, 64]', 'another model',
  ]);
});

test('a prefix projection saved for another model (tiny-gpt2: token_dim 64, 2 layers) is refused by tensor', (t) => {
  const dir = savedDir(t, projection(2, 16));
  const meta = join(dir, 'softprompt.json');
  const gpt2 = loadModelDir(join(GOLDEN, 'tiny-gpt2'));
  editJson(dir, 'softprompt.json', (o) => (o.encoder = encoderOf(prefixTuning(gpt2.config, { numVirtualTokens: 2, projection: true, encoderHiddenSize: 16 }), gpt2.config)));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [meta, 'field "encoder.embedding.weight"', 'shape [2, 64]', '[2, 32]', 'prefix projection']);
  // Right token_dim but another depth: the output layer names the mismatch.
  editJson(dir, 'softprompt.json', (o) => {
    const enc = o.encoder as Enc;
    enc['embedding.weight'] = encodeTensor(tensor('float32', [2, 32], values(64, 1)));
    enc['transform.0.weight'] = encodeTensor(tensor('float32', [16, 32], values(512, 2)));
  });
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [meta, 'field "encoder.transform.2.weight"', 'shape [256, 16]', `[${prefixWidth(model.config)}, 16]`]);
});

test('LSTM encoder vs adapter_config.json: hidden size, layers, encoder type, a missing tensor', (t) => {
  const dir = savedDir(t, lstm(3, 8));
  const cfg = join(dir, 'adapter_config.json');
  const meta = join(dir, 'softprompt.json');
  const cfgText = readFileSync(cfg, 'utf8');
  const metaText = readFileSync(meta, 'utf8');
  const reset = (): void => {
    writeFileSync(cfg, cfgText);
    writeFileSync(meta, metaText);
  };
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_hidden_size = 16));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [meta, 'field "encoder.lstm_head.weight_ih_l0"', 'shape [32, 64]', '[64, 64]', 'hidden size 16']);
  reset();
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_num_layers = 3));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), MissingTensorError, [meta, 'encoder.lstm_head.weight_ih_l2']);
  reset();
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_num_layers = 1));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [meta, 'field "encoder"', 'does not use', 'lstm_head.weight_ih_l1']);
  reset();
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_reparameterization_type = 'GRU'));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [cfg, 'field "encoder_reparameterization_type"', '"GRU"', '"MLP" or "LSTM"']);
  reset();
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_reparameterization_type = 'MLP'));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), AdapterError, [meta, 'field "encoder"', 'holds an LSTM encoder', cfg, 'encoder_reparameterization_type "MLP"']);
  // The other way round: an MLP encoder under an LSTM config.
  const mlpDir = savedDir(t, pTuning(model.config, { numVirtualTokens: 3, encoderHiddenSize: 8 }));
  editJson(mlpDir, 'adapter_config.json', (o) => (o.encoder_reparameterization_type = 'LSTM'));
  assertThrowsWith(() => loadAdapter(mlpDir, model, quiet), AdapterError, [join(mlpDir, 'softprompt.json'), 'field "encoder"', 'holds an MLP encoder', 'encoder_reparameterization_type "LSTM"']);
  reset();
  editJson(dir, 'softprompt.json', (o) => delete (o.encoder as Enc)['lstm_head.bias_hh_l1_reverse']);
  assertThrowsWith(() => loadAdapter(dir, model, quiet), MissingTensorError, [meta, 'encoder.lstm_head.bias_hh_l1_reverse']);
  reset();
  editJson(dir, 'softprompt.json', (o) => ((o.encoder as Enc)['lstm_head.bias_ih_l0']!.data_base64 = 'AAAA'));
  assertThrowsWith(() => loadAdapter(dir, model, quiet), ConfigError, [meta, 'field "encoder.lstm_head.bias_ih_l0.data_base64"', 'needs 128']);
  reset();
  editJson(dir, 'adapter_config.json', (o) => delete o.encoder_hidden_size);
  assertThrowsWith(() => loadAdapter(dir, model, quiet), ConfigError, [cfg, 'field "encoder_hidden_size"', 'is missing']);
});

test('prefix tuning: an encoder with prefix_projection false is ignored with a warning; a changed table warns', (t) => {
  const dir = savedDir(t, projection(2, 16));
  editJson(dir, 'adapter_config.json', (o) => (o.prefix_projection = false));
  const warnings: string[] = [];
  const a = loadAdapter(dir, model, { onWarning: (m) => warnings.push(m) });
  assert.equal(a.trainMethod, a.method);
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0]!, /softprompt\.json: field "encoder" is ignored/);

  const other = savedDir(t, projection(2, 16));
  const table = tensor('float32', [2, prefixWidth(model.config)], values(2 * prefixWidth(model.config), 9));
  writePeftAdapter(other, JSON.parse(readFileSync(join(other, 'adapter_config.json'), 'utf8')) as Record<string, unknown>, { prompt_embeddings: table });
  const w2: string[] = [];
  const b = loadAdapter(other, model, { onWarning: (m) => w2.push(m) });
  assertSameParams(b.params, { prompt_embeddings: table }); // inference uses the saved table
  assert.equal(w2.length, 1);
  assert.match(w2[0]!, /"prompt_embeddings" differ from the output of the encoder/);
});

test('the host encoders name the source and the tensor when shapes do not chain', () => {
  const p = initParams(model.config, lstm(3, 8), { seed: 1 });
  assertThrowsWith(() => pTuningEncoderOutput({ ...p, 'lstm_head.weight_hh_l1': tensor('float32', [32, 4], new Float32Array(128)) }, 'enc.json'), ShapeMismatchError, [
    'enc.json', '"lstm_head.weight_hh_l1"', '[32, 8]', '[32, 4]',
  ]);
  const { ['lstm_head.bias_hh_l0_reverse']: _, ...missing } = p;
  assertThrowsWith(() => pTuningEncoderOutput(missing, 'enc.json'), MissingTensorError, ['enc.json', 'lstm_head.bias_hh_l0_reverse']);
  const q = initParams(model.config, projection(2, 16), { seed: 1 });
  assertThrowsWith(() => prefixProjectionOutput({ ...q, 'transform.2.bias': tensor('float32', [3], new Float32Array(3)) }, 'proj.json'), ShapeMismatchError, [
    'proj.json', '"transform.2.bias"', `[${prefixWidth(model.config)}]`, '[3]',
  ]);
});
