/** Streaming completions as server-sent events, in OpenAI's format. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { listeningServer, until } from './helpers.ts';

interface SseRead {
  status: number;
  contentType: string | null;
  events: string[];
  /** ms from the request to each event. */
  times: number[];
}

/** POSTs and reads the response as SSE, event by event (`stopAfter` events, then aborts). */
async function sse(url: string, body: unknown, stopAfter = Infinity): Promise<SseRead> {
  const ac = new AbortController();
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: ac.signal });
  const events: string[] = [];
  const times: number[] = [];
  const contentType = res.headers.get('content-type');
  if (!contentType?.startsWith('text/event-stream')) return { status: res.status, contentType, events: [await res.text()], times };
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        events.push(buf.slice(0, i));
        times.push(performance.now() - t0);
        buf = buf.slice(i + 2);
      }
      if (events.length >= stopAfter) {
        ac.abort();
        break;
      }
    }
  } catch (e) {
    if ((e as Error).name !== 'AbortError') throw e;
  }
  assert.equal(buf, '', 'no partial event left');
  return { status: res.status, contentType, events, times };
}

describe('streaming', () => {
  test('data: chunks in the completion shape, then data: [DONE]; the text equals the non-streamed one', async () => {
    const { app, url, engine } = await listeningServer({ tokenDelayMs: 30 });
    try {
      const body = { model: 'prefix.v2', prompt: 'one two three', max_tokens: 7, seed: 3, stream: true };
      const r = await sse(url, body);
      assert.equal(r.status, 200);
      assert.match(r.contentType!, /^text\/event-stream/);
      assert.equal(r.events.at(-1), 'data: [DONE]');
      const chunks = r.events.slice(0, -1).map((e) => {
        assert.ok(e.startsWith('data: '), e);
        return JSON.parse(e.slice(6));
      });
      assert.ok(chunks.length >= 4, `${chunks.length} chunks`);
      const id = chunks[0].id;
      assert.match(id, /^cmpl-/);
      for (const [i, c] of chunks.entries()) {
        assert.equal(c.id, id);
        assert.equal(c.object, 'text_completion');
        assert.equal(c.model, 'prefix.v2');
        assert.equal(c.choices.length, 1);
        assert.equal(c.choices[0].index, 0);
        assert.equal(c.choices[0].finish_reason, i === chunks.length - 1 ? 'length' : null);
      }
      // Events arrive as they are produced, not all at the end.
      assert.ok(r.times.at(-1)! - r.times[0]! > 50, `spread over ${(r.times.at(-1)! - r.times[0]!).toFixed(0)} ms`);
      const streamed = chunks.map((c) => c.choices[0].text).join('');
      const plain = (await app.inject({ method: 'POST', url: '/v1/completions', payload: { ...body, stream: false } })).json();
      assert.equal(streamed, plain.choices[0].text);
      assert.deepEqual(engine.streams[0], { task: 'prefix.v2', prompt: 'one two three', maxNewTokens: 7, seed: 3 });
    } finally {
      await app.close();
    }
  });

  test('errors before the first chunk keep their status and JSON body (404, 400)', async () => {
    const { app, url } = await listeningServer();
    try {
      const r = await sse(url, { model: 'nope', prompt: 'x', stream: true });
      assert.equal(r.status, 404);
      assert.match(r.events[0]!, /model_not_found/);
      const bad = await sse(url, { model: 'tiny-base', prompt: 'x', stream: true, max_tokens: -3 });
      assert.equal(bad.status, 400);
      assert.match(bad.events[0]!, /max_tokens/);
    } finally {
      await app.close();
    }
  });

  test('a stream that times out before its first chunk is a 504; during the stream, an error event', async () => {
    const { app, url } = await listeningServer({ tokenDelayMs: 120 }, { requestTimeoutMs: 60 });
    try {
      const r = await sse(url, { model: 'tiny-base', prompt: 'a b c d', stream: true });
      assert.equal(r.status, 504);
      assert.match(r.events[0]!, /timed out after 60 ms/);
    } finally {
      await app.close();
    }
    const s = await listeningServer({ tokenDelayMs: 40 }, { requestTimeoutMs: 150 });
    try {
      const r = await sse(s.url, { model: 'tiny-base', prompt: 'a b c d e f g h i j', stream: true });
      assert.equal(r.status, 200);
      const last = JSON.parse(r.events.at(-1)!.slice(6));
      assert.equal(last.error.type, 'timeout');
      assert.ok(!r.events.includes('data: [DONE]'));
      await until(() => s.engine.streamsCancelled === 1, 'the engine stream was stopped');
      assert.equal(s.app.scheduler.stats().activeStreams, 0, 'its slot was released');
    } finally {
      await s.app.close();
    }
  });

  test('a client that goes away mid-stream stops the engine stream and frees its slot', async () => {
    const { app, url, engine } = await listeningServer({ tokenDelayMs: 40 }, { maxStreams: 1 });
    try {
      const r = await sse(url, { model: 'gender', prompt: 'w1 w2 w3 w4 w5 w6 w7 w8', stream: true }, 2);
      assert.equal(r.events.length, 2);
      await until(() => engine.streamsCancelled === 1 && app.scheduler.stats().activeStreams === 0, 'the engine stream stopped, its slot freed');
      // The one stream slot is free again.
      const again = await sse(url, { model: 'gender', prompt: 'x', stream: true });
      assert.equal(again.events.at(-1), 'data: [DONE]');
    } finally {
      await app.close();
    }
  });

  test('graceful shutdown finishes a running stream', async () => {
    const { app, url, engine } = await listeningServer({ tokenDelayMs: 30 });
    const reading = sse(url, { model: 'tiny-base', prompt: 'a b c d e', stream: true });
    await until(() => engine.running === 1, 'the stream runs');
    const closing = app.close();
    const r = await reading;
    assert.equal(r.events.at(-1), 'data: [DONE]');
    await closing;
    assert.equal(engine.closed, true);
    assert.equal(engine.streamsCancelled, 0);
  });
});
