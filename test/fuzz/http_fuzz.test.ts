/**
 * Hardening (issue 16): random and mutated request bodies against the real engine (stories260K, in
 * its worker thread), bounded to about 25 s. Every answer must be 2xx, or 4xx in OpenAI's error shape; zero 5xx.
 * The corpus is seeded: a failure names the seed and case to replay.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createWorkerEngine } from '../../src/serve/worker_engine.ts';
import type { WorkerEngine } from '../../src/serve/worker_engine.ts';
import { createServer } from '../../src/serve/server.ts';
import { STORIES } from '../helpers/paths.ts';
import { mutateObject, mutateText, randomValue, Rng } from './rng.ts';

const BUDGET_MS = Number(process.env['SOFTPROMPT_FUZZ_MS'] ?? 25_000);
const SEED = Number(process.env['SOFTPROMPT_FUZZ_SEED'] ?? 16);

let engine: WorkerEngine;
let app: FastifyInstance;
before(async () => {
  // The engine in its worker thread, as `softprompt serve` runs it: every error crosses the port.
  engine = await createWorkerEngine({ model: STORIES, onWarning: () => {}, maxNewTokensLimit: 64 });
  app = createServer({
    engine,
    maxContext: engine.tokenizerInfo.maxPositions,
    maxTokens: 64,
    maxFieldChars: 20_000,
    chatTemplate: { source: 'fuzz', text: '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:' },
  });
});
after(async () => {
  await app?.close();
});

const BASES: Record<string, Record<string, unknown>> = {
  '/v1/completions': { model: 'stories260K', prompt: 'Once upon a time', max_tokens: 4, temperature: 0.8, seed: 1 },
  '/v1/chat/completions': { model: 'stories260K', messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 4 },
  '/v1/classify': { model: 'stories260K', input: 'Lily played with her doll.', template: '{text}\nThe story is about a', verbalizer: { girl: ' girl', boy: ' boy' } },
};
const EXTRA_KEYS = ['stream', 'logprobs', 'echo', 'n', 'best_of', 'stop', 'top_p', 'top_k', 'logit_bias', 'user', 'suffix', 'input', 'prompt', 'messages', 'verbalizer', 'template', '__proto__'];

/** One request body: a mutated object, a mutated JSON text, or a random value. */
function body(r: Rng, url: string): string {
  const base = BASES[url]!;
  switch (r.int(5)) {
    case 0: return mutateText(r, JSON.stringify(base));
    case 1: return JSON.stringify(randomValue(r, 3));
    case 2: {
      // Near the limits: long fields, many labels, many prompts.
      const o = structuredClone(base);
      const long = 'The little dog ran to the park. '.repeat(r.int(700));
      if (url === '/v1/completions') o['prompt'] = r.chance(0.5) ? long : Array.from({ length: r.int(20) }, () => long.slice(0, r.int(2000)));
      else if (url === '/v1/classify') {
        o['input'] = long;
        if (r.chance(0.5)) o['verbalizer'] = Object.fromEntries(Array.from({ length: 1 + r.int(200) }, (_, i) => [`l${i}`, ` w${i % 50}${i}`]));
      } else o['messages'] = [{ role: 'user', content: long }];
      return JSON.stringify(o);
    }
    default: return JSON.stringify(mutateObject(r, base, EXTRA_KEYS));
  }
}

function checkShape(status: number, text: string, where: string): void {
  if (status >= 200 && status < 300) return;
  assert.ok(status >= 400 && status < 500, `${where}: status ${status}: ${text.slice(0, 300)}`);
  const b = JSON.parse(text) as { error?: Record<string, unknown> };
  assert.ok(b.error, `${where}: no error object: ${text.slice(0, 200)}`);
  assert.equal(typeof b.error['message'], 'string', where);
  assert.equal(typeof b.error['type'], 'string', where);
  assert.ok('param' in b.error && 'code' in b.error, `${where}: ${text.slice(0, 200)}`);
}

test('random and mutated bodies: every answer 2xx or 4xx in OpenAI shape, zero 5xx', async () => {
  const r = new Rng(SEED);
  const urls = Object.keys(BASES);
  const start = performance.now();
  const statuses = new Map<number, number>();
  let n = 0;
  while (performance.now() - start < BUDGET_MS) {
    const url = urls[n % urls.length]!;
    const payload = body(r, url);
    const res = await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
    const where = `seed ${SEED} case ${n} ${url} ${payload.slice(0, 200)}`;
    checkShape(res.statusCode, res.body, where);
    // A streamed answer carries its errors as events: none may be a server error.
    assert.doesNotMatch(res.body.slice(0, 100_000), /"type":"server_error"/, where);
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    n++;
  }
  // The corpus must reach the engine, not only the validator.
  assert.ok(n >= 60, `${n} cases`);
  assert.ok((statuses.get(200) ?? 0) >= 5, JSON.stringify([...statuses]));
  assert.ok([...statuses.keys()].some((s) => s >= 400), JSON.stringify([...statuses]));
  console.log(`# http fuzz: ${n} cases, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
});
