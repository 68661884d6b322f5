/** The installed `softprompt` bin runs the golden check end to end. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { GOLDEN } from '../helpers/paths.ts';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..'), 'bin', 'softprompt.js');

// test/golden checks every case through the library; here the bin runs two (one per builder kind)
// so the golden cases are not paid for twice.
test('softprompt golden --json --case reports every quantity of those cases within tolerance', () => {
  const r = spawnSync(process.execPath, [BIN, 'golden', '--golden', GOLDEN, '--json', '--case', 'tiny-gpt2,tiny-gemma3'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const last = r.stdout.trim().split('\n').at(-1)!;
  const report = JSON.parse(last) as { checked: number; failed: number; cases: { name: string; methods: string[]; ok: boolean }[] };
  // 2 cases × (2 + 3 + 10 + 3 + 3 generation) quantities
  assert.equal(report.checked, 42);
  assert.equal(report.failed, 0);
  assert.deepEqual(report.cases.map((c) => [c.name, c.ok]), [['tiny-gpt2', true], ['tiny-gemma3', true]]);
  assert.deepEqual(report.cases[0]!.methods, ['forward', 'prompt_tuning', 'p_tuning', 'prefix_tuning', 'generation']);
});

test('softprompt golden --case refuses an unknown case by name', () => {
  const r = spawnSync(process.execPath, [BIN, 'golden', '--golden', GOLDEN, '--case', 'tiny-nope'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown golden case "tiny-nope"/);
});

test('a missing golden folder is a clear error with exit code 2', () => {
  const r = spawnSync(process.execPath, [BIN, 'golden', '--golden', '/nonexistent/golden'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /\/nonexistent\/golden/);
});
