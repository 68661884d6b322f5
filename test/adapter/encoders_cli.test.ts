/**
 * The encoder methods end to end through the bin: `softprompt train` with --encoder-type lstm and
 * with --prefix-projection on stories260K story_gender (a few updates on 32 examples), then
 * `softprompt eval --adapter` on the saved folder gives the training's last evaluation exactly,
 * and the folder still holds the encoder to resume from.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAdapter } from '../../src/adapter/load.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { tempDir } from '../formats/helpers.ts';

const DATA = join(SHARED, 'datasets', 'story_gender');
const common = [
  '--model', STORIES, '--train', join(DATA, 'train.jsonl'), '--validation', join(DATA, 'validation.jsonl'),
  '--max-train-examples', '32', '--max-eval-examples', '32', '--template', '{text}\\nThe story is about a',
  '--verbalizer', '{"girl":" girl","boy":" boy"}', '--virtual-tokens', '4', '--lr', '0.01', '--steps', '4',
  '--batch-size', '8', '--eval-every', '4', '--seed', '3', '--json',
];

const RUNS = [
  { name: 'p-tuning LSTM', flags: ['--method', 'p-tuning', '--encoder-type', 'lstm', '--encoder-hidden-size', '16'], config: { encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 16, encoder_num_layers: 2 }, encoder: { type: 'lstm', hiddenSize: 16, numLayers: 2 } },
  { name: 'prefix projection', flags: ['--method', 'prefix-tuning', '--prefix-projection', '--encoder-hidden-size', '24'], config: { prefix_projection: true, encoder_hidden_size: 24, token_dim: 32 }, encoder: { type: 'prefix_projection', hiddenSize: 24 } },
] as const;

test('train (LSTM p-tuning, prefix projection) → save → eval --adapter: finite losses, the same accuracy', async (t) => {
  const root = tempDir(t, 'softprompt-encoders-cli-');
  const outs = RUNS.map((r) => join(root, r.name.replace(/ /g, '-')));
  const trained = (await Promise.all(RUNS.map((r, i) => cli(['train', ...common, ...r.flags, '--out', outs[i]!])))).map(lastJson);
  const evals = (await Promise.all(outs.map((out) => cli(['eval', '--model', STORIES, '--adapter', out, '--data', join(DATA, 'validation.jsonl'), '--max-examples', '32', '--json'])))).map(lastJson);
  const model = loadModelDir(STORIES);
  RUNS.forEach((r, i) => {
    const summary = trained[i]!;
    assert.equal(summary.steps, 4, r.name);
    assert.ok(Number.isFinite(summary.last_loss), `${r.name}: last loss ${String(summary.last_loss)}`);
    const losses = MetricsLog.read(join(outs[i]!, 'metrics.jsonl')).filter((e) => e.event === 'step').map((e) => e['loss'] as number);
    assert.equal(losses.length, 4);
    assert.ok(losses.every(Number.isFinite), `${r.name}: losses ${losses.join(', ')}`);
    const best = summary.best as { step: number; accuracy: number; macro_f1: number; n: number };
    assert.equal(best.step, 4, 'the one evaluation is the last update');
    assert.deepEqual([evals[i]!.accuracy, evals[i]!.macro_f1, evals[i]!.n], [best.accuracy, best.macro_f1, 32], r.name);

    const cfg = JSON.parse(readFileSync(join(outs[i]!, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    for (const [k, v] of Object.entries(r.config)) assert.equal(cfg[k], v, `${r.name}: adapter_config.json ${k}`);
    const a = loadAdapter(outs[i]!, model, { onWarning: (m) => assert.fail(m) });
    assert.deepEqual(a.trainMethod.encoder, r.encoder, `${r.name}: the encoder is there to resume from`);
  });
});
