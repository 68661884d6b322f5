/**
 * Hardening (issue 16): the work one request may ask for is bounded before anything is tokenized
 * (characters per text field, labels per classification), each refusal a 400 naming the field;
 * an engine failure (ONNX Runtime out of memory, ...) is a 500 in OpenAI's shape without internals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../src/runtime/ort_backend.ts';
import { toApiError } from '../../src/serve/server.ts';
import { fakeServer, post } from './helpers.ts';

const shape = (b: { error: Record<string, unknown> }): void => {
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message', 'param', 'type']);
};

test('a text field over --max-field-chars is a 400 naming the field, before the engine sees it', async () => {
  const { app, engine } = fakeServer({}, { maxFieldChars: 1000 });
  try {
    const cases: [string, unknown, string][] = [
      ['/v1/completions', { model: 'tiny-base', prompt: 'x'.repeat(1001) }, 'prompt'],
      ['/v1/completions', { model: 'tiny-base', prompt: ['ok', 'x'.repeat(1001)] }, 'prompt[1]'],
      ['/v1/classify', { model: 'sentiment', input: 'x'.repeat(1001) }, 'input'],
      ['/v1/classify', { model: 'sentiment', input: { title: 'a', text: 'x'.repeat(1001) } }, 'input.text'],
      ['/v1/classify', { model: 'sentiment', input: 'a', template: `{text}${'x'.repeat(995)}` }, 'template'],
      ['/v1/classify', { model: 'sentiment', input: 'a', verbalizer: { good: 'x'.repeat(1001), bad: ' bad' } }, 'verbalizer.good'],
    ];
    for (const [url, body, param] of cases) {
      const r = await post(app, url, body);
      assert.equal(r.status, 400, `${param}: ${JSON.stringify(r.body)}`);
      shape(r.body);
      assert.equal(r.body.error.param, param);
      assert.match(r.body.error.message, /1001 characters, over the server's limit of 1000/);
    }
    assert.equal(engine.batches.length + engine.classifyBatches.length, 0);
    const ok = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'x'.repeat(1000) });
    assert.equal(ok.status, 200);
  } finally {
    await app.close();
  }
});

test('more labels than --max-labels (default 128) is a 400 naming the verbalizer', async () => {
  const { app } = fakeServer();
  try {
    const verbalizer = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`l${i}`, ` w${i}`]));
    const r = await post(app, '/v1/classify', { model: 'sentiment', input: 'a', verbalizer });
    assert.equal(r.status, 400);
    shape(r.body);
    assert.equal(r.body.error.param, 'verbalizer');
    assert.match(r.body.error.message, /129 labels; the server scores at most 128/);
    delete verbalizer['l0'];
    assert.equal((await post(app, '/v1/classify', { model: 'sentiment', input: 'a', verbalizer })).status, 200);
  } finally {
    await app.close();
  }
  const raised = fakeServer({}, { maxLabels: 1000 });
  try {
    const verbalizer = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`l${i}`, ` w${i}`]));
    assert.equal((await post(raised.app, '/v1/classify', { model: 'sentiment', input: 'a', verbalizer })).status, 200);
  } finally {
    await raised.app.close();
  }
});

test('an ONNX Runtime failure is a 500 that does not leak the allocator message or shapes', () => {
  const e = toApiError(new RuntimeError('rank: run failed (Failed to allocate memory for requested buffer of size 380000000000); feeds input_ids:int64[1,40012]'));
  assert.equal(e.status, 500);
  const b = e.body();
  assert.equal(b.error.type, 'server_error');
  assert.doesNotMatch(b.error.message, /allocate|input_ids|380000000000/);
  assert.equal(toApiError(new RangeError('Invalid typed array length: 99999999999')).status, 500);
});
