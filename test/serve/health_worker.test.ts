/**
 * Hardening (issue 16): /health reports a dead engine worker (503 in OpenAI's error shape)
 * instead of "ok" while every request fails. The worker is ended as a crash would end it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../../src/pretrained/model.ts';
import { prepareServer } from '../../src/serve/start.ts';
import { WorkerEngine } from '../../src/serve/worker_engine.ts';
import { STORIES } from '../helpers/paths.ts';

test('/health answers 503 engine_unavailable once the engine worker has died', { timeout: 60_000 }, async () => {
  const server = await prepareServer(await loadModel(STORIES), { port: 0, onWarning: () => {} });
  try {
    const url = await server.listen();
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.ok(server.engine instanceof WorkerEngine);
    await server.engine.terminate();
    const res = await fetch(`${url}/health`);
    const body = (await res.json()) as { error?: { type: string; code: string; message: string } };
    assert.equal(res.status, 503);
    assert.equal(body.error?.type, 'server_error');
    assert.equal(body.error?.code, 'engine_unavailable');
    assert.match(body.error!.message, /worker exited/);
    assert.ok(!body.error!.message.includes('\n'));
  } finally {
    await server.close();
  }
});
