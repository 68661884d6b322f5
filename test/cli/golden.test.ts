/** The installed `softprompt` bin runs the golden check end to end. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { GOLDEN_CASES } from '../../src/check/golden.ts';
import { GOLDEN } from '../helpers/paths.ts';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'softprompt.js');

test('softprompt golden --json reports every quantity within tolerance', () => {
  const r = spawnSync(process.execPath, [BIN, 'golden', '--golden', GOLDEN, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.trim().split('\n').at(-1)!;
  const report = JSON.parse(last) as { checked: number; failed: number };
  // every case × (2 + 3 + 10 + 3 + 3 generation) quantities
  assert.equal(report.checked, GOLDEN_CASES.length * 21);
  assert.ok(GOLDEN_CASES.length >= 7);
  assert.equal(report.failed, 0);
});

test('a missing golden folder is a clear error with exit code 2', () => {
  const r = spawnSync(process.execPath, [BIN, 'golden', '--golden', '/nonexistent/golden'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/nonexistent\/golden/);
});
