/**
 * Hardening (issue 16, hostile mix): a classification that holds the engine for long (a near-limit
 * input) does not hold generation back in the scheduler's queue: each kind has its own slots.
 * Ordered: the classification stays unanswered until the generation has been answered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Scheduler } from '../../src/serve/scheduler.ts';
import { FakeEngine } from './fake_engine.ts';

test('a generate batch runs while a classify batch is still running (concurrency 1)', { timeout: 10_000 }, async () => {
  const engine = new FakeEngine({ delayMs: 0 });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const classify = engine.classify.bind(engine);
  engine.classify = async (requests) => {
    await held;
    return classify(requests);
  };
  const scheduler = new Scheduler(engine, { maxQueue: 16, maxBatch: 4, batchWindowMs: 0, concurrency: 1, maxStreams: 4 });
  let classified = false;
  const c = scheduler.classify([{ task: null, input: 'a long one', template: '{text}', verbalizer: { a: ' a', b: ' b' } }]).then((r) => ((classified = true), r));
  const [g] = await scheduler.generate([{ task: null, prompt: 'hello', maxNewTokens: 2 }]);
  assert.equal(classified, false, 'the classification is still running');
  assert.ok(g!.text.length > 0);
  release();
  assert.equal((await c).length, 1);
});
