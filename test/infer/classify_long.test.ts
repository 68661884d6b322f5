/**
 * Hardening (issue 16): a long classification (its candidates need more than one packed row) is
 * scored after its prompt's keys/values, in slices, and stops when its request is abandoned.
 * Oracles: eval's RankScorer on the same encoded example (packed rows, the prompt run again in
 * each); the abort test is ordered, not timed (it counts scorer calls).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { loadAdapterDir } from '../../src/adapter/load.ts';
import { padIdOf } from '../../src/data/collate.ts';
import { ExampleEncoder } from '../../src/data/encode.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { RankScorer } from '../../src/eval/rank.ts';
import { createEngine } from '../../src/infer/engine.ts';
import type { Engine } from '../../src/infer/engine.ts';
import { PromptScorer } from '../../src/infer/logprobs.ts';
import type { ClassifyRequest } from '../../src/infer/types.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { STORIES } from '../helpers/paths.ts';
import { TEMPLATE, writeAdapters } from './fixtures.ts';

let model: LoadedModel;
let engine: Engine;
let adapters: { root: string; dirs: Record<string, string> };

before(async () => {
  model = await loadModel(STORIES);
  adapters = writeAdapters(model);
  engine = await createEngine({ model, adapters: adapters.dirs, intraOpThreads: 1 });
});
after(async () => {
  await engine?.close();
  if (adapters) rmSync(adapters.root, { recursive: true, force: true });
});

const text = 'The little dog ran to the park and played with a red ball. '.repeat(16); // ~330 tokens
/** Counts calls of PromptScorer's `key` (and runs `after` once each returns) until `restore()`. */
function spy(key: 'continuations' | 'score', after: () => void = () => {}): { calls: () => number; restore: () => void } {
  const proto = PromptScorer.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const real = proto[key]!;
  let calls = 0;
  proto[key] = async function (this: unknown, ...args: unknown[]) {
    calls++;
    const r = await real.apply(this, args);
    after();
    return r;
  };
  return { calls: () => calls, restore: () => void (proto[key] = real) };
}

const labels = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, i % 4 === 3 ? `s${i}` : ` word${i}`]));

test('a long example scores as eval packs it (base model, prompt tuning, p-tuning)', async () => {
  const verbalizer = labels(60); // ~330 prompt + 60 × 3-4 tokens: more than one 512-token row
  const encoder = new ExampleEncoder({ template: new Template(TEMPLATE), verbalizer: new Verbalizer(verbalizer), tokenizer: model.tokenizer, maxLength: 512, allowUnlabelled: true, labelField: 'none' });
  const ex = encoder.encode({ text, __line: 1 });
  for (const task of [null, 'soft7', 'ptune3']) {
    const adapter = task === null ? null : loadAdapterDir(adapters.dirs[task]!, model, () => {});
    const scorer = await RankScorer.create(model.config, model.weights, adapter?.method ?? null, { padId: padIdOf(model.tokenizer), intraOpThreads: 1 });
    const want = (await scorer.score([{ promptIds: ex.promptIds, candidates: ex.candidates }], adapter?.params)).scores[0]!;
    await scorer.release();
    const s = spy('continuations');
    const [got] = await engine.classify([{ task, input: text, template: TEMPLATE, verbalizer }]).finally(s.restore);
    assert.equal(s.calls(), 2, 'scored after the prompt, in two slices');
    const names = Object.keys(verbalizer);
    names.forEach((l, j) => assert.ok(Math.abs(got!.scores[l]! - want[j]!) < 2e-3, `${task}: ${l} ${got!.scores[l]} vs ${want[j]}`));
    assert.equal(got!.label, names[want.indexOf(Math.max(...want))]);
  }
});

test('an aborted classification stops before its last slice, and the engine serves the next request', async () => {
  const request: ClassifyRequest = { task: 'soft7', input: text, template: TEMPLATE, verbalizer: labels(128) }; // 4 slices of 32
  const [whole] = await engine.classify([request]);
  const stop = new AbortController();
  const s = spy('continuations', () => stop.abort()); // the request is abandoned while its first slice runs
  try {
    const [r] = await engine.classify([request], { signals: [stop.signal] });
    assert.equal(r, null);
    assert.equal(s.calls(), 1, 'one slice of four ran');
  } finally {
    s.restore();
  }
  const [next] = await engine.classify([request]);
  assert.deepEqual(next, whole);
});

test('an aborted score() stops before its next prompt', async () => {
  const stop = new AbortController();
  const s = spy('score', () => stop.abort());
  try {
    await assert.rejects(engine.score(['one', 'two', 'three'].map((prompt) => ({ task: null, prompt, topK: 0 })), { signal: stop.signal }), /aborted/);
    assert.equal(s.calls(), 1);
  } finally {
    s.restore();
  }
  assert.equal((await engine.score([{ task: null, prompt: 'one two', topK: 0 }])).length, 1);
});
