/**
 * The serving load test of issue 4: 16 concurrent clients against a server on 127.0.0.1 for 30 s
 * (a bounded loop that stops by itself), zero 5xx, no lost or duplicated responses, and the
 * throughput against the same requests sent one at a time.
 *
 *   node --import tsx bench/serve_load.ts                      # the fake engine (echoes, checks every answer)
 *   node --import tsx bench/serve_load.ts --model ../shared/models/stories260K --synthetic-adapters
 *   node --import tsx bench/serve_load.ts --model M --adapters DIR
 *   node --import tsx bench/serve_load.ts --url http://127.0.0.1:8080 --models base,a,b
 *
 * --hostile adds issue 16's hostile mix (bench/hostile.ts): one client sending near-limit
 * /v1/classify inputs, and /health timed every 50 ms (after one untimed near-limit request that
 * warms the server: its first compiles the scorer). --probe-health times /health alone (the clean
 * run's baseline).
 * Options: --duration-ms (30000), --clients (16), --max-tokens (8), --max-batch (8), --max-queue (64),
 * --sequential-ms (cap on the sequential pass; default the duration), --fake-delay-ms (15) and
 * --fake-row-ms (1) for the fake engine's cost per batch and per row.
 * A summary goes to stderr; the LAST stdout line is the JSON report. Exits 1 on any 5xx, lost,
 * duplicated or mismatched response.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startServe } from '../src/cli/serve.ts';
import type { RunningServer } from '../src/cli/serve.ts';
import { loadModelDir } from '../src/formats/model_dir.ts';
import { writeSafetensors } from '../src/formats/safetensors.ts';
import { runLoad } from '../src/serve/load.ts';
import { createServer, listen } from '../src/serve/server.ts';
import { tensor } from '../src/tensor.ts';
import { FakeEngine } from '../test/serve/fake_engine.ts';
import { hostileMix, warmHostile } from './hostile.ts';

function int(name: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** Three prompt-tuning adapters (2, 8 and 20 virtual tokens, random values) sized for the model in `modelDir`. */
function syntheticAdapters(modelDir: string): string {
  const { config } = loadModelDir(modelDir);
  const root = mkdtempSync(join(tmpdir(), 'softprompt-serve-load-'));
  let seed = 1;
  for (const n of [2, 8, 20]) {
    const dir = join(root, `synthetic-${n}`);
    mkdirSync(dir);
    const values = new Float32Array(n * config.hiddenSize);
    for (let i = 0; i < values.length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      values[i] = (seed / 2 ** 32 - 0.5) * 0.2;
    }
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({
      peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: n, token_dim: config.hiddenSize,
      num_layers: config.numLayers, num_attention_heads: config.numHeads, num_transformer_submodules: 1, prompt_tuning_init: 'RANDOM',
    }, null, 2));
    writeSafetensors(join(dir, 'adapter_model.safetensors'), { prompt_embeddings: tensor('float32', [n, config.hiddenSize], values) }, { format: 'pt' });
  }
  return root;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      'duration-ms': { type: 'string' },
      clients: { type: 'string' },
      'max-tokens': { type: 'string' },
      'max-batch': { type: 'string' },
      'max-queue': { type: 'string' },
      'sequential-ms': { type: 'string' },
      'fake-delay-ms': { type: 'string' },
      'fake-row-ms': { type: 'string' },
      model: { type: 'string' },
      adapters: { type: 'string' },
      'synthetic-adapters': { type: 'boolean', default: false },
      url: { type: 'string' },
      models: { type: 'string' },
      hostile: { type: 'boolean', default: false },
      'probe-health': { type: 'boolean', default: false },
    },
  });
  const durationMs = int('duration-ms', v['duration-ms'], 30_000);
  const clients = int('clients', v.clients, 16);
  const maxTokens = int('max-tokens', v['max-tokens'], 8);
  const maxBatch = int('max-batch', v['max-batch'], 8);
  const maxQueue = int('max-queue', v['max-queue'], 64);
  const sequentialMaxMs = int('sequential-ms', v['sequential-ms'], durationMs, 0);

  let url: string;
  let models: string[];
  let engineKind: string;
  let close: () => Promise<void> = async () => {};
  let tmp: string | undefined;
  if (v.url !== undefined) {
    url = v.url.replace(/\/$/, '');
    const list = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
    models = v.models ? v.models.split(',') : list.data.map((m) => m.id);
    engineKind = `remote ${url}`;
  } else if (v.model !== undefined) {
    if (v['synthetic-adapters']) tmp = syntheticAdapters(v.model);
    const adapters = tmp ?? v.adapters;
    const server: RunningServer = await startServe({ model: v.model, ...(adapters !== undefined ? { adapters } : {}), port: 0, maxBatch, maxQueue });
    url = server.url;
    models = [server.engine.baseModel, ...server.engine.tasks().map((t) => t.name)];
    engineKind = `real engine, ${v.model}`;
    close = () => server.close();
  } else {
    const engine = new FakeEngine({ delayMs: int('fake-delay-ms', v['fake-delay-ms'], 15, 0), perRowMs: int('fake-row-ms', v['fake-row-ms'], 1, 0) });
    const app = createServer({ engine, maxBatch, maxQueue, batchWindowMs: 5 });
    url = await listen(app, { port: 0 });
    models = [engine.baseModel, ...engine.tasks().map((t) => t.name)];
    engineKind = 'fake engine';
    close = () => app.close();
  }

  process.stderr.write(`[serve-load] ${engineKind}; ${clients} clients for ${durationMs} ms over ${models.join(', ')}; max_tokens ${maxTokens}\n`);
  const warm = v.hostile ? await warmHostile(url, models[0]!) : null;
  if (warm) process.stderr.write(`[serve-load] hostile warm-up (not timed in the mix): one near-limit request, ${warm.status} in ${warm.ms} ms\n`);
  const load = runLoad({ url, clients, durationMs, models, maxTokens, expectEcho: engineKind === 'fake engine', sequentialMaxMs });
  // --hostile: one more client sends near-limit classifications meanwhile; /health is timed.
  const hostile = v.hostile || v['probe-health'] ? await hostileMix(url, models[0]!, load, { probeOnly: !v.hostile }) : null;
  const report = await load;
  if (hostile) {
    process.stderr.write(
      `[serve-load] hostile: ${hostile.hostileRequests} near-limit requests ${JSON.stringify(hostile.hostileStatuses)}; ` +
        `/health p50 ${hostile.health.p50} ms, p99 ${hostile.health.p99} ms, max ${hostile.health.max} ms over ${hostile.health.probes} probes\n`,
    );
  }
  await close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });

  const c = report.concurrent;
  const s = report.sequential;
  process.stderr.write(
    `[serve-load] concurrent: ${c.requests} requests in ${c.seconds} s = ${c.requestsPerSecond} req/s, ${c.completionTokensPerSecond} tokens/s; ` +
      `p50 ${c.latencyMs.p50} ms, p95 ${c.latencyMs.p95} ms, p99 ${c.latencyMs.p99} ms; statuses ${JSON.stringify(c.statuses)}; 5xx ${c.errors5xx}, lost ${c.lost}, duplicated ${c.duplicated}, mismatched ${c.mismatched}\n` +
      (s ? `[serve-load] sequential: ${s.requests} requests in ${s.seconds} s = ${s.requestsPerSecond} req/s; speedup ${report.speedup}x\n` : ''),
  );
  process.stdout.write(`${JSON.stringify({ engine: engineKind, models, maxTokens, maxBatch, ...report, ...(hostile ? { hostile: { ...hostile, warmup: warm } } : {}) })}\n`);
  if (c.errors5xx || c.lost || c.duplicated || c.mismatched) process.exitCode = 1;
}

await main();
