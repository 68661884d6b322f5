/**
 * `softprompt inspect`: a prompt that is still its init reads back as its tokens (nearest by
 * cosine and at L2 distance 0, drift 0), prompt similarity is 1 with itself and below 1 between
 * different prompts, a discretised text-init prompt scores exactly as the soft one (they are the
 * same embeddings), prefixes are refused where token space is needed, and bad invocations exit 2.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { AdapterMetaInput } from '../../src/adapter/save.ts';
import type { PromptInit } from '../../src/adapter/types.ts';
import { loadAdapterDir } from '../../src/adapter/load.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { runDiscretize, runInspect } from '../../src/cli/inspect.ts';
import type { Io } from '../../src/cli/output.ts';
import { comparePrompts } from '../../src/inspect/compare.ts';
import { discretize } from '../../src/inspect/discretize.ts';
import { InspectError } from '../../src/inspect/errors.ts';
import { inspectAdapter, modelVocabulary, promptOf } from '../../src/inspect/inspect.ts';
import { topK } from '../../src/inspect/vectors.ts';
import { initParams, textInitIds } from '../../src/methods/init.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const TEXT = 'Is the story about a girl or a boy?';
const VALID = join(SHARED, 'datasets', 'story_gender', 'validation.jsonl');
const quiet: Io = { out: () => {}, err: () => {}, progress: false };

let tmp: string;
let model: LoadedModel;

/** Saves the init of `method` (seeded) as an adapter in tmp/name, recording init and seed as train does. */
function savedInit(name: string, method: PromptMethod, init: PromptInit, seed: number): string {
  const dir = join(tmp, name);
  const trainable = initParams(model.config, method, { seed, init, weights: model.weights, tokenizer: model.tokenizer });
  const meta: AdapterMetaInput = {
    template: { source: '{text}\nThe story is about a' },
    verbalizer: { girl: ' girl', boy: ' boy' },
    label_field: 'label',
    training: { seed, init: init.kind },
    init,
  };
  saveAdapter(dir, { method, trainable, config: model.config, fingerprint: fingerprintModel({ config: model.config, weights: model.weights, dir: model.dir }), meta });
  return dir;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-inspect-'));
  model = await loadModel(STORIES);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('inspect', () => {
  test('a text-initialised prompt before any training reads back as that text: nearest by cosine (1) and L2 (0), drift 0', () => {
    const dir = savedInit('text20', promptTuning(model.config, { numVirtualTokens: 20 }), { kind: 'text', text: TEXT }, 3);
    const adapter = loadAdapterDir(dir, model, (m) => assert.fail(m));
    const ins = inspectAdapter(adapter, model, { top: 3 });
    const ids = textInitIds(model.tokenizer, TEXT, 20);
    assert.equal(ins.tokens.length, 20);
    assert.deepEqual(ins.tokens.map((t) => t.byCosine[0]!.id), ids);
    assert.deepEqual(ins.tokens.map((t) => t.byL2[0]!.id), ids);
    for (const t of ins.tokens) {
      assert.equal(t.byCosine[0]!.score, 1);
      assert.equal(t.byL2[0]!.score, 0);
      assert.ok(t.byCosine[1]!.score < 1 && t.byL2[1]!.score > 0, 'the runner-up is another token');
      assert.deepEqual(t.drift && { cosine: t.drift.cosine, l2: t.drift.l2 }, { cosine: 1, l2: 0 });
      assert.equal(t.drift!.initToken!.id, t.byL2[0]!.id);
      assert.ok(t.normRatio! > 0);
    }
    assert.deepEqual(ins.projection!.ids, ids);
    assert.equal(ins.init!.spec, `text:${JSON.stringify(TEXT)}`);
    const v = ins.vocabulary!;
    assert.equal(v.size, 512);
    assert.ok(v.norms.q1 <= v.norms.median && v.norms.median <= v.norms.q3);
  });

  test('a seeded vocab init is recomputed exactly from init + training.seed (drift 0); another seed would not be', () => {
    const method = promptTuning(model.config, { numVirtualTokens: 6 });
    const dir = savedInit('vocab6', method, { kind: 'vocab' }, 11);
    const ins = inspectAdapter(loadAdapterDir(dir, model, (m) => assert.fail(m)), model);
    for (const t of ins.tokens) {
      assert.equal(t.drift!.l2, 0);
      assert.equal(t.drift!.initToken!.id, t.byL2[0]!.id);
    }
    const other = initParams(model.config, method, { seed: 12, init: { kind: 'vocab' }, weights: model.weights });
    assert.notDeepEqual(other['prompt_embeddings']!.data, promptOf(loadAdapterDir(dir, model, () => {})).data);
  });

  test('similarity: 1 on the diagonal (and for the same prompt twice), below 1 between different prompts', () => {
    const pt = promptTuning(model.config, { numVirtualTokens: 20 });
    const a = loadAdapterDir(join(tmp, 'text20'), model, () => {});
    const b = loadAdapterDir(savedInit('vocab20', pt, { kind: 'vocab' }, 5), model, () => {});
    const c = loadAdapterDir(savedInit('random20', pt, { kind: 'random' }, 5), model, () => {});
    const entries = [a, a, b, c].map((x, i) => ({ name: `p${i}`, prompt: promptOf(x), tokenSpace: true }));
    const cmp = comparePrompts(entries, modelVocabulary(model));
    assert.equal(cmp.used, 'flattened');
    for (let i = 0; i < 4; i++) assert.equal(cmp.flattened[i]![i], 1);
    assert.equal(cmp.flattened[0]![1], 1);
    for (const [i, j] of [[0, 2], [0, 3], [2, 3]] as const) {
      const s = cmp.flattened[i]![j]!;
      assert.ok(s < 1 && s > -1, `prompts ${i} and ${j}: ${s}`);
      assert.equal(s, cmp.flattened[j]![i]);
    }
    assert.equal(cmp.nearest[0]!.nearest, 'p1');
    assert.equal(cmp.nearest[0]!.similarity, 1);
    assert.equal(cmp.nearest[0]!.centroidTokens.length, 3);

    // Different virtual-token counts: flattening is undefined, the mean-pooled matrix is used.
    const short = loadAdapterDir(join(tmp, 'vocab6'), model, () => {});
    const mixed = comparePrompts([a, short].map((x, i) => ({ name: `q${i}`, prompt: promptOf(x), tokenSpace: true })));
    assert.equal(mixed.used, 'mean-pooled');
    assert.equal(mixed.flattened[0]![1], null);
    assert.equal(mixed.meanPooled[0]![0], 1);
    assert.ok(mixed.meanPooled[0]![1]! < 1);
    assert.throws(() => comparePrompts([entries[0]!]), InspectError);
  });

  test('discretising a text-initialised prompt scores exactly as the soft prompt (the same embeddings), on 40 examples', async () => {
    const adapter = loadAdapterDir(join(tmp, 'text20'), model, () => {});
    const o = await runDiscretize(adapter, model, { data: VALID, maxExamples: 40 }, quiet);
    assert.deepEqual(o.discretized.ids, textInitIds(model.tokenizer, TEXT, 20));
    assert.deepEqual(o.discretized.params['prompt_embeddings']!.data, promptOf(adapter).data);
    assert.equal(o.soft.n, 40);
    assert.equal(o.hard.accuracy, o.soft.accuracy);
    assert.deepEqual(o.hard.confusion.matrix, o.soft.confusion.matrix);
  });

  test('a prefix-tuning adapter: norms and drift only (no token space), and discretisation is refused', () => {
    const dir = savedInit('prefix', prefixTuning(model.config, { numVirtualTokens: 4 }), { kind: 'random' }, 2);
    const adapter = loadAdapterDir(dir, model, () => {});
    const ins = inspectAdapter(adapter, model);
    assert.equal(ins.tokenSpace, false);
    assert.equal(ins.vocabulary, null);
    assert.ok(ins.notes.some((n) => n.includes('PREFIX_TUNING')));
    for (const t of ins.tokens) {
      assert.equal(t.byCosine.length, 0);
      assert.equal(t.drift!.l2, 0);
    }
    assert.throws(() => discretize(adapter, modelVocabulary(model), model.tokenizer), /PREFIX_TUNING adapter cannot be discretised/);
  });

  test('topK keeps the best k in order and breaks ties by the lower id', () => {
    assert.deepEqual(topK([0.1, 0.9, 0.5, 0.9, -1], 3, true), [{ id: 1, score: 0.9 }, { id: 3, score: 0.9 }, { id: 2, score: 0.5 }]);
    assert.deepEqual(topK([3, 1, 2, 1], 2, false).map((s) => s.id), [1, 3]);
  });

  test('runInspect --json object: the table data for machines', async () => {
    const lines: string[] = [];
    const json = await runInspect([join(tmp, 'text20')], { top: 2, json: true, model: STORIES }, { out: (l) => lines.push(l), err: () => {}, progress: false });
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]!), json);
    const tokens = json['tokens'] as { nearest_cosine: { token: string; score: number }[]; drift: { l2: number } }[];
    assert.equal(tokens[0]!.nearest_cosine.length, 2);
    assert.equal(tokens[0]!.nearest_cosine[0]!.token, '<s>');
    assert.equal(tokens[0]!.drift.l2, 0);
  });
});

describe('softprompt inspect (the bin)', { concurrency: true }, () => {
  test('the table, and --compare through the bin', async () => {
    const [table, compare] = await Promise.all([
      cli(['inspect', join(tmp, 'text20'), '--top', '2']),
      cli(['inspect', '--compare', join(tmp, 'text20'), join(tmp, 'vocab20'), '--json']),
    ]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /nearest by cosine/);
    assert.match(table.stdout, /"<s>" 1, /);
    assert.match(table.stdout, /from softprompt\.json base_model\.path/);
    const j = lastJson(compare);
    assert.equal(j['similarity'], 'flattened');
    const m = j['matrix'] as number[][];
    assert.equal(m[0]![0], 1);
    assert.ok(m[0]![1]! < 1);
  });

  test('two tasks trained from the same init and seed are compared: 1 on the diagonal, different off it', async () => {
    const D = join(SHARED, 'datasets');
    const train = (name: string, file: string, template: string, verbalizer: string): Promise<unknown> =>
      cli(['train', '--model', STORIES, '--train', join(D, file), '--max-train-examples', '48', '--template', template, '--verbalizer', verbalizer,
        '--virtual-tokens', '8', '--init', 'text:Is the story about a girl or a boy?', '--lr', '0.3', '--steps', '6', '--batch-size', '8', '--seed', '3',
        '--out', join(tmp, name), '--json']).then((r) => lastJson(r));
    await train('task_gender', join('story_gender', 'train.jsonl'), '{text}\\nThe story is about a', '{"girl":" girl","boy":" boy"}');
    await train('task_sst2', join('sst2', 'train.jsonl'), '{text} It was', '{"negative":" bad","positive":" good"}');
    const j = lastJson(await cli(['inspect', '--compare', join(tmp, 'task_gender'), join(tmp, 'task_sst2'), '--json']));
    const m = j['matrix'] as number[][];
    assert.equal(m[0]![0], 1);
    assert.equal(m[1]![1], 1);
    assert.equal(m[0]![1], m[1]![0]);
    assert.ok(m[0]![1]! < 0.999, `two trained tasks differ (similarity ${m[0]![1]})`);
    assert.ok(m[0]![1]! > 0, 'yet they share their text init');
  });

  test('errors exit 2 with a clear message: not an adapter, --compare with one, --discretize without --data', async () => {
    const empty = join(tmp, 'empty');
    mkdirSync(empty, { recursive: true });
    const adapter = join(tmp, 'text20');
    const [notAdapter, one, noData] = await Promise.all([
      cli(['inspect', empty]),
      cli(['inspect', '--compare', adapter]),
      cli(['inspect', adapter, '--discretize']),
    ]);
    assert.equal(notAdapter.status, 2);
    assert.match(notAdapter.stderr, /adapter_config\.json: not found: this is not an adapter folder/);
    assert.equal(one.status, 2);
    assert.match(one.stderr, /--compare needs at least two adapters/);
    assert.equal(noData.status, 2);
    assert.match(noData.stderr, /--discretize needs --data FILE/);
    for (const r of [notAdapter, one, noData]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
