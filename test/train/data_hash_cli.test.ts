/**
 * Hardening (issue 16, item 9): checkpoints record the training file's sha256; a file edited
 * before --resume is refused unless --allow-data-change is given.
 */
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { cli } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const tmp = mkdtempSync(join(tmpdir(), 'sp-hash-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('a training file changed before --resume is refused, and accepted with --allow-data-change', async () => {
  const data = join(tmp, 'train.jsonl');
  copyFileSync(join(SHARED, 'datasets', 'story_gender', 'train.jsonl'), data);
  const out = join(tmp, 'run');
  const args = (steps: string, ...extra: string[]): string[] => [
    'train', '--model', STORIES, '--train', data, '--max-train-examples', '16', '--template', '{text}\\nAbout',
    '--verbalizer', '{"girl":" girl","boy":" boy"}', '--steps', steps, '--batch-size', '8', '--lr', '0.1', '--save-every', '1', '--out', out, ...extra,
  ];
  const first = await cli(args('2'));
  assert.equal(first.status, 0, first.stderr);
  const state = JSON.parse(readFileSync(join(out, 'checkpoints', 'step-00000002', 'state.json'), 'utf8'));
  assert.equal(state.dataSha256, createHash('sha256').update(readFileSync(data)).digest('hex'));

  appendFileSync(data, '{"text": "An extra story about a boy.", "label": "boy"}\n');
  const refused = await cli(args('2', '--resume'));
  assert.equal(refused.status, 2, refused.stderr);
  assert.match(refused.stderr, /training file .*train\.jsonl changed since the run started .* --allow-data-change/);
  const allowed = await cli(args('2', '--resume', '--allow-data-change'));
  assert.equal(allowed.status, 0, allowed.stderr);
  assert.match(allowed.stderr, /warning: the training file .* continuing on the new data/);
});
