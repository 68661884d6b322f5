/**
 * Hardening (issue 16, item 5): SIGTERM or Ctrl-C during training keeps the progress: the current
 * update finishes, a checkpoint and the last adapter are written, the message says how to resume,
 * and the exit status is 143/130. A second signal ends the process at once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BIN } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-int-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const args = (out: string): string[] => [
  BIN, 'train', '--model', STORIES, '--train', join(SHARED, 'datasets', 'story_gender', 'train.jsonl'), '--max-train-examples', '64',
  '--template', '{text}\\nThe story is about a', '--verbalizer', '{"girl":" girl","boy":" boy"}', '--steps', '5000', '--batch-size', '4',
  '--lr', '0.1', '--save-every', '100000', '--out', out,
];
const steps = (out: string): number => (existsSync(join(out, 'metrics.jsonl')) ? readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('"event":"step"').length - 1 : 0);

async function runUntil(out: string, n: number, signals: NodeJS.Signals[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, args(out), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + 120_000;
  while (steps(out) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const s of signals) child.kill(s);
  return { ...(await exited), stderr };
}

test('SIGTERM mid-run: checkpoint at the last update, last adapter written, exit 143, resume hint', async () => {
  const out = join(tmp, 'term');
  const r = await runUntil(out, 5, ['SIGTERM']);
  assert.equal(r.code, 143, r.stderr);
  assert.match(r.stderr, /SIGTERM: stopped after update (\d+); checkpoint in .*checkpoints, last adapter in .*last; continue with the same command plus --resume/);
  const stopped = Number(/stopped after update (\d+)/.exec(r.stderr)![1]);
  assert.ok(stopped >= 5);
  const latest = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')) as { dir: string };
  assert.equal(latest.dir, `step-${String(stopped).padStart(8, '0')}`);
  assert.ok(existsSync(join(out, 'last', 'adapter_model.safetensors')));
  assert.equal(existsSync(join(out, 'train.lock')), false);
});

test('a second SIGINT exits at once without the checkpoint', async () => {
  const out = join(tmp, 'int2');
  const r = await runUntil(out, 2, ['SIGINT', 'SIGINT']);
  assert.ok(r.signal === 'SIGINT' || r.code === 130, `${r.code} ${r.signal} ${r.stderr}`);
});
