import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExampleEncoder, padIdOf, readAllRecords, Template, Verbalizer } from '../../src/data/index.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { initParams } from '../../src/methods/init.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { loadLatestCheckpoint } from '../../src/train/checkpoint.ts';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { TrainSource } from '../../src/train/source.ts';
import { train, TrainingError } from '../../src/train/trainer.ts';
import type { Params, TrainerOptions } from '../../src/train/trainer.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const model = loadModelDir(STORIES);
const tok = await loadTokenizer(STORIES);
const TRAIN = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
const verbalizer = Verbalizer.fromJson('{"girl":" girl","boy":" boy"}');
const encoder = new ExampleEncoder({ template: new Template('{text}\nThe story is about a'), verbalizer, tokenizer: tok, maxLength: 500, truncateField: 'text' });
const validation = (await readAllRecords(join(SHARED, 'datasets', 'story_gender', 'validation.jsonl'))).slice(0, 24).map((r) => encoder.encode(r));
const method = promptTuning(model.config, { numVirtualTokens: 4 });
const init = initParams(model.config, method, { seed: 0, init: { kind: 'text', text: 'girl or boy' }, weights: model.weights, tokenizer: tok });

function options(over: Partial<TrainerOptions> & { batchSize?: number }): TrainerOptions {
  const { batchSize = 8, ...rest } = over;
  return {
    config: model.config,
    weights: model.weights,
    method,
    padId: padIdOf(tok),
    init,
    source: new TrainSource({ file: TRAIN, encoder, batchSize, seed: 5, maxExamples: 48 }),
    labels: verbalizer.labels,
    outDir: mkdtempSync(join(tmpdir(), 'sp-trainer-')),
    lr: 0.05,
    schedule: 'linear',
    steps: 8,
    recipe: { test: 1 },
    saveAdapter: () => {},
    ...rest,
  };
}
const stepLosses = (dir: string): number[] => MetricsLog.read(join(dir, 'metrics.jsonl')).filter((e) => e.event === 'step').map((e) => e['loss'] as number);

test('training lowers the loss, logs every update and keeps the best evaluation', async () => {
  const saved: { dir: string; metrics: Record<string, unknown> | null }[] = [];
  const o = options({ steps: 12, lr: 0.3, validation, evalEvery: 4, saveAdapter: (dir, _p, metrics) => saved.push({ dir, metrics }) });
  const r = await train(o);
  const losses = stepLosses(o.outDir);
  assert.equal(losses.length, 12);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(mean(losses.slice(-4)) < mean(losses.slice(0, 4)), `loss falls: ${losses.map((l) => l.toFixed(3)).join(' ')}`);
  const evals = MetricsLog.read(join(o.outDir, 'metrics.jsonl')).filter((e) => e.event === 'eval');
  assert.deepEqual(evals.map((e) => e.step), [4, 8, 12]);
  const bestAcc = Math.max(...evals.map((e) => e['accuracy'] as number));
  assert.equal(r.best!.metrics['accuracy'], bestAcc);
  const bestSaves = saved.filter((s) => s.dir === o.outDir);
  assert.equal(bestSaves.at(-1)!.metrics!['accuracy'], bestAcc, 'the adapter in --out is the best evaluation');
  assert.ok(saved.some((s) => s.dir === join(o.outDir, 'last')), 'last/ holds the last params');
});

test('gradient accumulation: 2 × 4 examples per update equals 8 per update (every answer has 3 tokens)', async () => {
  const a = options({ batchSize: 8, steps: 5 });
  const b = options({ batchSize: 4, gradAccum: 2, steps: 5 });
  await train(a);
  await train(b);
  const la = stepLosses(a.outDir);
  const lb = stepLosses(b.outDir);
  la.forEach((l, i) => assert.ok(Math.abs(l - lb[i]!) < 2e-6, `update ${i + 1}: ${l} vs ${lb[i]}`));
  const pa = loadLatestCheckpoint(a.outDir)!.params['prompt_embeddings']!.data;
  const pb = loadLatestCheckpoint(b.outDir)!.params['prompt_embeddings']!.data;
  pa.forEach((x, i) => assert.ok(Math.abs(x - pb[i]!) < 1e-5, `param ${i}: ${x} vs ${pb[i]}`));
});

test('resume after an interruption reproduces the uninterrupted losses exactly', async () => {
  const full = options({ steps: 10, saveEvery: 3 });
  await train(full);
  const expected = stepLosses(full.outDir);

  const broken = options({ steps: 10, saveEvery: 3 });
  await assert.rejects(
    train({ ...broken, onEvent: (e) => { if (e.kind === 'step' && e.step === 8) throw new Error('simulated crash'); } }),
    /simulated crash/,
  );
  assert.equal(loadLatestCheckpoint(broken.outDir)!.state.step, 6);
  await assert.rejects(train(broken), (e: Error) => e instanceof TrainingError && /already holds a training run.*--resume/.test(e.message));
  await assert.rejects(train({ ...broken, resume: true, recipe: { test: 2 } }), /other settings \(test: 1 → 2\)/);
  await train({ ...broken, resume: true });
  assert.deepEqual(stepLosses(broken.outDir), expected);
  const events = MetricsLog.read(join(broken.outDir, 'metrics.jsonl')).map((e) => e.event);
  assert.deepEqual(events.filter((e) => e === 'resume').length, 1);
});

test('early stopping: no improvement in `patience` evaluations ends the run', async () => {
  const o = options({ steps: 20, lr: 1e-9, validation, evalEvery: 1, patience: 2 });
  const r = await train(o);
  assert.equal(r.steps, 3);
  assert.match(r.stopReason, /early stopping: no improvement of accuracy in 2 evaluations/);
  assert.equal(r.best!.step, 1);
});

test('a non-finite loss stops the run with a clear error and keeps the last good params', async () => {
  // Weight decay 0.01 at lr 1e30 scales the params past float32 at once (the default decay is 0 now).
  const saved: { dir: string; params: Params }[] = [];
  const o = options({ steps: 6, lr: 1e30, schedule: 'constant', weightDecay: 0.01, saveAdapter: (dir, params) => saved.push({ dir, params }) });
  await assert.rejects(train(o), (e: Error) => e instanceof TrainingError && /training stopped at update \d \(epoch 1\): (loss is NaN|loss is Infinity|gradient norm is)/.test(e.message) && /lower --lr/.test(e.message));
  const last = saved.find((s) => s.dir === join(o.outDir, 'last'));
  assert.ok(last, 'last/ was written');
  assert.ok(existsSync(join(o.outDir, 'checkpoints', 'latest.json')));
  const ck = loadLatestCheckpoint(o.outDir)!;
  assert.ok([...ck.params['prompt_embeddings']!.data].every(Number.isFinite), 'the checkpoint holds finite params');
  const err = MetricsLog.read(join(o.outDir, 'metrics.jsonl')).find((e) => e.event === 'error');
  assert.match(String(err?.['error']), /non-finite/);
});

test('a broken checkpoint pointer is a clear error naming the file, not a silent fresh start', async () => {
  const o = options({ steps: 2 });
  await train(o);
  const pointer = join(o.outDir, 'checkpoints', 'latest.json');
  writeFileSync(pointer, '{"dir": ');
  await assert.rejects(train({ ...o, resume: true }), (e: Error) => e.message.includes(pointer) && /not valid JSON/.test(e.message));
  writeFileSync(pointer, '{"dir": "step-00000099"}');
  await assert.rejects(train({ ...o, resume: true }), (e: Error) => e.message.includes(pointer) && /no state\.json/.test(e.message));
});
