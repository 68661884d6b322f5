/**
 * MULTITASK_PROMPT_TUNING adapters: a folder hand-built to PEFT's layout loads; save → load
 * round-trips bit-exactly with the task names; the source inits (AVERAGE_SOURCE_TASKS,
 * EXACT_SOURCE_TASK, ONLY_SOURCE_SHARED) give their documented values; sizes that disagree with
 * each other or with the model fail naming the file and the field.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { AdapterError } from '../../src/adapter/errors.ts';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { loadAdapter } from '../../src/adapter/load.ts';
import { pythonJson } from '../../src/adapter/peft_config.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { BaseModelFingerprint } from '../../src/adapter/types.ts';
import { ConfigError } from '../../src/errors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import type { ModelDir } from '../../src/formats/model_dir.ts';
import { readSafetensors, readSafetensorsMetadata, writeSafetensors } from '../../src/formats/safetensors.ts';
import { initParams } from '../../src/methods/init.ts';
import { multitaskPromptTuning, multitaskTaskPrompt } from '../../src/methods/multitask.ts';
import { applyMultitaskSourceInit, initMultitaskParams, readMultitaskSource } from '../../src/methods/multitask_init.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';
import { assertSameBits, tempDir } from '../formats/helpers.ts';
import { STORIES } from '../helpers/paths.ts';
import { values, writePeftAdapter, writePeftPromptTuning } from './helpers.ts';

let model: ModelDir;
let fp: BaseModelFingerprint;
const D = 64; // stories260K's hidden size

before(() => {
  model = loadModelDir(STORIES);
  fp = fingerprintModel(model);
});

const noWarnings = (m: string): never => assert.fail(`unexpected warning: ${m}`);

function assertSameParams(a: Readonly<Record<string, Tensor>>, b: Readonly<Record<string, Tensor>>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual([...a[k]!.shape], [...b[k]!.shape], k);
    assertSameBits(a[k]!.data as Float32Array, b[k]!.data as Float32Array, k);
  }
}

/**
 * adapter_config.json as PEFT's save_pretrained writes it for
 * MultitaskPromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n, num_tasks, num_ranks,
 * prompt_tuning_init="TEXT", ...) on stories260K: asdict(config), inference_mode True, sorted keys.
 */
function peftMptConfig(n: number, numTasks: number, numRanks: number): Record<string, unknown> {
  return {
    auto_mapping: null,
    base_model_name_or_path: 'stories260K',
    inference_mode: true,
    num_attention_heads: 8,
    num_layers: 5,
    num_ranks: numRanks,
    num_tasks: numTasks,
    num_transformer_submodules: 1,
    num_virtual_tokens: n,
    peft_type: 'MULTITASK_PROMPT_TUNING',
    prompt_tuning_init: 'TEXT',
    prompt_tuning_init_state_dict_path: null,
    prompt_tuning_init_task: 0,
    prompt_tuning_init_text: 'classify the following into either positive or negative',
    revision: null,
    task_type: 'CAUSAL_LM',
    token_dim: D,
    tokenizer_kwargs: null,
    tokenizer_name_or_path: 'stories260K',
  };
}

/** PEFT's get_peft_model_state_dict of an MPT model: prompt_embeddings (= embedding.weight), cols, rows. */
function mptTensors(n: number, T: number, r: number, d = D, seed = 1): Record<string, Tensor<'float32'>> {
  return {
    prompt_embeddings: tensor('float32', [n, d], values(n * d, seed)),
    prefix_task_cols: tensor('float32', [T, n, r], values(T * n * r, seed + 1)),
    prefix_task_rows: tensor('float32', [T, r, d], values(T * r * d, seed + 2)),
  };
}

function writePeftMpt(dir: string, n: number, T: number, r: number, edit: (c: Record<string, unknown>, t: Record<string, Tensor>) => void = () => {}): Record<string, Tensor<'float32'>> {
  const config = peftMptConfig(n, T, r);
  const tensors = mptTensors(n, T, r);
  edit(config, tensors);
  writePeftAdapter(dir, config, tensors);
  return tensors;
}

test('a PEFT-written MULTITASK_PROMPT_TUNING adapter (hand-built to PEFT\'s layout) loads; tasks "0".."N-1"', (t) => {
  const dir = tempDir(t, 'softprompt-mpt-');
  const saved = writePeftMpt(dir, 4, 3, 2);
  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  assert.equal(a.peftType, 'MULTITASK_PROMPT_TUNING');
  assert.equal(a.meta, null);
  assert.equal(a.method.kind, 'multitask_prompt_tuning');
  assert.equal(a.method.numVirtualTokens, 4);
  assert.equal(a.method.numTasks, 3);
  assert.deepEqual(a.method.params.map((p) => [p.name, [...p.shape]]), [['embedding.weight', [4, D]], ['prefix_task_cols', [3, 4, 2]], ['prefix_task_rows', [3, 2, D]]]);
  assertSameParams(a.params, { 'embedding.weight': saved.prompt_embeddings!, prefix_task_cols: saved.prefix_task_cols!, prefix_task_rows: saved.prefix_task_rows! });
  assert.equal(a.trainable, a.params);
  assert.equal(a.trainMethod, a.method);
  assert.deepEqual(a.tasks, ['0', '1', '2']);
  assert.equal(a.peftConfig['prompt_tuning_init'], 'TEXT');

  // Without num_tasks / num_ranks (PEFT's defaults 1) and with newer PEFT's extra keys.
  const defaults = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(defaults, 4, 1, 1, (c) => {
    delete c.num_tasks;
    delete c.num_ranks;
    Object.assign(c, { modules_to_save: null, peft_version: '0.18.0' });
  });
  const b = loadAdapter(defaults, model, { onWarning: noWarnings });
  assert.equal(b.method.numTasks, 1);
  assert.deepEqual(b.tasks, ['0']);
  // The other methods have no tasks.
  const pt = tempDir(t, 'softprompt-mpt-');
  writePeftPromptTuning(pt, 3);
  assert.equal(loadAdapter(pt, model, { onWarning: noWarnings }).tasks, undefined);
});

test('save → load round-trips bit-exactly: PEFT\'s three tensors and config fields, task names in softprompt.json', (t) => {
  const c = model.config;
  const method = multitaskPromptTuning(c, { numVirtualTokens: 4, numTasks: 3, numRanks: 2 });
  const trainable = initParams(c, method, { seed: 4 });
  const dir = join(tempDir(t, 'softprompt-mpt-'), 'adapter');
  const tasks = ['sst2', 'rte', 'mnli'];
  const sourceInit = { kind: 'exact_source_task' as const, path: '/somewhere/source', task: 1 };
  const saved = saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: { tasks, source_init: sourceInit, init: { kind: 'random' } } });

  // adapter_model.safetensors: prompt_embeddings is the shared embedding.weight, not a product.
  const file = readSafetensors(saved.weightsPath);
  assert.deepEqual([...file.keys()].sort(), ['prefix_task_cols', 'prefix_task_rows', 'prompt_embeddings']);
  assert.deepEqual(readSafetensorsMetadata(saved.weightsPath), { format: 'pt' });
  assertSameBits(file.get('prompt_embeddings')!.data as Float32Array, trainable['embedding.weight']!.data, 'prompt_embeddings');
  assertSameBits(file.get('prefix_task_cols')!.data as Float32Array, trainable['prefix_task_cols']!.data, 'prefix_task_cols');
  assertSameBits(file.get('prefix_task_rows')!.data as Float32Array, trainable['prefix_task_rows']!.data, 'prefix_task_rows');

  // adapter_config.json: exactly MultitaskPromptTuningConfig's keys, as json.dumps(indent=2, sort_keys=True).
  const text = readFileSync(saved.configPath, 'utf8');
  const cfg = JSON.parse(text) as Record<string, unknown>;
  assert.equal(text, pythonJson(cfg));
  assert.deepEqual(Object.keys(cfg), Object.keys(peftMptConfig(4, 3, 2)).sort());
  assert.deepEqual(cfg, {
    ...peftMptConfig(4, 3, 2),
    base_model_name_or_path: model.dir,
    // The shared prompt's init: PEFT re-runs a source init on every load (torch.load of the path).
    prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null,
    tokenizer_name_or_path: null,
    prompt_tuning_init_state_dict_path: '/somewhere/source',
    prompt_tuning_init_task: 1,
  });

  const a = loadAdapter(dir, model, { onWarning: noWarnings });
  assert.equal(a.peftType, 'MULTITASK_PROMPT_TUNING');
  assert.deepEqual(a.method.params, method.params);
  assert.equal(a.method.numTasks, 3);
  assertSameParams(a.params, trainable);
  assertSameParams(a.trainable, trainable);
  assert.deepEqual(a.tasks, tasks);
  assert.deepEqual(a.meta?.tasks, tasks);
  assert.deepEqual(a.meta?.source_init, sourceInit);
  assert.deepEqual(a.meta?.base_model, fp);
  for (const id of [0, 1, 2]) assertSameBits(multitaskTaskPrompt(a.params, id).data as Float32Array, multitaskTaskPrompt(trainable, id).data as Float32Array, `task ${id}`);

  // Without source init: path null, task 0 (PEFT's defaults).
  const plain = join(tempDir(t, 'softprompt-mpt-'), 'adapter');
  saveAdapter(plain, { method, trainable, config: c, fingerprint: fp });
  const plainCfg = JSON.parse(readFileSync(join(plain, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([plainCfg.prompt_tuning_init, plainCfg.prompt_tuning_init_state_dict_path, plainCfg.prompt_tuning_init_task, plainCfg.num_tasks, plainCfg.num_ranks], ['RANDOM', null, 0, 3, 2]);
  assert.deepEqual(loadAdapter(plain, model, { onWarning: noWarnings }).tasks, ['0', '1', '2']);
});

test('saving checks the task names: one per task, distinct, and only for multitask prompt tuning', (t) => {
  const c = model.config;
  const method = multitaskPromptTuning(c, { numVirtualTokens: 2, numTasks: 2, numRanks: 1 });
  const trainable = initParams(c, method, { seed: 1 });
  const dir = tempDir(t, 'softprompt-mpt-');
  assert.throws(() => saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: { tasks: ['a'] } }), /field "tasks" names 1 tasks \(a\) but the method has 2/);
  assert.throws(() => saveAdapter(dir, { method, trainable, config: c, fingerprint: fp, meta: { tasks: ['a', 'a'] } }), /field "tasks" must be distinct non-empty names/);
  const pt = promptTuning(c, { numVirtualTokens: 2 });
  assert.throws(() => saveAdapter(dir, { method: pt, trainable: initParams(c, pt, { seed: 1 }), config: c, fingerprint: fp, meta: { tasks: ['a'] } }), /field "tasks" is given but prompt_tuning has no tasks/);
});

// ---- Source inits ----

/**
 * A source MPT adapter with 4 tasks, n 2, 2 ranks: cols[k] all k+1 halves, rows[k][i][j] = k + i + j/4,
 * so every mean over tasks is exact in float32.
 */
function writeSource(dir: string, n = 2, r = 2, T = 4): Record<string, Tensor<'float32'>> {
  const cols = new Float32Array(T * n * r);
  for (let k = 0; k < T; k++) for (let i = 0; i < n * r; i++) cols[k * n * r + i] = (k + 1) / 2 + i;
  const rows = new Float32Array(T * r * D);
  for (let k = 0; k < T; k++) for (let i = 0; i < r; i++) for (let j = 0; j < D; j++) rows[(k * r + i) * D + j] = k + i + j / 4;
  const tensors = {
    prompt_embeddings: tensor('float32', [n, D], values(n * D, 77)),
    prefix_task_cols: tensor('float32', [T, n, r], cols),
    prefix_task_rows: tensor('float32', [T, r, D], rows),
  };
  writePeftAdapter(dir, peftMptConfig(n, T, r), tensors);
  return tensors;
}

test('source inits: AVERAGE_SOURCE_TASKS = mean over tasks, EXACT_SOURCE_TASK = the picked task, ONLY_SOURCE_SHARED = the shared prompt only', (t) => {
  const c = model.config;
  const srcDir = tempDir(t, 'softprompt-mpt-src-');
  const src = writeSource(srcDir);
  const method = multitaskPromptTuning(c, { numVirtualTokens: 2, numTasks: 3, numRanks: 2 }); // 3 target tasks
  const fresh = initParams(c, method, { seed: 9 });

  // AVERAGE_SOURCE_TASKS: cols = mean over k of ((k+1)/2 + i) = 1.25 + i; rows = 1.5 + i + j/4. Every target task gets them.
  const avg = initMultitaskParams(c, method, { seed: 9, source: { kind: 'average_source_tasks', path: srcDir } });
  assertSameBits(avg['embedding.weight']!.data, src.prompt_embeddings!.data, 'embedding = source prompt_embeddings');
  assert.deepEqual([...avg['prefix_task_cols']!.shape], [3, 2, 2]);
  assert.deepEqual(Array.from(avg['prefix_task_cols']!.data), [0, 1, 2].flatMap(() => [1.25, 2.25, 3.25, 4.25]));
  const rowsAvg = avg['prefix_task_rows']!;
  assert.deepEqual([...rowsAvg.shape], [3, 2, D]);
  for (const [k, i, j] of [[0, 0, 0], [0, 1, 5], [2, 0, 63], [1, 1, 10]] as const) assert.equal(rowsAvg.data[(k * 2 + i) * D + j], 1.5 + i + j / 4, `rows[${k}][${i}][${j}]`);

  // EXACT_SOURCE_TASK 2: cols = 1.5 + i, rows = 2 + i + j/4, in every target task. From the safetensors file too.
  for (const path of [srcDir, join(srcDir, 'adapter_model.safetensors')]) {
    const exact = initMultitaskParams(c, method, { seed: 9, source: { kind: 'exact_source_task', path, task: 2 } });
    assertSameBits(exact['embedding.weight']!.data, src.prompt_embeddings!.data, 'embedding');
    assert.deepEqual(Array.from(exact['prefix_task_cols']!.data), [0, 1, 2].flatMap(() => [1.5, 2.5, 3.5, 4.5]));
    for (let k = 0; k < 3; k++) assertSameBits(exact['prefix_task_rows']!.data.subarray(k * 2 * D, (k + 1) * 2 * D), src.prefix_task_rows!.data.subarray(2 * 2 * D, 3 * 2 * D), `target task ${k} = source task 2`);
  }
  // Task defaults to 0 (PEFT's prompt_tuning_init_task).
  const exact0 = initMultitaskParams(c, method, { seed: 9, source: { kind: 'exact_source_task', path: srcDir } });
  assert.deepEqual(Array.from(exact0['prefix_task_cols']!.data.subarray(0, 4)), [0.5, 1.5, 2.5, 3.5]);

  // ONLY_SOURCE_SHARED: the shared prompt; the factors stay the fresh N(0, 0.02²) ones (any ranks).
  const shared = initMultitaskParams(c, method, { seed: 9, source: { kind: 'only_source_shared', path: srcDir } });
  assertSameBits(shared['embedding.weight']!.data, src.prompt_embeddings!.data, 'embedding');
  assertSameBits(shared['prefix_task_cols']!.data, fresh['prefix_task_cols']!.data, 'fresh cols');
  assertSameBits(shared['prefix_task_rows']!.data, fresh['prefix_task_rows']!.data, 'fresh rows');
  const rank5 = multitaskPromptTuning(c, { numVirtualTokens: 2, numTasks: 1, numRanks: 5 });
  assert.deepEqual([...initMultitaskParams(c, rank5, { seed: 1, source: { kind: 'only_source_shared', path: srcDir } })['prefix_task_cols']!.shape], [1, 2, 5]);

  // Without a source: initParams's values.
  assertSameParams(initMultitaskParams(c, method, { seed: 9 }), fresh);
});

test('source init errors: not an MPT adapter, d or n or ranks that disagree, a task out of range (file and field named)', (t) => {
  const c = model.config;
  const srcDir = tempDir(t, 'softprompt-mpt-src-');
  writeSource(srcDir);
  const srcFile = join(srcDir, 'adapter_model.safetensors');
  const mpt = (n: number, T: number, r: number) => multitaskPromptTuning(c, { numVirtualTokens: n, numTasks: T, numRanks: r });
  const fresh = (m: ReturnType<typeof mpt>) => initParams(c, m, { seed: 1 });
  const fails = (fn: () => unknown, file: string, field: string, re: RegExp): void => {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof AdapterError, `an AdapterError, got ${String(e)}`);
      assert.equal(e.file, file);
      assert.equal(e.field, field);
      assert.match(e.message, re);
      return true;
    });
  };

  // Task out of range (the source has tasks 0..3).
  const m = mpt(2, 1, 2);
  fails(() => applyMultitaskSourceInit(m, fresh(m), { kind: 'exact_source_task', path: srcDir, task: 4 }), srcFile, 'prefix_task_cols', /has 4 source tasks \(0\.\.3\); source task 4 \(prompt_tuning_init_task\) is out of range/);
  fails(() => applyMultitaskSourceInit(m, fresh(m), { kind: 'exact_source_task', path: srcDir, task: -1 }), srcFile, 'prefix_task_cols', /source task -1/);

  // A PROMPT_TUNING folder is not a source; nor is a safetensors file with prompt_embeddings only.
  const ptDir = tempDir(t, 'softprompt-mpt-src-');
  writePeftPromptTuning(ptDir, 2);
  fails(() => readMultitaskSource(ptDir), join(ptDir, 'adapter_config.json'), 'peft_type', /is "PROMPT_TUNING": a source init .* starts from a MULTITASK_PROMPT_TUNING adapter/);
  const bare = join(tempDir(t, 'softprompt-mpt-src-'), 'prompt.safetensors');
  writeSafetensors(bare, { prompt_embeddings: tensor('float32', [2, D], values(2 * D, 3)) });
  fails(() => applyMultitaskSourceInit(m, fresh(m), { kind: 'only_source_shared', path: bare }), bare, 'prefix_task_cols', /is missing .* needs a multitask prompt tuning adapter/);

  // Sizes that do not fit the target: virtual tokens, ranks; token_dim of another model.
  const m3 = mpt(3, 1, 2);
  fails(() => applyMultitaskSourceInit(m3, fresh(m3), { kind: 'average_source_tasks', path: srcDir }), srcFile, 'prompt_embeddings', /2 virtual tokens, but this run has 3/);
  const r3 = mpt(2, 1, 3);
  fails(() => applyMultitaskSourceInit(r3, fresh(r3), { kind: 'average_source_tasks', path: srcDir }), srcFile, 'prefix_task_cols', /2 ranks, but this run has num_ranks 3/);
  const otherDir = tempDir(t, 'softprompt-mpt-src-');
  writePeftAdapter(otherDir, { ...peftMptConfig(2, 2, 1), token_dim: 32 }, mptTensors(2, 2, 1, 32));
  fails(() => applyMultitaskSourceInit(m, fresh(m), { kind: 'only_source_shared', path: otherDir }), join(otherDir, 'adapter_model.safetensors'), 'prompt_embeddings', /token_dim 32, but the model's hidden size is 64/);
  // A source whose own tensors disagree.
  const broken = tempDir(t, 'softprompt-mpt-src-');
  writePeftAdapter(broken, peftMptConfig(2, 2, 1), { ...mptTensors(2, 2, 1), prefix_task_rows: tensor('float32', [3, 1, D], values(3 * D, 5)) });
  fails(() => readMultitaskSource(broken), join(broken, 'adapter_model.safetensors'), 'prefix_task_rows', /has shape \[3, 1, 64\] but .* imply \[2, 1, 64\]/);
});

// ---- Loading errors ----

test('loading errors: num_tasks / num_ranks / num_virtual_tokens vs the tensors, token_dim vs the model, missing tensors, task names', (t) => {
  const cfgFile = (dir: string): string => join(dir, 'adapter_config.json');
  const wFile = (dir: string): string => join(dir, 'adapter_model.safetensors');
  const fails = (dir: string, file: string, field: string, re: RegExp): void => {
    assert.throws(() => loadAdapter(dir, model, { onWarning: noWarnings }), (e: unknown) => {
      assert.ok(e instanceof AdapterError || e instanceof ConfigError, `a named error, got ${String(e)}`);
      assert.equal((e as AdapterError).file, file);
      assert.equal((e as AdapterError).field, field);
      assert.match((e as Error).message, re);
      return true;
    });
  };

  // num_tasks 4 but prefix_task_cols holds 3 tasks.
  const tasks = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(tasks, 4, 3, 2, (c) => (c.num_tasks = 4));
  fails(tasks, cfgFile(tasks), 'num_tasks', /is 4 but prefix_task_cols in .*adapter_model\.safetensors has 3 along that axis \(shape \[3, 4, 2\]\)/);
  // num_ranks 1 but the factors have 2.
  const ranks = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(ranks, 4, 3, 2, (c) => (c.num_ranks = 1));
  fails(ranks, cfgFile(ranks), 'num_ranks', /is 1 but prefix_task_cols .* has 2 along that axis/);
  // num_virtual_tokens 5 but the tensors have 4.
  const nvt = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(nvt, 4, 3, 2, (c) => (c.num_virtual_tokens = 5));
  fails(nvt, cfgFile(nvt), 'num_virtual_tokens', /is 5 but prompt_embeddings .* has 4 along that axis/);
  // rows that disagree with cols on the tasks.
  const rows = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(rows, 4, 3, 2, (_c, ts) => (ts.prefix_task_rows = tensor('float32', [2, 2, D], values(2 * 2 * D, 1))));
  fails(rows, cfgFile(rows), 'num_tasks', /is 3 but prefix_task_rows .* has 2 along that axis/);

  // token_dim of another model (config), and tensors of another width without token_dim.
  const td = tempDir(t, 'softprompt-mpt-');
  writePeftAdapter(td, { ...peftMptConfig(4, 2, 1), token_dim: 32 }, mptTensors(4, 2, 1, 32));
  fails(td, cfgFile(td), 'token_dim', /is 32 but the model's hidden size is 64/);
  const width = tempDir(t, 'softprompt-mpt-');
  writePeftAdapter(width, { ...peftMptConfig(4, 2, 1), token_dim: null }, mptTensors(4, 2, 1, 32));
  fails(width, wFile(width), 'prompt_embeddings', /has shape \[4, 32\] but the model's hidden size \(token_dim\) is 64/);

  // A missing tensor.
  const missing = tempDir(t, 'softprompt-mpt-');
  writePeftMpt(missing, 4, 3, 2, (_c, ts) => delete ts.prefix_task_rows);
  fails(missing, wFile(missing), 'prefix_task_rows', /is missing: a MULTITASK_PROMPT_TUNING adapter/);

  // softprompt.json task names that do not match num_tasks, or are malformed.
  const c = model.config;
  const method = multitaskPromptTuning(c, { numVirtualTokens: 2, numTasks: 2, numRanks: 1 });
  const dir = tempDir(t, 'softprompt-mpt-');
  const saved = saveAdapter(dir, { method, trainable: initParams(c, method, { seed: 2 }), config: c, fingerprint: fp, meta: { tasks: ['a', 'b'] } });
  const meta = JSON.parse(readFileSync(saved.metaPath, 'utf8')) as Record<string, unknown>;
  const withMeta = (edit: Record<string, unknown>): void => writeFileSync(saved.metaPath, JSON.stringify({ ...meta, ...edit }));
  withMeta({ tasks: ['a', 'b', 'c'] });
  fails(dir, saved.metaPath, 'tasks', /names 3 tasks but .*adapter_config\.json has num_tasks 2/);
  withMeta({ tasks: ['a', 7] });
  fails(dir, saved.metaPath, 'tasks[1]', /must be a non-empty string/);
  withMeta({ tasks: ['a', 'a'] });
  fails(dir, saved.metaPath, 'tasks[1]', /repeats the task name "a"/);
  withMeta({ source_init: { kind: 'average', path: 'x' } });
  fails(dir, saved.metaPath, 'source_init.kind', /must be one of average_source_tasks, exact_source_task, only_source_shared/);
});
