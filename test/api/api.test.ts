/**
 * The public API (src/index.ts) on stories260K + story_gender, checked against the CLI as the
 * oracle: a few training steps, save → load (folder and a local fake Hub), evaluate equal to
 * `softprompt eval`, classify equal to evaluate's predictions, generate equal to
 * `softprompt generate`, inspect, the server inside an app, abort, and the one set of defaults.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  classify, createServer, DEFAULTS, evaluate, generate, inspectAdapter, loadAdapter, loadModel, saveAdapter, train, SoftpromptError, TrainingError,
} from '../../src/index.ts';
import type { Adapter, HubClient, Model, TrainEvent } from '../../src/index.ts';
import { trainCommand } from '../../src/cli/train.ts';
import { ADAPTER_ZIP_FILES, adapterZip } from '../../src/adapter/archive.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const DATA = join(SHARED, 'datasets', 'story_gender');
const TEMPLATE = '{text}\nThe story is about a';
const VERBALIZER = { girl: ' girl', boy: ' boy' };

/** A Hub in a folder: repo "owner/name" is `root/owner/name`; downloads copy into a cache snapshot. */
function fakeHub(root: string, cache: string): HubClient & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    fetched,
    listFiles: async (repo) => {
      const dir = join(root, repo);
      if (!existsSync(dir)) throw new Error(`404 ${repo}`);
      return (await import('node:fs')).readdirSync(dir);
    },
    downloadFile: async (repo, _type, path) => {
      const to = join(cache, repo.replace('/', '--'), 'snapshot', path);
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(join(root, repo, path), to);
      fetched.push(path);
      return to;
    },
    snapshot: async () => assert.fail('no snapshots'),
  };
}

describe('public API', () => {
  let tmp: string;
  let model: Model;
  let adapter: Adapter;
  const events: TrainEvent['kind'][] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'softprompt-api-'));
    model = await loadModel(STORIES);
    const trained = await train(model, {
      train: join(DATA, 'train.jsonl'),
      template: TEMPLATE,
      verbalizer: VERBALIZER,
      steps: 4,
      batchSize: 8,
      seed: 0,
      out: join(tmp, 'run'),
      onEvent: (e) => events.push(e.kind),
    });
    adapter = trained.adapter;
    assert.equal(trained.metrics.steps, 4);
  });
  after(async () => {
    await model.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('train reports start, steps and stop, and gives a PROMPT_TUNING adapter with its prompt', () => {
    assert.deepEqual([events[0], events.filter((k) => k === 'step').length, events.at(-1)], ['start', 4, 'stop']);
    assert.equal(adapter.peftType, 'PROMPT_TUNING');
    assert.equal(adapter.numVirtualTokens, DEFAULTS.train.numVirtualTokens);
    assert.equal(adapter.spec.template, TEMPLATE);
    assert.deepEqual(adapter.spec.verbalizer, VERBALIZER);
  });

  test('saveAdapter → loadAdapter round-trips the files; evaluate equals `softprompt eval` on the saved adapter', async () => {
    const dir = join(tmp, 'saved');
    await saveAdapter(adapter, dir);
    const loaded = await loadAdapter(dir);
    assert.deepEqual(readFileSync(join(dir, 'adapter_model.safetensors')), readFileSync(join(adapter.source, 'adapter_model.safetensors')));
    assert.deepEqual({ ...loaded, source: '' }, { ...adapter, source: '' });
    const data = join(DATA, 'validation.jsonl');
    const result = await evaluate(model, loaded, data, { maxExamples: 60 });
    const oracle = lastJson(await cli(['eval', '--model', STORIES, '--adapter', dir, '--data', data, '--max-examples', '60', '--json']));
    assert.equal(result.n, 60);
    assert.equal(result.accuracy, oracle['accuracy']);
    assert.equal(result.macroF1, oracle['macro_f1']);
    assert.equal(result.predictions.length, 60);
  });

  test('loadAdapter takes a .zip of an adapter (the browser page\'s download): same adapter, same scores; saveAdapter unpacks it', async () => {
    const zip = join(tmp, 'gender.zip');
    writeFileSync(zip, adapterZip(Object.fromEntries(ADAPTER_ZIP_FILES.map((f) => [f, readFileSync(join(adapter.source, f))]))));
    const zipped = await loadAdapter(zip);
    assert.equal(zipped.source, zip);
    assert.deepEqual({ ...zipped, source: '' }, { ...adapter, source: '' });
    const records = readFileSync(join(DATA, 'validation.jsonl'), 'utf8').trim().split('\n').slice(0, 6).map((l) => JSON.parse(l) as { text: string; label: string });
    assert.deepEqual(await classify(model, zipped, records.map((r) => r.text)), await classify(model, adapter, records.map((r) => r.text)));
    const out = join(tmp, 'unzipped');
    await saveAdapter(zipped, out);
    for (const f of ADAPTER_ZIP_FILES) assert.deepEqual(readFileSync(join(out, f)), readFileSync(join(adapter.source, f)), f);
    writeFileSync(join(tmp, 'broken.zip'), readFileSync(zip).subarray(0, 100));
    await assert.rejects(loadAdapter(join(tmp, 'broken.zip')), /broken\.zip.*not a readable \.zip archive/);
  });

  test('classify gives the labels evaluate predicts, with a score per label', async () => {
    const records = readFileSync(join(DATA, 'validation.jsonl'), 'utf8').trim().split('\n').slice(0, 12).map((l) => JSON.parse(l) as { text: string; label: string });
    const got = await classify(model, adapter, records.map((r) => r.text));
    const ev = await evaluate(model, adapter, records);
    assert.deepEqual(got.map((c) => c.label), ev.predictions);
    for (const c of got) assert.deepEqual(Object.keys(c.scores).sort(), ['boy', 'girl']);
    const base = await classify(model, null, records.slice(0, 2), { template: TEMPLATE, verbalizer: VERBALIZER });
    assert.equal(base.length, 2);
  });

  test('generate streams pieces whose concatenation is what `softprompt generate` prints (greedy)', async () => {
    let text = '';
    let pieces = 0;
    for await (const piece of generate(model, adapter, 'Once upon a time', { maxNewTokens: 12 })) {
      text += piece;
      pieces++;
    }
    assert.ok(pieces > 1, 'streamed in several pieces');
    const oracle = lastJson(await cli(['generate', '--model', STORIES, '--adapter', adapter.source, '--prompt', 'Once upon a time', '--max-new-tokens', '12', '--jsonl']));
    assert.equal(text, oracle['text']);
  });

  test('loadModel and loadAdapter take a hub id through the (fake, local) Hub, with progress', async () => {
    const hubRoot = join(tmp, 'hub');
    for (const [repo, from] of [['me/stories', STORIES], ['me/gender', adapter.source]] as const) {
      mkdirSync(join(hubRoot, repo), { recursive: true });
      for (const f of ['config.json', 'tokenizer.json', 'model.safetensors', 'adapter_config.json', 'adapter_model.safetensors', 'softprompt.json']) {
        if (existsSync(join(from, f))) copyFileSync(join(from, f), join(hubRoot, repo, f));
      }
    }
    const hub = fakeHub(hubRoot, join(tmp, 'cache'));
    const progress: string[] = [];
    const m = await loadModel('me/stories', { hub, onProgress: (e) => progress.push(e.file) });
    assert.deepEqual(progress, ['config.json', 'tokenizer.json', 'model.safetensors']);
    assert.equal(m.config.hiddenSize, model.config.hiddenSize);
    await m.close();
    const a = await loadAdapter('me/gender', { hub });
    assert.deepEqual(a.spec, adapter.spec);
    await assert.rejects(loadAdapter('me/nothing', { hub }), /404/);
  });

  test('inspectAdapter lists each virtual token', async () => {
    const ins = await inspectAdapter(adapter, model, { topK: 2 });
    assert.equal(ins.numVirtualTokens, adapter.numVirtualTokens);
  });

  test('createServer serves the adapter inside an app; apiKey guards it', async () => {
    const server = await createServer(model, { adapters: { gender: adapter.source }, port: 0, apiKey: 'k' });
    try {
      const url = await server.listen();
      assert.equal((await fetch(`${url}/v1/models`)).status, 401);
      const r = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k' } });
      const body = (await r.json()) as { data: { id: string }[] };
      assert.ok(body.data.some((m) => m.id === 'gender'), JSON.stringify(body));
    } finally {
      await server.close();
    }
  });

  test('an aborted signal stops training with a TrainingError; an aborted call does not start', async () => {
    const ac = new AbortController();
    await assert.rejects(
      train(model, {
        train: join(DATA, 'train.jsonl'), template: TEMPLATE, verbalizer: VERBALIZER, steps: 50, batchSize: 4, out: join(tmp, 'aborted'), signal: ac.signal,
        onEvent: (e) => { if (e.kind === 'step' && e.step === 2) ac.abort(); },
      }),
      (e: unknown) => e instanceof TrainingError && /aborted at update 2/.test(e.message),
    );
    await assert.rejects(evaluate(model, adapter, join(DATA, 'validation.jsonl'), { signal: AbortSignal.abort() }), SoftpromptError);
  });

  test('records in memory: an aborted run resumes with `resume: true` and ends with the uninterrupted losses', async () => {
    const records = readFileSync(join(DATA, 'train.jsonl'), 'utf8').trim().split('\n').slice(0, 32).map((l) => JSON.parse(l) as { text: string; label: string });
    const opts = { train: records, template: TEMPLATE, verbalizer: VERBALIZER, steps: 4, batchSize: 8, seed: 0 };
    const lossesOf = (into: number[]) => (e: TrainEvent): void => { if (e.kind === 'step') into.push(e.loss); };
    const whole: number[] = [];
    await train(model, { ...opts, out: join(tmp, 'records-whole'), onEvent: lossesOf(whole) });
    const ac = new AbortController();
    const first: number[] = [];
    await assert.rejects(
      train(model, { ...opts, out: join(tmp, 'records-cut'), signal: ac.signal, onEvent: (e) => { lossesOf(first)(e); if (e.kind === 'step' && e.step === 2) ac.abort(); } }),
      TrainingError,
    );
    const rest: number[] = [];
    const resumed = await train(model, { ...opts, out: join(tmp, 'records-cut'), resume: true, onEvent: lossesOf(rest) });
    assert.equal(resumed.metrics.steps, 4);
    assert.deepEqual([...first, ...rest], whole);
  });

  test('the CLI flags default to DEFAULTS.train (one set of defaults)', () => {
    const opts = new Map(trainCommand().options.map((o) => [o.attributeName(), o.defaultValue as unknown]));
    const d = DEFAULTS.train;
    assert.deepEqual(
      [opts.get('virtualTokens'), opts.get('batchSize'), opts.get('weightDecay'), opts.get('schedule'), opts.get('seed'), opts.get('beta2'), opts.get('adamEps'), opts.get('shuffleBuffer'), opts.get('method')],
      [d.numVirtualTokens, d.batchSize, d.weightDecay, d.schedule, d.seed, d.beta2, d.adamEps, d.shuffleBuffer, 'prompt-tuning'],
    );
  });
});
