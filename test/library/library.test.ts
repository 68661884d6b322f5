/**
 * The continual prompt library through the bin, on stories260K: two tasks trained into one
 * library with their dev accuracy and predictions recorded; a third task initialised from the
 * first (prompt transfer) is added and the first two keep byte-identical files and identical
 * predictions; --replace touches only its task; bad names, another base model and an existing
 * name are refused with exit 2.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { before, test } from 'node:test';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { initFromAdapter } from '../../src/library/transfer.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import type { Run } from '../helpers/cli.ts';
import { GOLDEN, SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-library-'));
const LIB = join(tmp, 'lib');
const DS = join(SHARED, 'datasets');
const N_DEV = 24;

/** The first N_DEV records of a split, as its own file (classify reads a whole file). */
function devFile(task: string): string {
  const path = join(tmp, `${task}.dev.jsonl`);
  const lines = readFileSync(join(DS, task, 'validation.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').slice(0, N_DEV);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

const TASKS = {
  gender: {
    dev: '',
    args: ['--train', join(DS, 'story_gender', 'train.jsonl'), '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl":" girl","boy":" boy"}'],
  },
  sst2: {
    dev: '',
    args: ['--train', join(DS, 'sst2', 'train.jsonl'), '--template', '{text} It was', '--verbalizer', '{"negative":" bad","positive":" good"}'],
  },
};

function trainArgs(task: keyof typeof TASKS, out: string, extra: string[] = []): string[] {
  const t = TASKS[task];
  return [
    'train', '--model', STORIES, ...t.args, '--validation', t.dev, '--max-eval-examples', String(N_DEV),
    '--virtual-tokens', '8', '--lr', '0.3', '--steps', '10', '--batch-size', '8', '--max-train-examples', '64', '--out', out, '--json', ...extra,
  ];
}

/** sha256 of every file under `dir`, by relative path. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, r.stderr);
  return r;
}

/** Each task's per-example predictions (classify --jsonl) and its library eval. */
async function snapshot(names: ('task1' | 'task2')[]): Promise<{ predictions: Record<string, string>; eval: Record<string, unknown> }> {
  const devOf = { task1: TASKS.gender.dev, task2: TASKS.sst2.dev };
  const runs = await Promise.all(names.map((n) => cli(['classify', '--model', STORIES, '--adapter', join(LIB, 'tasks', n), '--file', devOf[n], '--jsonl'])));
  const predictions = Object.fromEntries(names.map((n, i) => [n, ok(runs[i]!).stdout]));
  const ev = lastJson(await cli(['library', 'eval', LIB, ...names.flatMap((n) => ['--data-for', `${n}=${devOf[n]}`]), '--max-examples', String(N_DEV), '--json']));
  return { predictions, eval: ev['tasks'] as Record<string, unknown> };
}

let trained1: Record<string, unknown>;
let trained2: Record<string, unknown>;
let before1: Awaited<ReturnType<typeof snapshot>>;
let hashesBefore: Record<string, string>;

before(async () => {
  TASKS.gender.dev = devFile('story_gender');
  TASKS.sst2.dev = devFile('sst2');
  const [r1, r2] = await Promise.all([cli(trainArgs('gender', join(tmp, 'run1'))), cli(trainArgs('sst2', join(tmp, 'run2')))]);
  trained1 = lastJson(r1);
  trained2 = lastJson(r2);
  ok(await cli(['library', 'init', LIB, '--model', STORIES]));
  ok(await cli(['library', 'add', LIB, 'task1', '--from', join(tmp, 'run1')]));
  ok(await cli(['library', 'add', LIB, 'task2', '--from', join(tmp, 'run2')]));
  hashesBefore = hashTree(join(LIB, 'tasks'));
  before1 = await snapshot(['task1', 'task2']);
});

test('two tasks in one library: only adapter files copied, dev accuracy recorded and reproduced from the library', async () => {
  assert.deepEqual(readdirSync(join(LIB, 'tasks', 'task1')).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'report.html', 'softprompt.json']);
  const manifest = JSON.parse(readFileSync(join(LIB, 'library.json'), 'utf8'));
  assert.equal(manifest.format, 'softprompt-library');
  assert.equal(manifest.base_model.path, STORIES);
  assert.match(manifest.base_model.fingerprint, /^[0-9a-f]{64}$/);
  assert.equal(manifest.tasks.task1.dir, 'tasks/task1');
  assert.equal(manifest.tasks.task1.method, 'PROMPT_TUNING');
  assert.equal(manifest.tasks.task1.virtual_tokens, 8);
  // The dev accuracy of each task, evaluated from the library, is the run's best evaluation.
  const ev = before1.eval as Record<string, { accuracy: number; n: number }>;
  assert.equal(ev['task1']!.accuracy, trained1['accuracy']);
  assert.equal(ev['task2']!.accuracy, trained2['accuracy']);
  assert.equal(manifest.tasks.task1.metrics.accuracy, trained1['accuracy']);
  assert.equal(ev['task1']!.n, N_DEV);
  for (const n of ['task1', 'task2']) assert.equal(before1.predictions[n]!.trim().split('\n').length, N_DEV);
});

test('prompt transfer, a third task, --replace: the other tasks stay byte-identical and predict the same', async () => {
  const task1 = join(LIB, 'tasks', 'task1');
  // --steps 1 at a negligible lr: the run starts exactly at task1's trained prompt.
  const [probe, r3] = await Promise.all([
    cli(trainArgs('gender', join(tmp, 'probe'), ['--init-from', task1, '--steps', '1', '--lr', '1e-12', '--weight-decay', '0'])),
    cli(trainArgs('sst2', join(tmp, 'run3'), ['--init-from', task1, '--seed', '3'])),
  ]);
  lastJson(probe);
  lastJson(r3);
  const want = readSafetensors(join(task1, 'adapter_model.safetensors')).get('prompt_embeddings')!.data as Float32Array;
  const got = readSafetensors(join(tmp, 'probe', 'last', 'adapter_model.safetensors')).get('prompt_embeddings')!.data as Float32Array;
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-9, `element ${i}: ${got[i]} vs ${want[i]}`);
  // In process, the initial values are the adapter's tensors exactly.
  const model = loadModelDir(STORIES);
  const init = initFromAdapter(task1, promptTuning(model.config, { numVirtualTokens: 8 }), model);
  assert.deepEqual(Array.from(init['prompt_embeddings']!.data), Array.from(want));
  // Recorded in the resume recipe and the training args.
  const meta = JSON.parse(readFileSync(join(tmp, 'run3', 'softprompt.json'), 'utf8'));
  assert.equal(meta.training.init_from, task1);
  const latest = JSON.parse(readFileSync(join(tmp, 'run3', 'checkpoints', 'latest.json'), 'utf8')) as { dir: string };
  const state = JSON.parse(readFileSync(join(tmp, 'run3', 'checkpoints', latest.dir, 'state.json'), 'utf8'));
  assert.equal(state.recipe.init_from, task1);
  const plain = JSON.parse(readFileSync(join(tmp, 'run1', 'softprompt.json'), 'utf8'));
  assert.equal('init_from' in plain.training, false);

  ok(await cli(['library', 'add', LIB, 'task3', '--from', join(tmp, 'run3')]));
  const after = hashTree(join(LIB, 'tasks'));
  for (const [file, h] of Object.entries(hashesBefore)) assert.equal(after[file], h, file);
  assert.deepEqual(await snapshot(['task1', 'task2']), before1);
  const list = lastJson(await cli(['library', 'list', LIB, '--json']));
  assert.deepEqual((list['tasks'] as { name: string }[]).map((t) => t.name), ['task1', 'task2', 'task3']);
  for (const t of list['tasks'] as { changed_files: string[] }[]) assert.deepEqual(t.changed_files, []);

  // Retraining task2 (--replace) changes tasks/task2 only.
  const added2 = JSON.parse(readFileSync(join(LIB, 'library.json'), 'utf8')).tasks.task2.added;
  lastJson(await cli(trainArgs('sst2', join(tmp, 'run2b'), ['--seed', '7', '--steps', '3'])));
  ok(await cli(['library', 'add', LIB, 'task2', '--from', join(tmp, 'run2b'), '--replace']));
  const replaced = hashTree(join(LIB, 'tasks'));
  assert.deepEqual(Object.keys(replaced).sort(), Object.keys(after).sort(), 'no stray temporary folders');
  for (const [file, h] of Object.entries(after)) {
    if (file.startsWith('task2/')) continue;
    assert.equal(replaced[file], h, file);
  }
  assert.notEqual(replaced['task2/adapter_model.safetensors'], after['task2/adapter_model.safetensors']);
  const m = JSON.parse(readFileSync(join(LIB, 'library.json'), 'utf8'));
  assert.equal(m.tasks.task2.added, added2);
  assert.notEqual(m.tasks.task2.updated, added2);
  const { predictions } = await snapshot(['task1']);
  assert.equal(predictions['task1'], before1.predictions['task1']);
});

test('bad names, another base model, an existing name and a mismatched --init-from exit 2 with clear errors', async () => {
  const run1 = join(tmp, 'run1');
  const manifestBefore = readFileSync(join(LIB, 'library.json'), 'utf8');
  const lib2 = join(tmp, 'lib-tiny-llama');
  ok(await cli(['library', 'init', lib2, '--model', join(GOLDEN, 'tiny-llama')]));
  const fp = JSON.parse(readFileSync(join(LIB, 'library.json'), 'utf8')).base_model.fingerprint as string;
  const fp2 = JSON.parse(readFileSync(join(lib2, 'library.json'), 'utf8')).base_model.fingerprint as string;
  const cases: [string[], RegExp][] = [
    [['library', 'add', LIB, '../evil', '--from', run1], /invalid task name "\.\.\/evil"/],
    [['library', 'add', LIB, 'a..b', '--from', run1], /invalid task name "a\.\.b"/],
    [['library', 'add', LIB, '.hidden', '--from', run1], /invalid task name/],
    [['library', 'add', LIB, 'x'.repeat(65), '--from', run1], /invalid task name/],
    [['library', 'add', LIB, 'task1', '--from', run1], /task "task1" already exists .*--replace/],
    [['library', 'add', lib2, 'gender', '--from', run1], new RegExp(`another base model.*${fp}.*${fp2}`)],
    [['library', 'add', LIB, 'nope', '--from', join(tmp, 'missing')], /not an adapter folder/],
    [['library', 'eval', LIB, '--data-for', `nope=${TASKS.gender.dev}`], /no task "nope"/],
    [['library', 'list', join(tmp, 'not-a-lib')], /library\.json: not found/],
    [trainArgs('gender', join(tmp, 'bad1'), ['--init-from', join(LIB, 'tasks', 'task1'), '--virtual-tokens', '4']), /--init-from .*task1: tensor "prompt_embeddings" has shape \[8, 64\] but .* needs \[4, 64\]/],
    [trainArgs('gender', join(tmp, 'bad2'), ['--init-from', join(LIB, 'tasks', 'task1'), '--method', 'p-tuning']), /--init-from .*task1: the adapter trains prompt_tuning .* this run trains p_tuning/],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  runs.forEach((r, i) => {
    assert.equal(r.status, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, cases[i]![1], `case ${i}`);
  });
  assert.equal(readFileSync(join(LIB, 'library.json'), 'utf8'), manifestBefore);
  assert.deepEqual(readdirSync(join(LIB, 'tasks')).sort(), ['task1', 'task2', 'task3']);
  assert.deepEqual(JSON.parse(readFileSync(join(lib2, 'library.json'), 'utf8')).tasks, {});
});

test('library remove drops one task and leaves the others byte-identical', async () => {
  const lib3 = join(tmp, 'lib3');
  ok(await cli(['library', 'init', lib3, '--model', STORIES]));
  ok(await cli(['library', 'add', lib3, 'a', '--from', join(tmp, 'run1')]));
  ok(await cli(['library', 'add', lib3, 'b', '--from', join(tmp, 'run2')]));
  const b = hashTree(join(lib3, 'tasks', 'b'));
  ok(await cli(['library', 'remove', lib3, 'a']));
  assert.deepEqual(readdirSync(join(lib3, 'tasks')), ['b']);
  assert.deepEqual(hashTree(join(lib3, 'tasks', 'b')), b);
  assert.deepEqual(Object.keys(JSON.parse(readFileSync(join(lib3, 'library.json'), 'utf8')).tasks), ['b']);
  const r = await cli(['library', 'remove', lib3, 'a']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /no task "a"/);
});
