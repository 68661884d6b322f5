/**
 * The default epoch recipe trains several restarts and keeps the best on a dev split carved from
 * --train (restarts.ts). Through the bin: the dev records are held out of training, the kept
 * adapter is the restart with the best dev accuracy, metrics.jsonl holds each restart's
 * trajectory tagged with `restart`, and a kill -9 inside the second restart resumes to the same
 * losses and the same adapter, to the bit.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { TRAIN_DEFAULTS } from '../../src/train/defaults.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import { carveDev, meanParams, restartEpochs, tailSteps } from '../../src/train/restarts.ts';
import type { Params } from '../../src/train/trainer.ts';
import { tensor } from '../../src/tensor.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'softprompt.js');
const TRAIN = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
// No --validation and no --restarts: the default recipe. 100 records: 20 carved as dev, 80 trained (10 updates, checkpoints at 4 and 8).
const args = (out: string, epochs = 1): string[] => [
  BIN, 'train', '--model', STORIES, '--train', TRAIN, '--max-train-examples', '100', '--template', '{text}\\nThe story is about a',
  '--verbalizer', '{"girl":" girl","boy":" boy"}', '--virtual-tokens', '8', '--epochs', String(epochs), '--batch-size', '8',
  '--save-every', '4', '--seed', '5', '--out', out, '--json',
];
const R = TRAIN_DEFAULTS.restarts;
type Line = Record<string, unknown>;
const log = (out: string): Line[] => MetricsLog.read(join(out, 'metrics.jsonl'));
const losses = (out: string): [unknown, unknown][] => log(out).filter((e) => e.event === 'step').map((e) => [e['restart'], e['loss']]);
const stepsLogged = (f: string): number => (existsSync(f) ? readFileSync(f, 'utf8').split('"event":"step"').length - 1 : 0);

test('the dev split is drawn from the seed, disjoint from training, 20% of the records', async () => {
  const a = await carveDev(TRAIN, 5, 100);
  assert.equal(a.indices.size, 20);
  assert.equal(a.pool, 100);
  assert.deepEqual([...a.indices], [...(await carveDev(TRAIN, 5, 100)).indices]);
  assert.notDeepEqual([...a.indices], [...(await carveDev(TRAIN, 6, 100)).indices]);
  assert.ok([...a.indices].every((i) => i >= 0 && i < 100));
});

test('restarts: the best on the carved dev split is kept; kill -9 in restart 2 resumes exactly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sp-restarts-'));
  const whole = join(root, 'whole');
  const r = spawnSync(process.execPath, args(whole), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = log(whole);
  const starts = lines.filter((e) => e.event === 'start');
  assert.deepEqual(starts.map((e) => [e['restart'], e['examples']]), [...Array(R).keys()].map((r) => [r, 80]), 'each restart trains the 80 records left after the dev split');
  assert.equal(losses(whole).length, 10 * R, 'a 1-epoch run has nothing to continue: every restart trains its one epoch');
  const select = lines.at(-1)!;
  assert.equal(select.event, 'select');
  const values = select['values'] as number[];
  const win = select['restart'] as number;
  assert.equal(values[win], Math.max(...values));
  assert.equal(values.indexOf(Math.max(...values)), win, 'the earliest best on ties');
  for (const e of lines.filter((l) => l.event === 'eval')) assert.equal(e['n'], 20);
  assert.ok(readFileSync(join(whole, 'adapter_model.safetensors')).equals(readFileSync(join(whole, 'restarts', `r${win}`, 'adapter_model.safetensors'))));

  const killed = join(root, 'killed');
  const child = spawn(process.execPath, args(killed), { stdio: 'ignore' });
  let running = true;
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => ((running = false), res(signal))));
  const r1 = join(killed, 'restarts', 'r1', 'metrics.jsonl');
  while (running && stepsLogged(r1) < 5) await new Promise((res) => setTimeout(res, 20));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(stepsLogged(r1) < 10, 'killed inside restart 2');
  const again = spawnSync(process.execPath, [...args(killed), '--resume'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(losses(killed), losses(whole));
  for (const f of ['adapter_model.safetensors', join('last', 'adapter_model.safetensors')]) {
    assert.ok(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), `${f} is bit-identical`);
  }
});

test('restarts pause after two of three epochs, the best on dev continues alone; kill -9 in the continuation resumes exactly', async () => {
  assert.equal(restartEpochs(3), 2);
  const root = mkdtempSync(join(tmpdir(), 'sp-restarts3-'));
  const whole = join(root, 'whole');
  const r = spawnSync(process.execPath, args(whole, 3), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const lines = log(whole);
  // Each restart is scored on dev once, at its pause (not after epoch 1); the first highest leads.
  const pausedBest = [...Array(R).keys()].map((k) => Math.max(...lines.filter((e) => e['restart'] === k && e.event === 'eval' && (e.step as number) <= 20).map((e) => e['accuracy'] as number)));
  const lead = pausedBest.indexOf(Math.max(...pausedBest));
  const steps = [...Array(R).keys()].map((k) => lines.filter((e) => e['restart'] === k && e.event === 'step').map((e) => e.step as number));
  steps.forEach((s, k) => assert.deepEqual(s, [...Array(k === lead ? 30 : 20).keys()].map((i) => i + 1), `restart ${k}: ${k === lead ? 'continued to 30 updates' : 'paused after 20'}`));
  const evals = (k: number): number[] => lines.filter((e) => e['restart'] === k && e.event === 'eval').map((e) => e.step as number);
  [...Array(R).keys()].forEach((k) => assert.deepEqual(evals(k), k === lead ? [20, 30] : [20], `restart ${k}'s evaluations`));
  // The leader's prompts at 4 evenly spaced updates of its last epoch are kept, and their mean scored on dev.
  const select = lines.at(-1)!;
  assert.equal(select.event, 'select');
  const mean = select['mean'] as { restart: number; steps: number[]; value: number; kept: boolean };
  assert.deepEqual(tailSteps(10, 3), [23, 25, 28, 30]);
  assert.deepEqual([mean.restart, mean.steps], [lead, [23, 25, 28, 30]]);
  const snap = (s: number): Params => Object.fromEntries(readSafetensors(join(whole, 'restarts', `r${lead}`, 'snapshots', `step-000000${s}.safetensors`))) as Params;
  const adapter = [...readSafetensors(join(whole, 'adapter_model.safetensors')).values()][0]!.data;
  // The kept adapter: the highest dev value over every evaluation made (the earliest restart on ties),
  // or the mean when it scores strictly above all of them.
  const values = select['values'] as number[];
  const all = lines.filter((e) => e.event === 'eval').map((e) => e['accuracy'] as number);
  assert.equal(Math.max(...values), Math.max(...all));
  assert.equal(mean.kept, mean.value > Math.max(...values));
  if (mean.kept) {
    assert.equal(select['restart'], lead);
    assert.deepEqual(adapter, Object.values(meanParams([23, 25, 28, 30].map(snap)))[0]!.data);
  } else {
    assert.equal(select['restart'], values.indexOf(Math.max(...values)));
    assert.ok(readFileSync(join(whole, 'adapter_model.safetensors')).equals(readFileSync(join(whole, 'restarts', `r${select['restart']}`, 'adapter_model.safetensors'))));
  }
  // The leader's prompt after its last update is its last adapter's.
  assert.deepEqual(Object.values(snap(30))[0]!.data, [...readSafetensors(join(whole, 'restarts', `r${lead}`, 'last', 'adapter_model.safetensors')).values()][0]!.data);
  // Pausing changes nothing: the continued restart's 30 losses are those of the same restart run
  // straight through (--restart-epochs 3: every restart a full run, as the first study's default).
  const full = join(root, 'full');
  const f = spawnSync(process.execPath, [...args(full, 3), '--restart-epochs', '3'], { encoding: 'utf8' });
  assert.equal(f.status, 0, f.stderr);
  const leadLosses = (out: string): unknown[] => losses(out).filter(([k]) => k === lead).map(([, l]) => l);
  assert.equal(leadLosses(full).length, 30);
  assert.deepEqual(leadLosses(whole), leadLosses(full));

  const killed = join(root, 'killed');
  const child = spawn(process.execPath, args(killed, 3), { stdio: 'ignore' });
  let running = true;
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => ((running = false), res(signal))));
  const cont = join(killed, 'restarts', `r${lead}`, 'metrics.jsonl');
  const resultsDone = (): boolean => [...Array(R).keys()].every((k) => existsSync(join(killed, 'restarts', `r${k}`, 'result.json')));
  while (running && !(resultsDone() && stepsLogged(cont) >= 22)) await new Promise((res) => setTimeout(res, 10));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  assert.ok(stepsLogged(cont) < 30, 'killed inside the continuation');
  const again = spawnSync(process.execPath, [...args(killed, 3), '--resume'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(losses(killed), losses(whole));
  for (const f of ['adapter_model.safetensors', join('last', 'adapter_model.safetensors')]) {
    assert.ok(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), `${f} is bit-identical`);
  }
});

test('the mean of snapshots is element-wise, and the tail steps are evenly spaced in the last epoch', () => {
  const p = (xs: number[]): Params => ({ w: tensor('float32', [xs.length], Float32Array.from(xs)) });
  assert.deepEqual([...meanParams([p([1, 2]), p([3, 6]), p([5, 1])]).w!.data], [3, 3]);
  assert.deepEqual(tailSteps(80, 3), [180, 200, 220, 240]);
  assert.deepEqual(tailSteps(2, 3), [5, 6], 'fewer updates than snapshots: each update once');
});
