/** Hardening (issue 16, item 9): a "__proto__" key is named, a non-UTF-8 charset is a 415 naming it. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeServer } from './helpers.ts';

test('a __proto__ or constructor.prototype key is a 400 naming the key', async () => {
  const { app } = fakeServer();
  try {
    for (const [payload, key] of [
      ['{"model":"tiny-base","prompt":"a","__proto__":{"x":1}}', '__proto__'],
      ['{"model":"sentiment","input":{"text":"a","constructor":{"prototype":{}}}}', 'input.constructor'],
    ] as const) {
      const r = await app.inject({ method: 'POST', url: payload.includes('input') ? '/v1/classify' : '/v1/completions', headers: { 'content-type': 'application/json' }, payload });
      assert.equal(r.statusCode, 400);
      const b = JSON.parse(r.body);
      assert.equal(b.error.param, key);
      assert.match(b.error.message, new RegExp(`holds the key "${key}"`));
    }
    const bad = await app.inject({ method: 'POST', url: '/v1/completions', headers: { 'content-type': 'application/json' }, payload: '{"model":' });
    assert.equal(bad.statusCode, 400);
    assert.match(JSON.parse(bad.body).error.message, /not valid JSON/);
  } finally {
    await app.close();
  }
});

test('a body in charset=utf-16 is a 415 naming the charset, not a Content-Length error', async () => {
  const { app } = fakeServer();
  try {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/completions',
      headers: { 'content-type': 'application/json; charset=utf-16' },
      payload: Buffer.from('{"model":"tiny-base","prompt":"a"}', 'utf16le'),
    });
    assert.equal(r.statusCode, 415);
    assert.match(JSON.parse(r.body).error.message, /charset is utf-16; send JSON encoded as UTF-8/);
    const ok = await app.inject({ method: 'POST', url: '/v1/completions', headers: { 'content-type': 'application/json; charset=UTF-8' }, payload: '{"model":"tiny-base","prompt":"a"}' });
    assert.equal(ok.statusCode, 200);
  } finally {
    await app.close();
  }
});
