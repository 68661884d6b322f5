/**
 * Hardening (issue 16, item 4): one training process per --out. A second trainer is refused
 * naming the holder; a lock left by a process that no longer runs is taken over.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../../src/train/run_lock.ts';
import { cli } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-lock-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('the lock file holds host, pid and start; a second taker is refused naming the holder; release frees it', () => {
  const dir = mkdtempSync(join(tmp, 'a-'));
  const release = acquireRunLock(dir);
  const held = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
  assert.equal(held.pid, process.pid);
  assert.equal(held.host, hostname());
  assert.ok(!Number.isNaN(Date.parse(held.started)));
  assert.throws(() => acquireRunLock(dir), (e: unknown) => e instanceof RunLockedError && e.message.includes(`pid ${process.pid} on ${hostname()}`));
  release();
  assert.equal(existsSync(join(dir, LOCK_FILE)), false);
  acquireRunLock(dir)();
});

test('a stale lock (its process gone) is taken over', () => {
  const dir = mkdtempSync(join(tmp, 'b-'));
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ host: hostname(), pid: deadPid(), started: new Date().toISOString() }));
  const release = acquireRunLock(dir);
  assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, process.pid);
  release();
});

test('train --resume on a folder a live process holds exits 2 naming it', async () => {
  const dir = mkdtempSync(join(tmp, 'c-'));
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ host: hostname(), pid: process.pid, started: '2026-01-01T00:00:00.000Z' }));
  const r = await cli([
    'train', '--model', STORIES, '--train', join(SHARED, 'datasets', 'story_gender', 'train.jsonl'), '--max-train-examples', '16',
    '--template', '{text}\\nAbout', '--verbalizer', '{"girl":" girl","boy":" boy"}', '--steps', '2', '--batch-size', '8', '--lr', '0.1',
    '--out', dir, '--resume',
  ]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`in use by another training process \\(pid ${process.pid} on `));
  assert.equal(existsSync(join(dir, 'metrics.jsonl')), false);
});
