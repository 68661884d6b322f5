/**
 * Every way an adapter folder can be wrong gets a typed error whose message names the file and the
 * field (or tensor), so the user can fix it without reading our code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { TestContext } from 'node:test';
import { AdapterError } from '../../src/adapter/errors.ts';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { BaseModelFingerprint } from '../../src/adapter/types.ts';
import { ConfigError, FormatError, MissingTensorError, ShapeMismatchError } from '../../src/errors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { initParams } from '../../src/methods/init.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { tensor } from '../../src/tensor.ts';
import { assertThrowsWith, tempDir } from '../formats/helpers.ts';
import { GOLDEN, STORIES } from '../helpers/paths.ts';
import { writePeftAdapter, writePeftPromptTuning, values } from './helpers.ts';

let model: ModelDir;
let fp: BaseModelFingerprint;

before(() => {
  model = loadModelDir(STORIES);
  fp = fingerprintModel(model);
});

const quiet = { onWarning: () => {} };
const load = (dir: string): unknown => loadAdapter(dir, model, quiet);

/** An adapter saved by softprompt in a fresh folder. */
function saved(t: TestContext, method: PromptMethod = promptTuning(model.config, { numVirtualTokens: 4 })): string {
  const dir = tempDir(t, 'softprompt-adapter-');
  saveAdapter(dir, { method, trainable: initParams(model.config, method, { seed: 1 }), config: model.config, fingerprint: fp });
  return dir;
}

/** Rewrites one JSON file of an adapter folder. */
function editJson(dir: string, file: string, edit: (o: Record<string, unknown>) => void): void {
  const path = join(dir, file);
  const o = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(o);
  writeFileSync(path, JSON.stringify(o, null, 2));
}

test('missing folder and missing files', (t) => {
  const root = tempDir(t, 'softprompt-adapter-');
  assertThrowsWith(() => load(join(root, 'nope')), FormatError, ['nope', 'adapter folder does not exist']);
  writeFileSync(join(root, 'file'), 'x');
  assertThrowsWith(() => load(join(root, 'file')), FormatError, ['file', 'this is a file']);

  const empty = join(root, 'empty');
  mkdirSync(empty);
  assertThrowsWith(() => load(empty), FormatError, [join(empty, 'adapter_config.json'), 'not found']);

  const dir = saved(t);
  rmSync(join(dir, 'adapter_model.safetensors'));
  assertThrowsWith(() => load(dir), FormatError, [join(dir, 'adapter_model.safetensors'), 'not found', 'prompt_embeddings']);
  writeFileSync(join(dir, 'adapter_model.bin'), 'PK\x03\x04 pickle');
  assertThrowsWith(() => load(dir), FormatError, [join(dir, 'adapter_model.bin'), 'pickle', 'safe_serialization=True']);
});

test('malformed JSON: adapter_config.json and softprompt.json', (t) => {
  const dir = saved(t);
  const cfg = join(dir, 'adapter_config.json');
  const text = readFileSync(cfg, 'utf8');
  writeFileSync(cfg, text.slice(0, text.length / 2));
  assertThrowsWith(() => load(dir), FormatError, [cfg, 'not valid JSON']);
  writeFileSync(cfg, '[1, 2]');
  assertThrowsWith(() => load(dir), FormatError, [cfg, 'JSON object']);
  writeFileSync(cfg, text);

  const meta = join(dir, 'softprompt.json');
  const metaText = readFileSync(meta, 'utf8');
  writeFileSync(meta, `${metaText}}`);
  assertThrowsWith(() => load(dir), FormatError, [meta, 'not valid JSON']);
  const cases: [(o: Record<string, unknown>) => void, string, string][] = [
    [(o) => (o.version = 2), 'version', 'reads version 1'],
    [(o) => (o.format = 'peft'), 'format', '"softprompt"'],
    [(o) => (o.verbalizer = { girl: 3 }), 'verbalizer.girl', 'continuation text'],
    [(o) => (o.template = { source: 5 }), 'template.source', 'must be a string'],
    [(o) => (o.init = { kind: 'zeros' }), 'init.kind', 'random, vocab, text, labels'],
    [(o) => ((o.base_model as Record<string, unknown>).sha256 = 'xyz'), 'base_model.sha256', '64 lowercase hex'],
    [(o) => ((o.base_model as Record<string, unknown>).num_layers = -1), 'base_model.num_layers', 'positive integer'],
    [(o) => (o.metrics = [1]), 'metrics', 'must be an object'],
  ];
  for (const [edit, field, detail] of cases) {
    writeFileSync(meta, metaText);
    editJson(dir, 'softprompt.json', edit);
    assertThrowsWith(() => load(dir), ConfigError, [meta, `field "${field}"`, detail]);
  }
});

test('p-tuning encoder in softprompt.json: corrupt data, wrong shape, missing tensor', (t) => {
  const dir = saved(t, pTuning(model.config, { numVirtualTokens: 3, encoderHiddenSize: 16 }));
  const meta = join(dir, 'softprompt.json');
  const text = readFileSync(meta, 'utf8');
  type Enc = Record<string, { shape: number[]; data_base64: string }>;
  const cases: [(e: Enc) => void, typeof ConfigError | typeof AdapterError | typeof MissingTensorError, string[]][] = [
    [(e) => (e['mlp_head.0.bias']!.data_base64 = e['mlp_head.0.bias']!.data_base64.slice(8)), ConfigError, ['field "encoder.mlp_head.0.bias.data_base64"', 'needs 64']],
    [(e) => (e['mlp_head.0.bias']!.data_base64 = '!!'), ConfigError, ['field "encoder.mlp_head.0.bias.data_base64"', 'base64']],
    [(e) => {
      e['mlp_head.0.bias']!.shape = [8, 2];
    }, AdapterError, ['field "encoder.mlp_head.0.bias"', 'shape [8, 2]', '[16]']],
    [(e) => delete e['mlp_head.4.weight'], MissingTensorError, ['encoder.mlp_head.4.weight']],
  ];
  for (const [edit, cls, parts] of cases) {
    writeFileSync(meta, text);
    editJson(dir, 'softprompt.json', (o) => edit(o.encoder as Enc));
    assertThrowsWith(() => load(dir), cls, [meta, ...parts]);
  }
  writeFileSync(meta, text);
  editJson(dir, 'adapter_config.json', (o) => (o.encoder_hidden_size = 32));
  assertThrowsWith(() => load(dir), AdapterError, [meta, 'field "encoder.mlp_head.0.weight"', 'shape [16, 64]', '[32, 64]']);
});

test('unsupported peft_type, task_type, num_transformer_submodules', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const cfg = join(dir, 'adapter_config.json');
  writePeftPromptTuning(dir, 4, (c) => (c.peft_type = 'LORA'));
  assertThrowsWith(() => load(dir), AdapterError, [cfg, 'field "peft_type"', '"LORA"', 'prompt-learning adapters only', 'PROMPT_TUNING, P_TUNING, PREFIX_TUNING']);
  writePeftPromptTuning(dir, 4, (c) => delete c.peft_type);
  assertThrowsWith(() => load(dir), ConfigError, [cfg, 'field "peft_type"', 'is missing']);
  writePeftPromptTuning(dir, 4, (c) => (c.task_type = 'SEQ_CLS'));
  assertThrowsWith(() => load(dir), AdapterError, [cfg, 'field "task_type"', '"SEQ_CLS"', 'CAUSAL_LM']);
  writePeftPromptTuning(dir, 4, (c) => (c.task_type = null));
  assertThrowsWith(() => load(dir), AdapterError, [cfg, 'field "task_type"', 'null']);
  writePeftPromptTuning(dir, 4, (c) => (c.num_transformer_submodules = 2));
  assertThrowsWith(() => load(dir), AdapterError, [cfg, 'field "num_transformer_submodules"', 'is 2']);
  writePeftPromptTuning(dir, 4, (c) => (c.num_virtual_tokens = 0));
  assertThrowsWith(() => load(dir), ConfigError, [cfg, 'field "num_virtual_tokens"', 'positive integer']);
});

test('token_dim that is not the model\'s hidden size', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  writePeftPromptTuning(dir, 4, (c) => (c.token_dim = 128));
  assertThrowsWith(() => load(dir), AdapterError, [join(dir, 'adapter_config.json'), 'field "token_dim"', 'is 128', 'hidden size is 64']);
});

test('prefix tuning: token_dim, num_layers, num_attention_heads must fit the model (GQA: kv heads)', (t) => {
  const dir = saved(t, prefixTuning(model.config, { numVirtualTokens: 2 }));
  const cfg = join(dir, 'adapter_config.json');
  const text = readFileSync(cfg, 'utf8');
  const cases: [string, number, string][] = [
    ['token_dim', 64, 'key/value width is 32'],
    ['num_layers', 4, 'has 5 layers'],
    ['num_attention_heads', 8, 'has 4 key/value heads'],
  ];
  for (const [field, value, detail] of cases) {
    writeFileSync(cfg, text);
    editJson(dir, 'adapter_config.json', (o) => (o[field] = value));
    assertThrowsWith(() => load(dir), AdapterError, [cfg, `field "${field}"`, `is ${value}`, detail]);
  }
  // For prompt tuning these sizes are unused: a mismatch only warns.
  const pt = saved(t);
  editJson(pt, 'adapter_config.json', (o) => (o.num_layers = 12));
  const warnings: string[] = [];
  loadAdapter(pt, model, { onWarning: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /adapter_config\.json: field "num_layers" is 12/);
});

test('prompt_embeddings missing or of the wrong shape', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const weights = join(dir, 'adapter_model.safetensors');
  const config = JSON.parse(JSON.stringify({
    auto_mapping: null, base_model_name_or_path: null, inference_mode: true, num_attention_heads: 8, num_layers: 5, num_transformer_submodules: 1,
    num_virtual_tokens: 4, peft_type: 'PROMPT_TUNING', prompt_tuning_init: 'RANDOM', prompt_tuning_init_text: null, revision: null,
    task_type: 'CAUSAL_LM', token_dim: 64, tokenizer_kwargs: null, tokenizer_name_or_path: null,
  })) as Record<string, unknown>;
  writePeftAdapter(dir, config, { prompt_embeddings: tensor('float32', [5, 64], values(5 * 64, 1)) });
  assertThrowsWith(() => load(dir), ShapeMismatchError, [weights, '"prompt_embeddings"', '[5, 64]', '[4, 64]']);
  writePeftAdapter(dir, config, { 'embedding.weight': tensor('float32', [4, 64], values(4 * 64, 1)) });
  assertThrowsWith(() => load(dir), MissingTensorError, [weights, 'missing tensor "prompt_embeddings"']);
  writeFileSync(weights, new Uint8Array([1, 2, 3]));
  assertThrowsWith(() => load(dir), FormatError, [weights]);
});

test('an adapter trained on another architecture is refused (softprompt.json base_model)', (t) => {
  const dir = saved(t);
  // tiny-gpt2 also has hidden size 64, so adapter_config.json alone would let it through.
  const gpt2 = loadModelDir(join(GOLDEN, 'tiny-gpt2'));
  assertThrowsWith(() => loadAdapter(dir, gpt2, quiet), AdapterError, [join(dir, 'softprompt.json'), 'field "base_model.model_type"', '"llama"', '"gpt2"', 'another architecture']);
});

test('saveAdapter refuses params that do not fit the method', (t) => {
  const dir = tempDir(t, 'softprompt-adapter-');
  const method = promptTuning(model.config, { numVirtualTokens: 4 });
  const save = (trainable: Record<string, ReturnType<typeof tensor>>): unknown => saveAdapter(dir, { method, trainable, config: model.config, fingerprint: fp });
  assertThrowsWith(() => save({}), AdapterError, [dir, '"prompt_embeddings" is missing']);
  assertThrowsWith(() => save({ prompt_embeddings: tensor('float32', [3, 64], new Float32Array(192)) }), AdapterError, ['shape [3, 64]', '[4, 64]']);
  const bad = new Float32Array(256);
  bad[5] = NaN;
  assertThrowsWith(() => save({ prompt_embeddings: tensor('float32', [4, 64], bad) }), AdapterError, ['NaN', 'diverged']);
  writeFileSync(join(dir, 'f'), '');
  assertThrowsWith(() => saveAdapter(join(dir, 'f'), { method, trainable: initParams(model.config, method, { seed: 1 }), config: model.config, fingerprint: fp }), FormatError, ['this is a file']);
});
