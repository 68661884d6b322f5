/** The endpoints' happy paths and shapes, and every kind of bad request. */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { CRASH, FakeEngine, POISON } from './fake_engine.ts';
import { fakeServer, get, post } from './helpers.ts';

describe('endpoints', () => {
  const { app, engine } = fakeServer();
  after(() => app.close());

  test('GET /health', async () => {
    const r = await get(app, '/health');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ok');
    assert.equal(r.body.model, 'tiny-base');
    assert.equal(r.body.adapters, 3);
    assert.equal(r.body.queue.max, 64);
  });

  test('GET /v1/models lists the base model and every adapter, with method and virtual tokens', async () => {
    const r = await get(app, '/v1/models');
    assert.equal(r.status, 200);
    assert.equal(r.body.object, 'list');
    const byId = Object.fromEntries(r.body.data.map((m: { id: string }) => [m.id, m]));
    assert.deepEqual(Object.keys(byId), ['tiny-base', 'sentiment', 'gender', 'prefix.v2']);
    for (const m of r.body.data) {
      assert.equal(m.object, 'model');
      assert.equal(typeof m.created, 'number');
      assert.equal(m.owned_by, 'softprompt');
    }
    assert.equal(byId['tiny-base'].method, null);
    assert.equal(byId['tiny-base'].num_virtual_tokens, 0);
    assert.equal(byId['tiny-base'].parent, null);
    assert.deepEqual([byId['sentiment'].method, byId['sentiment'].num_virtual_tokens, byId['sentiment'].parent], ['prompt_tuning', 20, 'tiny-base']);
    assert.deepEqual([byId['gender'].method, byId['gender'].num_virtual_tokens], ['p_tuning', 8]);
    assert.deepEqual([byId['prefix.v2'].method, byId['prefix.v2'].num_virtual_tokens], ['prefix_tuning', 4]);
  });

  test('POST /v1/completions: OpenAI shape, fields passed to the engine', async () => {
    const before = engine.batches.length;
    const r = await post(app, '/v1/completions', {
      model: 'sentiment', prompt: 'The movie was', max_tokens: 5, temperature: 0.7, top_p: 0.9, seed: 42, stop: ['\n\n'], user: 'ignored',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const b = r.body;
    assert.match(b.id, /^cmpl-[0-9a-f]{32}$/);
    assert.equal(b.object, 'text_completion');
    assert.equal(typeof b.created, 'number');
    assert.equal(b.model, 'sentiment');
    assert.equal(b.choices.length, 1);
    assert.deepEqual(b.choices[0], { text: ' [sentiment] The movie was (5)', index: 0, logprobs: null, finish_reason: 'length' });
    assert.deepEqual(b.usage, { prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    const sent = engine.batches.slice(before).flat();
    assert.deepEqual(sent, [{ task: 'sentiment', prompt: 'The movie was', maxNewTokens: 5, temperature: 0.7, topP: 0.9, seed: 42, stop: ['\n\n'] }]);
  });

  test('the base model runs with task null; max_tokens defaults to 16', async () => {
    const before = engine.batches.length;
    const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'Hello' });
    assert.equal(r.status, 200);
    assert.equal(r.body.choices[0].text, ' [base] Hello (16)');
    assert.deepEqual(engine.batches.slice(before).flat(), [{ task: null, prompt: 'Hello', maxNewTokens: 16 }]);
  });

  test('an array of prompts gives one choice each, in order; usage sums them', async () => {
    const r = await post(app, '/v1/completions', { model: 'gender', prompt: ['a b', 'c', 'd e f'], max_tokens: 2 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.choices.map((c: { text: string; index: number }) => [c.index, c.text]), [
      [0, ' [gender] a b (2)'], [1, ' [gender] c (2)'], [2, ' [gender] d e f (2)'],
    ]);
    assert.deepEqual(r.body.usage, { prompt_tokens: 3 + 2 + 4, completion_tokens: 6, total_tokens: 15 });
  });

  test('a stop string cuts the text and finishes with "stop"; null optionals are ignored', async () => {
    const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'x y', stop: 'y', max_tokens: 3, temperature: null, seed: null, n: 1, echo: false });
    assert.equal(r.status, 200);
    assert.deepEqual([r.body.choices[0].text, r.body.choices[0].finish_reason], [' [base] x ', 'stop']);
  });

  test('POST /v1/classify with an adapter and with the base model plus template and verbalizer', async () => {
    let r = await post(app, '/v1/classify', { model: 'sentiment', input: 'this was negative all along' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.label, 'negative');
    assert.deepEqual(r.body.scores, { positive: -2.5, negative: -0.5 });
    assert.equal(r.body.model, 'sentiment');

    r = await post(app, '/v1/classify', { model: 'tiny-base', input: { text: 'a boy' }, template: '{text} is a', verbalizer: { girl: ' girl', boy: ' boy' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.label, 'boy');
    assert.deepEqual(Object.keys(r.body.scores), ['girl', 'boy']);
    const last = engine.classifyBatches.at(-1)!;
    assert.deepEqual(last, [{ task: null, input: { text: 'a boy' }, template: '{text} is a', verbalizer: { girl: ' girl', boy: ' boy' } }]);
  });

  test('an unknown route is a JSON 404', async () => {
    const r = await get(app, '/v2/nothing');
    assert.equal(r.status, 404);
    assert.match(r.body.error.message, /POST \/v1\/completions/);
  });
});

describe('bad requests: 400 naming the field', () => {
  const { app, engine } = fakeServer({}, { bodyLimit: 4096, maxContext: 512 });
  after(() => app.close());

  async function expect400(body: unknown, field: string, pattern?: RegExp, url = '/v1/completions'): Promise<void> {
    const r = await post(app, url, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.param, field, JSON.stringify(r.body));
    assert.ok(r.body.error.message.includes(field), `message "${r.body.error.message}" should name ${field}`);
    if (pattern) assert.match(r.body.error.message, pattern);
    assert.equal(r.body.error.type, 'invalid_request_error');
  }

  test('malformed JSON', async () => {
    const before = engine.batches.length;
    for (const raw of ['{"model": "tiny-base", "prompt": ', '{model: 1}', 'not json at all']) {
      const r = await post(app, '/v1/completions', raw);
      assert.equal(r.status, 400, raw);
      assert.equal(r.body.error.param, 'body');
      assert.match(r.body.error.message, /body is not valid JSON/);
    }
    const empty = await post(app, '/v1/completions', '');
    assert.equal(empty.status, 400);
    assert.match(empty.body.error.message, /body is empty/);
    assert.equal(engine.batches.length, before);
  });

  test('a body that is not an object', async () => {
    await expect400([1, 2], 'body', /JSON object/);
    await expect400('"just a string"', 'body', /JSON object/);
  });

  test('wrong types', async () => {
    const ok = { model: 'tiny-base', prompt: 'hi' };
    await expect400({ prompt: 'hi' }, 'model', /required/);
    await expect400({ ...ok, model: 7 }, 'model', /must be a string/);
    await expect400({ model: 'tiny-base' }, 'prompt', /required/);
    await expect400({ ...ok, prompt: 42 }, 'prompt', /a string, an array of strings or token ids/);
    await expect400({ ...ok, prompt: [] }, 'prompt', /empty/);
    await expect400({ ...ok, prompt: ['a', 3] }, 'prompt[1]', /token ids/);
    await expect400({ ...ok, max_tokens: '5' }, 'max_tokens', /must be an integer, got the string "5"/);
    await expect400({ ...ok, max_tokens: 2.5 }, 'max_tokens', /integer/);
    await expect400({ ...ok, temperature: 'hot' }, 'temperature', /must be a number/);
    await expect400({ ...ok, temperature: 3 }, 'temperature', /at most 2/);
    await expect400({ ...ok, top_p: 0 }, 'top_p', /greater than 0/);
    await expect400({ ...ok, top_p: true }, 'top_p', /number/);
    await expect400({ ...ok, seed: 1.5 }, 'seed', /integer/);
    await expect400({ ...ok, stop: 5 }, 'stop', /string or an array/);
    await expect400({ ...ok, stop: ['a', 1] }, 'stop[1]', /string/);
    await expect400({ ...ok, stop: ['a', 'b', 'c', 'd', 'e'] }, 'stop', /at most 4/);
    await expect400({ ...ok, stream: 'yes' }, 'stream', /boolean/);
    await expect400({ ...ok, n: 9 }, 'n', /n must be at most 8 \(the server's cap on n\)/);
    await expect400({ ...ok, stream: true, echo: true }, 'echo', /not supported with stream/);
    await expect400({ ...ok, presence: 1 }, 'presence', /not supported by this server's completions/);
  });

  test('negative, zero and huge max_tokens', async () => {
    const ok = { model: 'tiny-base', prompt: 'hi' };
    await expect400({ ...ok, max_tokens: -1 }, 'max_tokens', /at least 1, got -1/);
    await expect400({ ...ok, max_tokens: 0 }, 'max_tokens', /at least 1, got 0/);
    await expect400({ ...ok, max_tokens: 1e9 }, 'max_tokens', /at most 512 \(the model's context is 512 tokens\)/);
    await expect400({ ...ok, max_tokens: 513 }, 'max_tokens', /at most 512/);
    const r = await post(app, '/v1/completions', { ...ok, max_tokens: 512 });
    assert.equal(r.status, 200);
  });

  test('the server cap applies when the context is larger', async () => {
    const s = fakeServer({}, { maxTokens: 4096, maxContext: 8192 });
    try {
      const r = await post(s.app, '/v1/completions', { model: 'tiny-base', prompt: 'hi', max_tokens: 5000 });
      assert.equal(r.status, 400);
      assert.match(r.body.error.message, /max_tokens must be at most 4096 \(the server's limit\), got 5000/);
    } finally {
      await s.app.close();
    }
  });

  test('an unknown adapter is 404 naming the model field', async () => {
    for (const model of ['nope', '../tiny-base', '../../etc/passwd', '__proto__', 'constructor', 'SENTIMENT']) {
      const r = await post(app, '/v1/completions', { model, prompt: 'hi' });
      assert.equal(r.status, 404, model);
      assert.equal(r.body.error.param, 'model');
      assert.equal(r.body.error.code, 'model_not_found');
      assert.ok(r.body.error.message.includes(`model "${model}" does not exist`), r.body.error.message);
      assert.match(r.body.error.message, /available: tiny-base, sentiment, gender, prefix\.v2/);
    }
    const c = await post(app, '/v1/classify', { model: 'nope', input: 'x' });
    assert.equal(c.status, 404);
    assert.equal(c.body.error.param, 'model');
  });

  test('an oversized body is 413', async () => {
    const before = engine.batches.length;
    const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: 'x'.repeat(10_000) });
    assert.equal(r.status, 413);
    assert.equal(r.body.error.param, 'body');
    assert.match(r.body.error.message, /too large/);
    assert.equal(engine.batches.length, before);
  });

  test('a body that is not JSON is 415', async () => {
    const r = await post(app, '/v1/completions', 'model=tiny-base', 'application/x-www-form-urlencoded');
    assert.equal(r.status, 415);
    assert.match(r.body.error.message, /application\/json/);
  });

  test('classify: wrong types', async () => {
    await expect400({ input: 'x' }, 'model', /required/, '/v1/classify');
    await expect400({ model: 'sentiment' }, 'input', /required/, '/v1/classify');
    await expect400({ model: 'sentiment', input: 5 }, 'input', /string or an object/, '/v1/classify');
    await expect400({ model: 'sentiment', input: ['x'] }, 'input', /string or an object/, '/v1/classify');
    await expect400({ model: 'sentiment', input: { text: 5 } }, 'input.text', /must be a string/, '/v1/classify');
    await expect400({ model: 'sentiment', input: 'x', verbalizer: 'good' }, 'verbalizer', /object of strings/, '/v1/classify');
    await expect400({ model: 'sentiment', input: 'x', verbalizer: { good: 1 } }, 'verbalizer.good', /must be a string/, '/v1/classify');
    await expect400({ model: 'sentiment', input: 'x', template: 3 }, 'template', /must be a string/, '/v1/classify');
    await expect400({ model: 'tiny-base', input: 'x' }, 'verbalizer', /base model/, '/v1/classify');
  });
});

describe('engine failures', () => {
  test('a request the engine refuses is a 400; the requests batched with it still succeed', async () => {
    const { app, engine } = fakeServer({ delayMs: 5 }, { batchWindowMs: 30 });
    try {
      const [bad, good1, good2] = await Promise.all([
        post(app, '/v1/completions', { model: 'sentiment', prompt: `x ${POISON}` }),
        post(app, '/v1/completions', { model: 'gender', prompt: 'fine' }),
        post(app, '/v1/completions', { model: 'tiny-base', prompt: 'also fine' }),
      ]);
      assert.equal(bad.status, 400);
      assert.match(bad.body.error.message, /simulated refusal/);
      assert.equal(good1.status, 200);
      assert.equal(good1.body.choices[0].text, ' [gender] fine (16)');
      assert.equal(good2.status, 200);
      assert.equal(engine.batches[0]!.length, 3, 'they were batched together first');
    } finally {
      await app.close();
    }
  });

  test('an engine crash is a 500 with the message', async () => {
    const { app } = fakeServer();
    try {
      const r = await post(app, '/v1/completions', { model: 'tiny-base', prompt: CRASH });
      assert.equal(r.status, 500);
      assert.equal(r.body.error.type, 'server_error');
      assert.match(r.body.error.message, /simulated engine crash/);
    } finally {
      await app.close();
    }
  });

  test('the fake is deterministic', () => {
    const r = { task: 'a', prompt: 'p q', maxNewTokens: 3 };
    assert.deepEqual(FakeEngine.resultOf(r), FakeEngine.resultOf({ ...r }));
  });
});
