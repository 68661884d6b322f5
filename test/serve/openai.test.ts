/**
 * The server driven by the official `openai` client (v6), on the real engine with stories260K and
 * three adapters (the engine in its worker thread, as `softprompt serve` runs it): every route and option of the OpenAI dialect, and lm-eval-harness's
 * log-likelihood requests checked against `softprompt eval`'s scorer.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { FastifyInstance } from 'fastify';
import { createScorer } from '../../src/eval/score.ts';
import { encodeSplit } from '../../src/data/split.ts';
import { loadAdapterDir } from '../../src/adapter/load.ts';
import { loadModel } from '../../src/pretrained/model.ts';
import { readSplit } from '../../src/data/readers.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { Template } from '../../src/data/template.ts';
import { Verbalizer } from '../../src/data/verbalizer.ts';
import { createWorkerEngine } from '../../src/serve/worker_engine.ts';
import type { WorkerEngine } from '../../src/serve/worker_engine.ts';
import type { InferenceEngine } from '../../src/infer/types.ts';
import { createServer, listen } from '../../src/serve/server.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';
import { TEMPLATE, VERBALIZER, writeAdapters } from '../infer/fixtures.ts';

const KEY = 'sk-test-0123456789';
const ORIGIN = 'https://app.example.com';
/** A tiny chat template (stories260K has none): BOS, "role: content" lines, then "assistant:". */
const CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

/** The same engine for several servers: closing one server must not close it. */
function shared(engine: WorkerEngine): InferenceEngine {
  return new Proxy(engine, {
    get(target, key) {
      if (key === 'close') return async () => {};
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/** The error body of a refused client call. */
async function refused(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  const e = await p.then(() => null, (err: unknown) => err);
  assert.ok(e instanceof OpenAI.APIError, `expected an API error, got ${String(e)}`);
  // OpenAI's shape: { error: { message, type, param, code } } (the client unwraps `error`).
  assert.deepEqual(Object.keys(e.error as object).sort(), ['code', 'message', 'param', 'type']);
  return e;
}

describe('the official openai client against the real engine', () => {
  let model: LoadedModel;
  let engine: WorkerEngine;
  let root: string;
  let dirs: Record<string, string>;
  let app: FastifyInstance;
  let plain: FastifyInstance;
  let url: string;
  let plainUrl: string;
  let client: OpenAI;
  let tmp: string;
  const warnings: string[] = [];

  before(async () => {
    model = await loadModel(STORIES);
    ({ root, dirs } = writeAdapters(model));
    // soft7 again, with its virtual tokens at a {soft:7} slot of its template.
    const slotted = join(root, 'slots7');
    cpSync(dirs['soft7']!, slotted, { recursive: true });
    const meta = JSON.parse(readFileSync(join(slotted, 'softprompt.json'), 'utf8')) as { template: { source: string } };
    meta.template.source = '{text}\n{soft:7}The story is about a';
    writeFileSync(join(slotted, 'softprompt.json'), JSON.stringify(meta));
    // The engine as `softprompt serve` runs it: in a worker thread (every call crosses the port).
    engine = await createWorkerEngine({ model: model.dir, adapters: { ...dirs, slots7: slotted }, onWarning: (m) => warnings.push(m) });
    tmp = mkdtempSync(join(tmpdir(), 'softprompt-openai-'));
    writeFileSync(join(tmp, 'chat.jinja'), CHAT_TEMPLATE);
    app = createServer({ engine: shared(engine), apiKey: KEY, cors: [ORIGIN], chatTemplate: { text: CHAT_TEMPLATE, source: 'test' }, bodyLimit: 64 * 1024, batchWindowMs: 2 });
    url = await listen(app, { port: 0 });
    plain = createServer({ engine: shared(engine), batchWindowMs: 2 });
    plainUrl = await listen(plain, { port: 0 });
    client = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
  });
  after(async () => {
    await app?.close();
    await plain?.close();
    await engine?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('models.list and models.retrieve; an unknown model is a 404 in OpenAI shape', async () => {
    const list = await client.models.list();
    assert.deepEqual(list.data.map((m) => m.id).sort(), ['prefix4', 'ptune3', 'slots7', 'soft7', 'stories260K']);
    const m = await client.models.retrieve('soft7');
    assert.equal(m.id, 'soft7');
    assert.equal((m as unknown as { num_virtual_tokens: number }).num_virtual_tokens, 7);
    assert.equal((m as unknown as { virtual_tokens?: string }).virtual_tokens, undefined);
    // An adapter with {soft:N} slots: warned at load and stated on its model entry.
    const slotted = (await client.models.retrieve('slots7')) as unknown as { virtual_tokens: string };
    assert.match(slotted.virtual_tokens, /slotted.*before the prompt.*differ from eval/);
    assert.ok(warnings.some((w) => w.includes('slots7') && w.includes('{soft:N} slots')), warnings.join('\n'));
    const e = await refused(client.models.retrieve('nope'));
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
  });

  test('completions: plain, and streamed with include_usage (same greedy text, usage chunk last)', async () => {
    const r = await client.completions.create({ model: 'soft7', prompt: 'Once upon a time', max_tokens: 12, temperature: 0 });
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices.length, 1);
    assert.ok(r.choices[0]!.text.length > 0);
    assert.equal(r.usage!.completion_tokens, 12);
    const stream = await client.completions.create({ model: 'soft7', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    for (const c of chunks.slice(0, -1)) text += c.choices[0]!.text;
    assert.equal(text, r.choices[0]!.text);
    const last = chunks.at(-1)!;
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, r.usage);
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
  });

  test('streams with n: 2 and logprobs: the choices interleave, each equal to its non-streamed twin', async () => {
    const body = { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 6, temperature: 1, n: 2, seed: 3, logprobs: 1 } as const;
    const plainR = await client.completions.create(body);
    const stream = await client.completions.create({ ...body, stream: true });
    const text = ['', ''];
    const tokens: string[][] = [[], []];
    for await (const c of stream) {
      const ch = c.choices[0]!;
      text[ch.index] += ch.text;
      tokens[ch.index]!.push(...(ch.logprobs?.tokens ?? []));
    }
    assert.deepEqual(text, plainR.choices.map((c) => c.text));
    assert.deepEqual(tokens, plainR.choices.map((c) => c.logprobs!.tokens));
    const e = await refused(client.completions.create({ ...body, stream: true, best_of: 3 }));
    assert.equal(e.param, 'best_of');
  });

  test('chat: the template renders the messages; plain and streamed agree; the adapter applies as for completions', async () => {
    const messages = [{ role: 'system' as const, content: 'Tell a story.' }, { role: 'user' as const, content: 'Once upon a time' }];
    const r = await client.chat.completions.create({ model: 'soft7', messages, max_tokens: 10, temperature: 0 });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0]!.message.role, 'assistant');
    // The same prompt as token ids through completions (the template's text, no BOS added twice).
    const ids = await engine.tokenize('<s>system: Tell a story.\nuser: Once upon a time\nassistant:', { addSpecialTokens: false });
    const c = await client.completions.create({ model: 'soft7', prompt: ids, max_tokens: 10, temperature: 0 });
    assert.equal(r.choices[0]!.message.content, c.choices[0]!.text);
    assert.equal(r.usage!.prompt_tokens, ids.length);
    const base = await client.chat.completions.create({ model: 'stories260K', messages, max_tokens: 10, temperature: 0 });
    assert.notEqual(base.choices[0]!.message.content, r.choices[0]!.message.content, 'the soft prompt changes the answer');

    const stream = await client.chat.completions.create({ model: 'soft7', messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const ch of stream) chunks.push(ch);
    assert.equal(chunks[0]!.choices[0]!.delta.role, 'assistant');
    assert.equal(chunks.map((ch) => ch.choices[0]?.delta.content ?? '').join(''), r.choices[0]!.message.content);
    assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, r.choices[0]!.finish_reason);
    assert.deepEqual(chunks.at(-1)!.usage, r.usage);
  });

  test('chat logprobs: top_logprobs in the chat shape; greedy picks the top token', async () => {
    const r = await client.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    assert.equal(content.length, r.usage!.completion_tokens);
    assert.equal(content.map((t) => t.token).join(''), r.choices[0]!.message.content);
    for (const t of content) {
      assert.equal(t.top_logprobs.length, 3);
      assert.ok(Math.abs(t.top_logprobs[0]!.logprob - t.logprob) < 1e-6);
      assert.equal(t.top_logprobs[0]!.token, t.token);
      assert.deepEqual(t.bytes, [...Buffer.from(t.token)]);
    }
  });

  test('chat without a chat template: 400 naming --chat-template', async () => {
    const c = new OpenAI({ apiKey: 'none', baseURL: `${plainUrl}/v1`, maxRetries: 0 });
    const e = await refused(c.chat.completions.create({ model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }] }));
    assert.equal(e.status, 400);
    assert.match(e.message, /no chat template.*--chat-template/);
  });

  test('echo + logprobs: the prompt tokens first (the first null), then the generated ones; max_tokens 0 scores only', async () => {
    const prompt = 'Once upon a time, there was a girl';
    const r = await client.completions.create({ model: 'ptune3', prompt, echo: true, logprobs: 2, max_tokens: 3, temperature: 0 });
    const lp = r.choices[0]!.logprobs!;
    const promptIds = await engine.tokenize(prompt);
    assert.equal(lp.tokens!.length, promptIds.length + 3);
    assert.equal(lp.token_logprobs![0], null);
    assert.equal(lp.top_logprobs![0], null);
    assert.equal(lp.tokens!.join(''), r.choices[0]!.text);
    assert.ok(r.choices[0]!.text.startsWith(prompt));
    lp.text_offset!.forEach((o, i) => assert.equal(o, lp.tokens!.slice(0, i).join('').length));
    // The prompt's log-probabilities equal the engine's scoring of the same ids; the greedy tokens are each position's best.
    const [s] = await engine.score([{ task: 'ptune3', prompt: promptIds, topK: 2 }]);
    for (let t = 1; t < promptIds.length; t++) assert.ok(Math.abs(lp.token_logprobs![t]! - s!.logprobs[t]!) < 1e-6);
    for (let t = promptIds.length; t < lp.tokens!.length; t++) {
      const best = Math.max(...Object.values(lp.top_logprobs![t]!));
      assert.ok(Math.abs(best - lp.token_logprobs![t]!) < 1e-5, `generated token ${t} is the top one`);
    }
    const only = await client.completions.create({ model: 'ptune3', prompt, echo: true, logprobs: 0, max_tokens: 0 });
    assert.equal(only.choices[0]!.text, prompt);
    assert.deepEqual(only.choices[0]!.logprobs!.token_logprobs, lp.token_logprobs!.slice(0, promptIds.length));
    assert.equal(only.usage!.completion_tokens, 0);
  });

  test('text_offset in characters, with a character split across byte tokens', async () => {
    const prompt = 'The café ☃ smiled';
    const r = await client.completions.create({ model: 'stories260K', prompt, echo: true, logprobs: 0, max_tokens: 0 });
    const lp = r.choices[0]!.logprobs!;
    assert.equal(r.choices[0]!.text, prompt);
    assert.equal(lp.tokens!.join(''), prompt);
    const snow = lp.tokens!.indexOf('☃');
    assert.ok(snow > 0, `☃ is one token's piece: ${JSON.stringify(lp.tokens)}`);
    assert.equal(lp.text_offset![snow], prompt.indexOf('☃'));
    assert.deepEqual(lp.tokens!.slice(snow - 2, snow), ['', ''], 'the bytes before the one that completes ☃ read as empty');
  });

  test('n and seed: independent choices, the same for the same seed; best_of keeps n', async () => {
    const ask = (): Promise<OpenAI.Completion> => client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 8, temperature: 1, n: 3, seed: 11 });
    const [a, b] = [await ask(), await ask()];
    assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
    assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
    assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, 'the choices are independent samples');
    const best = await client.completions.create({ model: 'stories260K', prompt: ['Once', 'The dog'], max_tokens: 4, temperature: 1, n: 1, best_of: 3, seed: 5 });
    assert.equal(best.choices.length, 2);
    assert.equal(best.usage!.completion_tokens, 2 * 3 * 4);
  });

  test('token-id prompts are used as given (no BOS added): an array of arrays gives a choice each', async () => {
    const ids = await engine.tokenize('Once upon a time');
    const r = await client.completions.create({ model: 'stories260K', prompt: [ids, ids.slice(1)], max_tokens: 4, temperature: 0 });
    const t = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 });
    assert.equal(r.choices[0]!.text, t.choices[0]!.text);
    assert.equal(r.usage!.prompt_tokens, ids.length + ids.length - 1);
  });

  test('logit_bias forces a token; penalties change the output', async () => {
    const r = await client.completions.create({ model: 'stories260K', prompt: 'Once', max_tokens: 4, temperature: 0, logit_bias: { 300: 100 } });
    const forced = (await engine.detokenize([300, 300, 300, 300], { context: await engine.tokenize('Once'), skipSpecialTokens: true })).text;
    assert.equal(r.choices[0]!.text, forced);
    const base = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0 });
    const freq = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, frequency_penalty: 2 });
    const pres = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 40, temperature: 0, presence_penalty: 2 });
    assert.notEqual(freq.choices[0]!.text, base.choices[0]!.text);
    assert.notEqual(pres.choices[0]!.text, base.choices[0]!.text);
  });

  test('unimplemented fields and values over the caps: 400 naming the field (and the cap)', async () => {
    const ok = { model: 'stories260K', prompt: 'Once', max_tokens: 2 };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...ok, suffix: 'end' }, 'suffix', /suffix is not supported/],
      [{ ...ok, repetition_penalty: 1.2 }, 'repetition_penalty', /not supported/],
      [{ ...ok, n: 9 }, 'n', /at most 8/],
      [{ ...ok, best_of: 9 }, 'best_of', /at most 8/],
      [{ ...ok, logprobs: 6 }, 'logprobs', /at most 5/],
      [{ ...ok, logit_bias: Object.fromEntries(Array.from({ length: 301 }, (_, i) => [String(i), 1])) }, 'logit_bias', /cap is 300/],
      [{ ...ok, logit_bias: { 9999: 1 } }, 'logit_bias.9999', /token ids from 0 to 511/],
    ];
    for (const [body, param, message] of cases) {
      const e = await refused(client.completions.create(body as never));
      assert.equal(e.status, 400);
      assert.equal(e.param, param);
      assert.match(e.message, message);
    }
    const chat = { model: 'stories260K', messages: [{ role: 'user', content: 'Hi' }] };
    for (const [body, param, message] of [
      [{ ...chat, logprobs: true, top_logprobs: 21 }, 'top_logprobs', /at most 20/],
      [{ ...chat, tools: [] }, 'tools', /not supported/],
      [{ ...chat, response_format: { type: 'json_object' } }, 'response_format', /not supported/],
    ] as [Record<string, unknown>, string, RegExp][]) {
      const e = await refused(client.chat.completions.create(body as never));
      assert.equal(e.param, param);
      assert.match(e.message, message);
    }
    // Defaults clients send are accepted.
    await client.completions.create({ ...ok, n: 1, user: 'u', logprobs: null, stream: false, max_completion_tokens: 2, max_tokens: undefined } as never);
  });

  test('auth: 401 in OpenAI shape without or with a wrong key; /health and CORS preflights are open', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${url}/v1`, maxRetries: 0 });
    const e = await refused(wrong.models.list());
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    const none = await fetch(`${url}/v1/models`, { headers: { origin: ORIGIN } });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('access-control-allow-origin'), ORIGIN, 'a browser can read the 401');
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'missing_api_key');
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const pre = await fetch(`${url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
    const other = await fetch(`${url}/v1/models`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${KEY}` } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  test('413 and 431 bodies are in OpenAI shape', async () => {
    const e = await refused(client.completions.create({ model: 'stories260K', prompt: 'x'.repeat(100_000) }));
    assert.equal(e.status, 413);
    const big = await fetch(`${url}/health`, { headers: { 'x-big': 'y'.repeat(20_000) } });
    assert.equal(big.status, 431);
    const body = (await big.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  });

  test("/tokenize and /detokenize in vLLM's shape", async () => {
    const h = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
    const t = (await (await fetch(`${url}/tokenize`, { method: 'POST', headers: h, body: JSON.stringify({ model: 'stories260K', prompt: 'Once upon' }) })).json()) as { tokens: number[]; count: number; max_model_len: number };
    assert.deepEqual(t.tokens, await engine.tokenize('Once upon'));
    assert.equal(t.count, t.tokens.length);
    assert.equal(t.max_model_len, 512);
    const d = (await (await fetch(`${url}/detokenize`, { method: 'POST', headers: h, body: JSON.stringify({ model: 'stories260K', tokens: t.tokens }) })).json()) as { prompt: string };
    assert.equal(d.prompt, model.tokenizer.decode(t.tokens));
  });

  test("lm-eval-harness loglikelihood: token-id prompts, echo, logprobs 1, max_tokens 1; equal to softprompt eval's scores", async () => {
    const records = await readSplit(join(SHARED, 'datasets', 'story_gender', 'validation.jsonl'), 10);
    const adapter = loadAdapterDir(dirs['soft7']!, model, () => {});
    const prompt = { template: new Template(TEMPLATE), verbalizer: new Verbalizer(VERBALIZER), labelField: 'label' };
    const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, model.config.maxPositions - 7);
    const scorer = await createScorer(model, adapter, { maxLabels: 2 });
    const want = await scorer.score(split.examples);
    await scorer.release();
    assert.equal(split.examples.length, 10);
    // As lm-eval's local-completions sends them: one request, context + continuation ids per candidate.
    const prompts = split.examples.flatMap((ex) => ex.candidates.map((c) => [...ex.promptIds, ...c]));
    const r = await client.completions.create({ model: 'soft7', prompt: prompts, echo: true, logprobs: 1, max_tokens: 1, temperature: 0 });
    assert.equal(r.choices.length, prompts.length);
    split.examples.forEach((ex, i) => {
      const scores = ex.candidates.map((_, k) => {
        const choice = r.choices.find((c) => c.index === i * ex.candidates.length + k)!;
        const ctxlen = ex.promptIds.length;
        return choice.logprobs!.token_logprobs!.slice(ctxlen, -1).reduce((s, x) => s + x!, 0);
      });
      scores.forEach((s, k) => assert.ok(Math.abs(s - want.scores[i]![k]!) < 1e-4, `example ${i} label ${k}: ${s} vs ${want.scores[i]![k]}`));
      assert.equal(scores.indexOf(Math.max(...scores)), want.predictions[i]);
    });
  });
});
