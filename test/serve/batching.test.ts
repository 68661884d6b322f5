/** Dynamic batching, the bounded queue (429), the per-request timeout (504) and the graceful shutdown. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import { listeningServer, post, postHttp, sleep, until } from './helpers.ts';

describe('dynamic batching', () => {
  test('concurrent requests for different adapters and the base form one mixed-task batch', async () => {
    const { app, engine } = await listeningServer({ delayMs: 10 }, { batchWindowMs: 60, maxBatch: 8 });
    try {
      const models = ['sentiment', 'tiny-base', 'gender', 'prefix.v2', 'sentiment', 'tiny-base'];
      const rs = await Promise.all(models.map((model, i) => post(app, '/v1/completions', { model, prompt: `id-${i}`, max_tokens: 3 })));
      rs.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body.choices[0].text, ` [${models[i] === 'tiny-base' ? 'base' : models[i]}] id-${i} (3)`);
      });
      assert.equal(engine.batches.length, 1, `batches: ${engine.batches.map((b) => b.length).join(', ')}`);
      const batch = engine.batches[0]!;
      assert.equal(batch.length, 6);
      assert.deepEqual(new Set(batch.map((r) => r.task)), new Set(['sentiment', null, 'gender', 'prefix.v2']));
      assert.deepEqual(batch.map((r) => r.prompt).sort(), models.map((_, i) => `id-${i}`).sort());
      const health = (await app.inject({ method: 'GET', url: '/health' })).json();
      assert.equal(health.batches.count, 1);
      assert.equal(health.batches.max_size, 6);
    } finally {
      await app.close();
    }
  });

  test('batches never exceed maxBatch, every request is answered once and with its own text', async () => {
    const { app, engine } = await listeningServer({ delayMs: 20 }, { batchWindowMs: 20, maxBatch: 4 });
    try {
      const n = 22;
      const models = ['sentiment', 'gender', 'prefix.v2', 'tiny-base'];
      const rs = await Promise.all(
        Array.from({ length: n }, (_, i) => post(app, '/v1/completions', { model: models[i % 4], prompt: `req-${i}`, max_tokens: 2 })),
      );
      rs.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.ok(r.body.choices[0].text.includes(`req-${i} `), r.body.choices[0].text);
      });
      const sizes = engine.batches.map((b) => b.length);
      assert.ok(sizes.every((s) => s <= 4), `sizes ${sizes}`);
      assert.equal(sizes.reduce((a, b) => a + b, 0), n);
      assert.ok(sizes.filter((s) => s === 4).length >= 4, `mostly full batches: ${sizes}`);
      assert.ok(engine.batches.some((b) => new Set(b.map((r) => r.task)).size > 1), 'mixed tasks in a batch');
      assert.equal(engine.maxRunning, 1, 'one batch at a time (concurrency 1)');
    } finally {
      await app.close();
    }
  });

  test('a request with an array of prompts shares batches with other requests', async () => {
    const { app, engine } = await listeningServer({ delayMs: 5 }, { batchWindowMs: 40, maxBatch: 8 });
    try {
      const [a, b] = await Promise.all([
        post(app, '/v1/completions', { model: 'gender', prompt: ['p0', 'p1', 'p2'], max_tokens: 1 }),
        post(app, '/v1/completions', { model: 'tiny-base', prompt: 'q', max_tokens: 1 }),
      ]);
      assert.equal(a.body.choices.length, 3);
      assert.equal(b.body.choices.length, 1);
      assert.deepEqual(engine.batches.map((x) => x.length), [4]);
    } finally {
      await app.close();
    }
  });

  test('classification requests are batched too', async () => {
    const { app, engine } = await listeningServer({ delayMs: 5 }, { batchWindowMs: 40 });
    try {
      const rs = await Promise.all(
        ['sentiment', 'gender', 'sentiment'].map((model, i) => post(app, '/v1/classify', { model, input: i === 1 ? 'negative' : 'positive' })),
      );
      assert.deepEqual(rs.map((r) => r.body.label), ['positive', 'negative', 'positive']);
      assert.deepEqual(engine.classifyBatches.map((b) => b.length), [3]);
      assert.equal(engine.batches.length, 0);
    } finally {
      await app.close();
    }
  });
});

describe('bounded queue', () => {
  test('429 with Retry-After when the queue is full; the queued requests still succeed', async () => {
    const { app, url, engine } = await listeningServer({ delayMs: 400 }, { batchWindowMs: 0, maxBatch: 1, maxQueue: 2 });
    try {
      const running = postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: 'first' });
      await until(() => engine.running === 1, 'the first request runs'); // dispatched: the queue is empty again
      const queued = [postHttp(url, '/v1/completions', { model: 'sentiment', prompt: 'second' }), postHttp(url, '/v1/completions', { model: 'gender', prompt: 'third' })];
      await until(() => app.scheduler.stats().waiting === 2, 'two requests wait');
      const refused = await postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: 'fourth' });
      assert.equal(refused.status, 429);
      const retry = Number(refused.headers['retry-after']);
      assert.ok(Number.isInteger(retry) && retry >= 1, `Retry-After ${refused.headers['retry-after']}`);
      assert.equal(refused.body.error.type, 'rate_limit_exceeded');
      assert.match(refused.body.error.message, /queue holds 2/);
      // An array that does not fit whole is refused whole.
      const tooMany = await postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: ['a'] });
      assert.equal(tooMany.status, 429);
      for (const r of [await running, ...(await Promise.all(queued))]) assert.equal(r.status, 200);
      assert.deepEqual(engine.batches.map((b) => b[0]!.prompt), ['first', 'second', 'third']);
      // Room again.
      assert.equal((await postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: 'later' })).status, 200);
    } finally {
      await app.close();
    }
  });

  test('more prompts in one request than the queue holds is a 400 naming prompt', async () => {
    const { app } = await listeningServer({}, { maxQueue: 3 });
    try {
      const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: ['a', 'b', 'c', 'd'] });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.param, 'prompt');
      assert.match(r.body.error.message, /at most 3 per request/);
    } finally {
      await app.close();
    }
  });
});

describe('per-request timeout', () => {
  test('504 with a clear message when the engine is too slow; the server stays healthy', async () => {
    const { app, engine } = await listeningServer({ delayMs: 1000 }, { requestTimeoutMs: 100, batchWindowMs: 0 });
    try {
      const t0 = performance.now();
      const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'slow' });
      const ms = performance.now() - t0;
      assert.equal(r.status, 504);
      assert.equal(r.body.error.type, 'timeout');
      assert.match(r.body.error.message, /timed out after 100 ms/);
      assert.ok(ms < 700, `answered at the timeout, not when the engine finished (${ms.toFixed(0)} ms)`);
      // The engine got the request's signal, now aborted: a real engine stops decoding that row.
      assert.equal(engine.signals.length, 1);
      assert.equal(engine.signals[0]!.length, 1);
      assert.equal(engine.signals[0]![0]?.aborted, true);
      engine.delayMs = 0;
      await until(() => engine.running === 0, 'the abandoned batch finishes');
      assert.equal((await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'fast' })).status, 200);
    } finally {
      await app.close();
    }
  });

  test('a request that times out while queued never reaches the engine', async () => {
    const { app, engine } = await listeningServer({ delayMs: 300 }, { requestTimeoutMs: 150, batchWindowMs: 0, maxBatch: 1 });
    try {
      const first = post(app, '/v1/completions', { model: 'tiny-base', prompt: 'first' });
      await until(() => engine.running === 1, 'the first request runs');
      const second = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'second' });
      assert.equal(second.status, 504);
      assert.equal((await first).status, 504);
      await until(() => engine.running === 0, 'the first batch finishes');
      assert.deepEqual(engine.batches.map((b) => b[0]!.prompt), ['first']);
      assert.equal(app.scheduler.stats().waiting, 0);
    } finally {
      await app.close();
    }
  });
});

describe('clients that go away', () => {
  test('a queued request whose client disconnects is dropped before it reaches the engine', async () => {
    const { app, url, engine } = await listeningServer({ delayMs: 400 }, { batchWindowMs: 0, maxBatch: 1 });
    try {
      const first = postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: 'first' });
      await until(() => engine.running === 1, 'the first request runs');
      // A plain http client that closes its socket (fetch's abort may keep the connection open).
      const req = request(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      const gone = new Promise<Error>((done) => req.on('error', done));
      req.end(JSON.stringify({ model: 'tiny-base', prompt: 'gone' }));
      await until(() => app.scheduler.stats().waiting === 1, 'the second request waits');
      req.destroy();
      assert.match((await gone).message, /socket hang up/);
      await until(() => app.scheduler.stats().waiting === 0, 'taken out of the queue');
      assert.equal(engine.running, 1, 'while the first still runs');
      assert.equal((await first).status, 200);
      await sleep(50);
      assert.deepEqual(engine.batches.map((b) => b[0]!.prompt), ['first']);
    } finally {
      await app.close();
    }
  });
});

describe('graceful shutdown', () => {
  test('close() refuses new requests, finishes those in flight, then closes the engine', async () => {
    const { app, url, engine } = await listeningServer({ delayMs: 250 }, { batchWindowMs: 0, maxBatch: 2 });
    const inFlight = ['a', 'b', 'c', 'd', 'e'].map((p, i) => postHttp(url, '/v1/completions', { model: i % 2 ? 'sentiment' : 'tiny-base', prompt: p }));
    await until(() => engine.running === 1 && app.scheduler.stats().waiting + app.scheduler.stats().runningJobs === 5, 'a batch runs, the others wait');
    let servedAtClose = -1;
    const closing = app.close().then(() => (servedAtClose = engine.batches.flat().length));
    await until(() => app.scheduler.isClosing, 'closing');
    // New work is refused while the old work finishes (503 on a live connection, or no connection at all).
    const late = await postHttp(url, '/v1/completions', { model: 'tiny-base', prompt: 'late' }).catch((e: Error) => e);
    if (late instanceof Error) assert.match(String(late.cause ?? late), /ECONNREFUSED|ECONNRESET|fetch failed|other side closed/);
    else {
      assert.equal(late.status, 503);
      assert.deepEqual(Object.keys(late.body.error).sort(), ['code', 'message', 'param', 'type'], "OpenAI's error shape");
      assert.equal(late.body.error.code, 'shutting_down');
    }
    assert.equal(engine.closed, false, 'the engine stays open while work is in flight');
    const results = await Promise.all(inFlight);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200);
      assert.ok(r.body.choices[0].text.includes(['a', 'b', 'c', 'd', 'e'][i]!));
    }
    await closing;
    assert.equal(servedAtClose, 5, 'close() resolved only after every request in flight was run');
    assert.equal(engine.closed, true);
    assert.equal(engine.runningAtClose, 0, 'no engine call was running when it was closed');
    assert.deepEqual(engine.batches.flat().map((r) => r.prompt).sort(), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(app.scheduler.stats().waiting, 0);
  });

  test('close() with nothing in flight is prompt', async () => {
    const { app, engine } = await listeningServer();
    const t0 = performance.now();
    await app.close();
    assert.ok(performance.now() - t0 < 500);
    assert.equal(engine.closed, true);
  });
});
