/**
 * The promise of --resume, end to end through the bin: a run killed with SIGKILL mid-training
 * and resumed logs exactly the per-update losses of a run that was never interrupted, and its
 * adapter is the same to the bit.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'softprompt.js');
const DATA = join(SHARED, 'datasets', 'story_gender');
const args = (out: string): string[] => [
  BIN, 'train', '--model', STORIES, '--train', join(DATA, 'train.jsonl'), '--validation', join(DATA, 'validation.jsonl'),
  '--max-train-examples', '96', '--max-eval-examples', '24', '--template', '{text}\\nThe story is about a',
  '--verbalizer', '{"girl":" girl","boy":" boy"}', '--method', 'prompt-tuning', '--virtual-tokens', '8',
  '--init', 'text:Is the story about a girl or a boy?', '--lr', '0.3', '--steps', '40', '--batch-size', '8',
  '--eval-every', '10', '--save-every', '4', '--seed', '7', '--out', out, '--json',
];
const losses = (out: string): number[] => MetricsLog.read(join(out, 'metrics.jsonl')).filter((e) => e.event === 'step').map((e) => e['loss'] as number);
const stepsLogged = (out: string): number => (existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('"event":"step"').length - 1 : 0);

test('kill -9 mid-run, then --resume: the losses are identical to an uninterrupted run', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sp-resume-'));
  const whole = join(root, 'whole');
  const r = spawnSync(process.execPath, args(whole), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expected = losses(whole);
  assert.equal(expected.length, 40);

  const killed = join(root, 'killed');
  const child = spawn(process.execPath, args(killed), { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, signal) => res(signal)));
  // Kill it between checkpoints, after an evaluation and an epoch boundary (12 batches per epoch).
  while (stepsLogged(killed) < 23) await new Promise((res) => setTimeout(res, 20));
  child.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const partial = losses(killed).length;
  assert.ok(partial >= 23 && partial < 40, `killed mid-run (${partial} updates logged)`);

  const again = spawnSync(process.execPath, [...args(killed), '--resume'], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const at = Number(/resuming at update (\d+)/.exec(again.stderr)?.[1]);
  assert.ok(at >= 20 && at < partial, `resumed from the last checkpoint before the kill (update ${at})`);
  assert.deepEqual(losses(killed), expected);
  for (const f of ['adapter_model.safetensors', join('last', 'adapter_model.safetensors')]) {
    assert.ok(readFileSync(join(killed, f)).equals(readFileSync(join(whole, f))), `${f} is bit-identical`);
  }
  const summary = JSON.parse(again.stdout.trim().split('\n').at(-1)!) as { steps: number; best: { accuracy: number } };
  assert.equal(summary.steps, 40);
});
