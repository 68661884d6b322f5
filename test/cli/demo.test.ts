/** `softprompt demo` end to end on a small slice of story_gender (the full run is the README's main job). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

test('demo ranks hard prompts, trains, reloads the adapter and compares on the same split', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'sp-demo-'));
  const data = join(tmp, 'data');
  const src = join(SHARED, 'datasets', 'story_gender');
  const head = (file: string, n: number): string => readFileSync(join(src, file), 'utf8').split('\n').slice(0, n).join('\n') + '\n';
  mkdirSync(data);
  writeFileSync(join(data, 'train.jsonl'), head('train.jsonl', 64));
  writeFileSync(join(data, 'validation.jsonl'), head('validation.jsonl', 24));
  const out = join(tmp, 'adapter');
  const j = lastJson(await cli(['demo', '--model', STORIES, '--data', data, '--epochs', '1', '--batch-size', '8', '--shots', '2', '--out', out, '--json']));
  assert.equal(j['n'], 24);
  const results = j['results'] as { prompt: string; accuracy: number }[];
  assert.deepEqual(results.map((r) => r.prompt.split(',')[0]), ['zero-shot', 'zero-shot', '1-shot balanced', '2-shot balanced', 'soft prompt (20 virtual tokens']);
  assert.equal(j['best_hard_prompt_accuracy'], Math.max(...results.slice(0, -1).map((r) => r.accuracy)));
  // The soft prompt's figure comes from the adapter reloaded from disk: it must equal what training measured.
  const meta = JSON.parse(readFileSync(join(out, 'softprompt.json'), 'utf8')) as { metrics: { accuracy: number } };
  assert.equal(j['soft_prompt_accuracy'], meta.metrics.accuracy);
  assert.equal(j['adapter'], out);
});
