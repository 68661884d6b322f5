/** The memory check before loading: an estimate of weights + activations against a budget, refused with one clear line. */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { checkMemory, estimateMemory, MemoryError, parseMemory } from '../../src/models/memory.ts';
import { cli } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const model = loadModelDir(STORIES);

test('the estimate counts float32 weights once and activations that grow with batch and length', () => {
  const a = estimateMemory(model.config, model.weights, 1, 32, true);
  const n = model.weights.names().reduce((s, k) => s + model.weights.info(k).shape.reduce((x, y) => x * y, 1), 0);
  assert.equal(a.weights, 4 * n);
  const b = estimateMemory(model.config, model.weights, 8, 32, true);
  const c = estimateMemory(model.config, model.weights, 8, 64, true);
  assert.ok(b.activations > 7 * a.activations && c.activations > 2 * b.activations, 'activations scale with batch and length');
  assert.ok(estimateMemory(model.config, model.weights, 8, 64, false).activations < c.activations, 'a forward pass keeps less');
});

test('a budget below the estimate is refused naming need and budget; above it passes', () => {
  const need = estimateMemory(model.config, model.weights, 8, 100, true).total;
  assert.throws(
    () => checkMemory({ config: model.config, weights: model.weights, batch: 8, seq: 100, training: true, maxMemory: need - 1, what: 'training' }),
    (e: unknown) => e instanceof MemoryError && /model\.safetensors: training needs about [\d.]+ MB \(weights [\d.]+ MB \+ activations [\d.]+ MB at batch 8 × 100 positions\) but [\d.]+ MB is available \(--max-memory\)/.test(e.message),
  );
  assert.equal(checkMemory({ config: model.config, weights: model.weights, batch: 8, seq: 100, training: true, maxMemory: need, what: 'training' }).total, need);
  assert.equal(parseMemory('12'), 12e9);
  assert.equal(parseMemory('800MB'), 800e6);
  assert.equal(parseMemory('2GiB'), 2 * 2 ** 30);
  assert.throws(() => parseMemory('lots'), /--max-memory: "lots" is not a size/);
});

test('train --max-memory too small: exit 2 with one line before any weight is read', async () => {
  const data = join(SHARED, 'datasets', 'story_gender', 'train.jsonl');
  const out = join(mkdtempSync(join(tmpdir(), 'sp-mem-')), 'run');
  const r = await cli(['train', '--model', STORIES, '--train', data, '--max-train-examples', '16', '--template', '{text}\\nThe story is about a',
    '--verbalizer', '{"girl":" girl","boy":" boy"}', '--lr', '0.3', '--steps', '1', '--batch-size', '8', '--out', out, '--max-memory', '1MB']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /training needs about [\d.]+ MB \(weights 1\.\d MB \+ activations [\d.]+ MB at batch 8 × \d+ positions\) but 1\.0 MB is available \(--max-memory\); use a smaller --batch-size/);
  assert.doesNotMatch(r.stderr, /RangeError|\n\s+at /);
});
