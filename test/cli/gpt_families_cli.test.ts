/**
 * A GPT-style family beyond GPT-2 through the bin (tiny-opt; test/models/gpt_families.test.ts
 * trains and generates on all three in-process): `train` lowers the loss, `generate` with the
 * trained adapter gives the greedy ids of an independent full recomputation (no KV cache) with the
 * adapter's tensors, and `eval` reproduces training's own dev figure.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadAdapter } from '../../src/adapter/load.ts';
import { greedyFullRecompute } from '../../src/check/golden.ts';
import { loadModelDir } from '../../src/formats/model_dir.ts';
import { MetricsLog } from '../../src/train/metrics_log.ts';
import { buildProgram } from '../../src/methods/program.ts';
import { compileGraph } from '../../src/runtime/session.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { GOLDEN, SHARED } from '../helpers/paths.ts';

const DATA = join(SHARED, 'datasets', 'story_gender');
const tmp = mkdtempSync(join(tmpdir(), 'sp-gpt-families-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PROMPT = 'Once upon a time, there was a';
const NEW = 8;

for (const [name, method] of [['tiny-opt', 'prefix-tuning']] as const) {
  describe(`${name}: train (${method}) → generate → eval`, () => {
    const model = join(GOLDEN, name);
    const out = join(tmp, name);
    let trained: Record<string, unknown>;

    test('train: the loss falls', async () => {
      trained = lastJson(
        await cli([
          'train', '--model', model, '--train', join(DATA, 'train.jsonl'), '--validation', join(DATA, 'validation.jsonl'),
          '--max-train-examples', '8', '--max-eval-examples', '16', '--template', '{text}\\nThe story is about a',
          '--verbalizer', '{"girl":" girl","boy":" boy"}', '--method', method, '--virtual-tokens', '4',
          '--lr', '0.3', '--steps', '8', '--batch-size', '8', '--seed', '1', '--out', out, '--json',
        ]),
      );
      const losses = MetricsLog.read(join(out, 'metrics.jsonl')).filter((e) => e.event === 'step').map((e) => e['loss'] as number);
      assert.equal(losses.length, 8);
      // One full batch of 8 examples per update: the loss falls at every step.
      losses.slice(1).forEach((l, i) => assert.ok(l < losses[i]!, `loss falls: ${losses.map((x) => x.toFixed(4)).join(' ')}`));
      assert.ok(losses.at(-1)! < losses[0]! - 0.1, `loss falls: ${losses.map((x) => x.toFixed(4)).join(' ')}`);
    });

    test('generate with the adapter: the ids of a full recomputation', async () => {
      const r = await cli(['generate', '--model', model, '--adapter', out, '--prompt', PROMPT, '--max-new-tokens', String(NEW), '--no-eos', '--jsonl']);
      assert.equal(r.status, 0, r.stderr);
      const got = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ids: number[] }).ids;
      const m = loadModelDir(model);
      const adapter = loadAdapter(out, m, { onWarning: () => {} });
      const program = buildProgram(m.config, m.weights, adapter.method, { fullLogits: true, loss: false, gradients: false });
      const session = await compileGraph(program.graph);
      const prompt = (await loadTokenizer(model)).encode(PROMPT);
      const want = await greedyFullRecompute(session, adapter.method, { ...adapter.params }, prompt, NEW);
      await session.release();
      assert.deepEqual(got, want);
    });

    test("eval reloads the adapter and gives training's own dev accuracy", async () => {
      const j = lastJson(await cli(['eval', '--model', model, '--adapter', out, '--data', join(DATA, 'validation.jsonl'), '--max-examples', '16', '--json']));
      assert.equal(j['accuracy'], (trained['best'] as Record<string, unknown>)['accuracy']);
    });
  });
}
