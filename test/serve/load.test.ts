/**
 * Load: 16 concurrent clients against a server on 127.0.0.1 for a bounded time (5 s here;
 * SOFTPROMPT_SERVE_LOAD_MS to change it; bench/serve_load.ts runs the 30 s), each request
 * with a unique id in its prompt that the fake engine echoes: zero 5xx, nothing lost or duplicated,
 * every answer its own; and the throughput against the same requests sent one at a time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runLoad } from '../../src/serve/load.ts';
import { listeningServer } from './helpers.ts';

const DURATION_MS = Number(process.env['SOFTPROMPT_SERVE_LOAD_MS'] ?? 5000);

test(`16 concurrent clients for ${DURATION_MS} ms: no 5xx, none lost or duplicated, faster than sequential`, async (t) => {
  // A fake whose cost is mostly per call (as a batched forward pass is), a little per row.
  const { app, url, engine } = await listeningServer({ delayMs: 15, perRowMs: 1 }, { maxBatch: 8, maxQueue: 64, batchWindowMs: 5 });
  try {
    const report = await runLoad({
      url,
      clients: 16,
      durationMs: DURATION_MS,
      models: ['tiny-base', 'sentiment', 'gender', 'prefix.v2'],
      maxTokens: 8,
      expectEcho: true,
      sequentialMaxMs: Math.min(2000, DURATION_MS),
    });
    t.diagnostic(JSON.stringify(report));
    const c = report.concurrent;
    assert.equal(c.errors5xx, 0, JSON.stringify(c.statuses));
    assert.equal(c.lost, 0);
    assert.equal(c.duplicated, 0);
    assert.equal(c.mismatched, 0);
    assert.deepEqual(Object.keys(c.statuses), ['200'], 'every request answered 200');
    assert.ok(c.requests > 100, `${c.requests} requests`);
    assert.ok(report.sequential !== null && report.sequential.requests > 10);
    assert.ok(report.speedup! > 2, `speedup ${report.speedup}`);
    // Every request reached the engine exactly once, batched with others, tasks mixed.
    const prompts = engine.batches.flat().map((r) => r.prompt);
    assert.equal(prompts.length, c.requests + report.sequential!.requests);
    assert.ok(app.scheduler.stats().meanBatchSize > 2, `mean batch ${app.scheduler.stats().meanBatchSize}`);
    assert.ok(engine.batches.some((b) => new Set(b.map((r) => r.task)).size >= 3));
  } finally {
    await app.close();
  }
});
