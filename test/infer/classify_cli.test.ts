/** Classification through the engine equals `softprompt eval`'s scoring; generate/classify CLI smoke tests. */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createScorer } from '../../src/eval/score.ts';
import { encodeSplit } from '../../src/data/split.ts';
import { loadAdapterDir } from '../../src/adapter/load.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { readSplit } from '../../src/data/readers.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { createEngine } from '../../src/infer/engine.ts';
import type { Engine } from '../../src/infer/engine.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { TEMPLATE, VERBALIZER, writeAdapters } from './fixtures.ts';

const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
const N = 40;

describe('classify', () => {
  let model: LoadedModel;
  let engine: Engine;
  let root: string;
  let dirs: Record<string, string>;
  before(async () => {
    model = await loadModel(STORIES);
    ({ root, dirs } = writeAdapters(model));
    engine = await createEngine({ model, adapters: dirs, onWarning: () => {} });
  });
  after(async () => {
    await engine?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test("equals eval's scoring for every adapter and the base model (same examples, labels and scores)", async () => {
    const records = await readSplit(VALID, N);
    for (const task of ['soft7', 'ptune3', 'prefix4', null] as const) {
      const adapter = task ? loadAdapterDir(dirs[task]!, model, () => {}) : undefined;
      const prompt = { template: new Template(TEMPLATE), verbalizer: new Verbalizer(VERBALIZER), labelField: 'label' };
      const n = adapter?.method.numVirtualTokens ?? 0;
      const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, model.config.maxPositions - n);
      const scorer = await createScorer(model, adapter, { maxLabels: 2 });
      const want = await scorer.score(split.examples);
      await scorer.release();
      const got = await engine.classify(
        records.map((r) => ({ task, input: r['text'] as string, ...(task === null ? { template: TEMPLATE, verbalizer: VERBALIZER } : {}) })),
      );
      got.forEach((g, i) => {
        assert.equal(g.label, prompt.verbalizer.labels[want.predictions[i]!], `${task} example ${i}`);
        assert.deepEqual(Object.keys(g.scores), ['girl', 'boy']);
        Object.values(g.scores).forEach((s, k) => assert.ok(Math.abs(s - want.scores[i]![k]!) < 1e-4, `${task} example ${i} label ${k}: ${s} vs ${want.scores[i]![k]}`));
      });
    }
  });

  test('softprompt eval --adapter reports the accuracy of engine.classify on the same examples', async () => {
    const records = await readSplit(VALID, N);
    const got = await engine.classify(records.map((r) => ({ task: 'soft7', input: { text: r['text'] as string } })));
    const accuracy = got.filter((g, i) => g.label === records[i]!['label']).length / N;
    const j = lastJson(await cli(['eval', '--model', STORIES, '--adapter', dirs['soft7']!, '--data', VALID, '--max-examples', String(N), '--json']));
    assert.equal(j['accuracy'], accuracy);
  });

  test('a mixed batch of tasks classifies each request as alone; bad requests name the field', async () => {
    const reqs = [
      { task: 'prefix4', input: 'Lily played with her doll.' },
      { task: 'soft7', input: 'Tom kicked the ball.' },
      { task: null, input: 'Sue liked cats.', template: TEMPLATE, verbalizer: VERBALIZER },
    ];
    const both = await engine.classify(reqs);
    for (let i = 0; i < reqs.length; i++) assert.deepEqual((await engine.classify([reqs[i]!]))[0], both[i]);
    await assert.rejects(engine.classify([{ task: null, input: 'x' }]), (e: Error & { field?: string }) => e.field === 'template');
    await assert.rejects(engine.classify([{ task: 'missing', input: 'x' }]), (e: Error & { field?: string }) => e.field === 'task');
  });

  test('CLI: classify --file JSONL and --text; generate --prompt, stdin lines and --jsonl', async () => {
    const file = join(root, 'in.jsonl');
    writeFileSync(file, (await readSplit(VALID, 3)).map((r) => JSON.stringify({ text: r['text'], label: r['label'] })).join('\n') + '\n');
    const [c1, c2, g1, g2] = await Promise.all([
      cli(['classify', '--model', STORIES, '--adapter', dirs['soft7']!, '--file', file, '--jsonl']),
      cli(['classify', '--model', STORIES, '--adapter', dirs['prefix4']!, '--text', 'Lily played with her doll.']),
      cli(['generate', '--model', STORIES, '--adapter', dirs['ptune3']!, '--prompt', 'Once upon a time', '--max-new-tokens', '12']),
      cli(['generate', '--model', STORIES, '--file', file, '--max-new-tokens', '5', '--jsonl', '--temperature', '0.9', '--seed', '4', '--stop', 'zz']),
    ]);
    assert.equal(c1.status, 0, c1.stderr);
    const lines = c1.stdout.trim().split('\n').map((l) => JSON.parse(l) as { label: string; scores: Record<string, number> });
    assert.equal(lines.length, 3);
    assert.ok(lines.every((l) => ['girl', 'boy'].includes(l.label) && typeof l.scores['girl'] === 'number'));
    assert.equal(c2.status, 0, c2.stderr);
    assert.match(c2.stdout, /^(girl|boy)\tgirl=-\d+\.\d+ boy=-\d+\.\d+\n$/);
    assert.equal(g1.status, 0, g1.stderr);
    const [want] = await engine.generate([{ task: 'ptune3', prompt: 'Once upon a time', maxNewTokens: 12 }]);
    assert.equal(g1.stdout, `${want!.text}\n`);
    assert.equal(g2.status, 0, g2.stderr);
    const out = g2.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(out.length, 3);
    assert.ok(out.every((o) => (o['ids'] as number[]).length === 5 && o['finish_reason'] === 'length'));
    const bad = await cli(['generate', '--model', STORIES, '--adapter', join(root, 'nowhere'), '--prompt', 'x']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /nowhere/);
  });
});
