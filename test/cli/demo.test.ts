/** `softprompt demo` end to end on a small slice of story_gender (the full run is the README's main job). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TRAIN_DEFAULTS } from '../../src/train/defaults.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

test('demo ranks hard prompts, trains, reloads the adapter and compares on the same split', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sp-demo-'));
  const data = join(tmp, 'data');
  const src = join(SHARED, 'datasets', 'story_gender');
  const head = (file: string, n: number): string => readFileSync(join(src, file), 'utf8').split('\n').slice(0, n).join('\n') + '\n';
  mkdirSync(data);
  writeFileSync(join(data, 'train.jsonl'), head('train.jsonl', 120));
  writeFileSync(join(data, 'validation.jsonl'), head('validation.jsonl', 24));
  const out = join(tmp, 'adapter');
  const j = lastJson(await cli(['demo', '--model', STORIES, '--data', data, '--epochs', '1', '--batch-size', '8', '--shots', '2', '--out', out, '--json']));
  assert.equal(j['n'], 24);
  const results = j['results'] as { prompt: string; accuracy: number }[];
  assert.deepEqual(results.map((r) => r.prompt.split(',')[0]), ['zero-shot', 'zero-shot', '1-shot balanced', '2-shot balanced', 'soft prompt (20 virtual tokens']);
  assert.equal(j['best_hard_prompt_accuracy'], Math.max(...results.slice(0, -1).map((r) => r.accuracy)));
  // The default recipe: restarts chosen on a dev split carved from train (24 of 120 records), never on
  // the validation split the demo reports; the reported figure is the reloaded adapter's on that split.
  const meta = JSON.parse(readFileSync(join(out, 'softprompt.json'), 'utf8')) as { metrics: { n: number }; training: { validation: string | null; restarts: number } };
  assert.equal(meta.training.validation, null);
  assert.equal(meta.training.restarts, TRAIN_DEFAULTS.restarts);
  assert.equal(meta.metrics.n, 24);
  const log = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual([...new Set(log.map((l) => l['restart']).filter((r) => r !== undefined))], [...Array(TRAIN_DEFAULTS.restarts).keys()]);
  assert.equal(log.at(-1)!['event'], 'select');
  assert.ok(typeof j['soft_prompt_accuracy'] === 'number' && j['soft_prompt_accuracy'] >= 0 && j['soft_prompt_accuracy'] <= 1);
  assert.equal(j['adapter'], out);
});
