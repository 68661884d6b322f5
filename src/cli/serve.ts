/**
 * `softprompt serve --model M --adapters DIR`: an OpenAI-compatible HTTP server for the base model
 * and every adapter in DIR (serve/). SIGINT or SIGTERM shut it down gracefully: no new requests,
 * the ones in flight finish, then the engine is freed. A second signal exits at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { SoftpromptError } from '../errors.ts';
import type { InferenceEngine } from '../infer/types.ts';
import { isLoopback } from '../serve/auth.ts';
import { loadRegistry } from '../serve/registry.ts';
import type { Registry } from '../serve/registry.ts';
import { createServer, DEFAULTS, listen } from '../serve/server.ts';
import { intArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { loadModel } from './eval.ts';
import type { LoadedModel } from './eval.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

/** What `createEngine` in src/infer/engine.ts is called with. */
export interface EngineFactoryOptions {
  model: LoadedModel;
  /** Adapter name → folder: only those the registry validated and loaded. */
  adapters: Record<string, string>;
  maxBatchSize: number;
  maxNewTokensLimit: number;
  onWarning: (message: string) => void;
}

export type EngineFactory = (opts: EngineFactoryOptions) => Promise<InferenceEngine> | InferenceEngine;

const ENGINE_MODULE = '../infer/engine.ts';

/** `createEngine` from src/infer/engine.ts, imported when needed; a clear error when it is not there. */
export async function importEngineFactory(): Promise<EngineFactory> {
  const url = new URL(ENGINE_MODULE, import.meta.url);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url.href)) as Record<string, unknown>;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('engine.ts')) {
      throw new SoftpromptError(`softprompt serve needs the inference engine (src/infer/engine.ts exporting createEngine), which this checkout does not have yet`);
    }
    throw e;
  }
  const create = mod['createEngine'];
  if (typeof create !== 'function') {
    throw new SoftpromptError(`src/infer/engine.ts does not export a function createEngine({ model, adapters, maxBatchSize, maxNewTokensLimit, onWarning }) → InferenceEngine`);
  }
  return create as EngineFactory;
}

export interface ServeFlags {
  model?: string;
  adapters?: string;
  host?: string;
  port?: number;
  maxBatch?: number;
  maxQueue?: number;
  timeoutMs?: number;
  batchWindowMs?: number;
  bodyLimit?: number;
  maxTokens?: number;
  log?: boolean;
  /** Bearer key every route but /health needs (default $SOFTPROMPT_API_KEY). */
  apiKey?: string;
  /** Browser origins allowed (CORS); "*" allows any. */
  cors?: string[];
  /** A Jinja chat template file overriding the model's. */
  chatTemplate?: string;
  maxN?: number;
  maxLogprobs?: number;
  maxTopLogprobs?: number;
  maxLogitBias?: number;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly engine: InferenceEngine;
  readonly registry: Registry | null;
  /** Graceful shutdown (idempotent). */
  close(): Promise<void>;
}

/** Loads the model and the adapters, builds the engine and starts listening. */
export async function startServe(flags: ServeFlags, deps: { engineFactory?: EngineFactory; io?: Io } = {}): Promise<RunningServer> {
  const io = deps.io ?? processIo;
  if (flags.port !== undefined && flags.port > 65535) throw new SoftpromptError(`--port ${flags.port}: a port is at most 65535`);
  const warn = (m: string): void => io.err(`softprompt: warning: ${m}`);
  const apiKey = flags.apiKey ?? (process.env['SOFTPROMPT_API_KEY'] || undefined);
  if (apiKey !== undefined && apiKey.trim() === '') throw new SoftpromptError('--api-key: the key must not be empty');
  let chatTemplate: { text: string; source: string } | undefined;
  if (flags.chatTemplate !== undefined) {
    const path = resolve(flags.chatTemplate);
    if (!existsSync(path)) throw new SoftpromptError(`--chat-template ${flags.chatTemplate}: no such file`);
    chatTemplate = { text: readFileSync(path, 'utf8'), source: `--chat-template ${flags.chatTemplate}` };
  }
  const model = await loadModel(flags.model);
  const baseName = basename(model.dir);
  const registry = flags.adapters !== undefined
    ? loadRegistry(flags.adapters, { config: model.config, weights: model.weights }, { onWarning: warn, reserved: [baseName] })
    : null;
  const maxBatch = flags.maxBatch ?? DEFAULTS.maxBatch;
  const maxTokens = Math.min(flags.maxTokens ?? DEFAULTS.maxTokens, model.config.maxPositions);
  const factory = deps.engineFactory ?? (await importEngineFactory());
  const engine = await factory({
    model,
    adapters: registry?.dirs() ?? {},
    maxBatchSize: maxBatch,
    maxNewTokensLimit: maxTokens,
    onWarning: warn,
  });
  const app = createServer({
    engine,
    maxBatch,
    maxQueue: flags.maxQueue ?? DEFAULTS.maxQueue,
    requestTimeoutMs: flags.timeoutMs ?? DEFAULTS.requestTimeoutMs,
    batchWindowMs: flags.batchWindowMs ?? DEFAULTS.batchWindowMs,
    bodyLimit: flags.bodyLimit ?? DEFAULTS.bodyLimit,
    maxTokens,
    maxContext: model.config.maxPositions,
    logger: flags.log ? { level: 'info' } : false,
    ...(apiKey !== undefined ? { apiKey } : {}),
    ...(flags.cors !== undefined && flags.cors.length > 0 ? { cors: flags.cors.includes('*') ? true as const : flags.cors } : {}),
    ...(chatTemplate ? { chatTemplate } : {}),
    caps: {
      ...(flags.maxN !== undefined ? { n: flags.maxN } : {}),
      ...(flags.maxLogprobs !== undefined ? { logprobs: flags.maxLogprobs } : {}),
      ...(flags.maxTopLogprobs !== undefined ? { topLogprobs: flags.maxTopLogprobs } : {}),
      ...(flags.maxLogitBias !== undefined ? { logitBias: flags.maxLogitBias } : {}),
    },
  });
  const host = flags.host ?? DEFAULTS.host;
  if (apiKey === undefined && !isLoopback(host)) {
    warn(`--host ${host} is reachable from other machines and no --api-key is set: anyone who can reach it can use the server (set --api-key or $SOFTPROMPT_API_KEY)`);
  }
  let url: string;
  try {
    url = await listen(app, { host: flags.host ?? DEFAULTS.host, port: flags.port ?? DEFAULTS.port });
  } catch (e) {
    await engine.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new SoftpromptError(`--port ${flags.port ?? DEFAULTS.port}: the address is already in use`);
    throw e;
  }
  const tasks = engine.tasks();
  io.err(`softprompt: serving ${engine.baseModel} and ${tasks.length} adapter${tasks.length === 1 ? '' : 's'}${tasks.length ? ` (${tasks.map((t) => t.name).join(', ')})` : ''} on ${url}`);
  if (registry?.skipped.length) io.err(`softprompt: ${registry.skipped.length} adapter folder(s) skipped (see the warnings above)`);
  let closing: Promise<void> | undefined;
  return {
    app, url, engine, registry,
    close: () => (closing ??= app.close()),
  };
}

const SERVE_HELP = `
Endpoints (OpenAI-compatible where OpenAI has one):
  POST /v1/completions   {"model", "prompt" (string or array), "max_tokens", "temperature", "top_p",
                          "stop", "seed", "stream"}; "model" is an adapter's name or the base model's
  POST /v1/chat/completions  {"model", "messages", "max_tokens", "n", "logprobs", "top_logprobs", "stream", ...};
                         needs a chat template: the model's (tokenizer_config.json) or --chat-template FILE
  POST /v1/classify      {"model", "input" (text or {field: text}), "verbalizer"?, "template"?} -> {label, scores}
  GET  /v1/models        the base model and every adapter (method, num_virtual_tokens); GET /v1/models/{id}
  POST /tokenize, POST /detokenize   vLLM's shape
  GET  /health           (open without the API key)

Completions also take "echo", "logprobs" (<= --max-logprobs), token-id prompts, "n"/"best_of"
(<= --max-n), "logit_bias", "frequency_penalty", "presence_penalty" and "stream_options". A field
the server does not implement is refused with a 400 naming it. See docs/server.md.

Adapters are the sub-folders of --adapters, named by their folder (letters, digits, '.', '_', '-').
One that does not load is reported and skipped. Concurrent requests are batched together (mixed
adapters in one batch); when --max-queue prompts already wait, the server answers 429 with
Retry-After. Bad requests get 400 naming the field; an unknown model 404; a body over the limit
413; a request past --timeout-ms 504. Ctrl-C (SIGINT) or SIGTERM finishes the requests in flight,
then exits.

Examples:
  softprompt serve --model ../shared/models/stories260K --adapters runs/
  softprompt serve --model ../shared/models/stories260K --adapters runs/ --port 9000 --max-batch 16
  SOFTPROMPT_API_KEY=secret softprompt serve --adapters runs/ --host 0.0.0.0 --cors https://app.example.com
  curl -s localhost:8080/v1/completions -H 'content-type: application/json' \\
    -d '{"model": "story_gender", "prompt": "Once upon a time", "max_tokens": 20}'
  curl -sN localhost:8080/v1/completions -H 'content-type: application/json' \\
    -d '{"model": "stories260K", "prompt": "Once upon a time", "max_tokens": 20, "stream": true}'
  curl -s localhost:8080/v1/classify -H 'content-type: application/json' \\
    -d '{"model": "story_gender", "input": {"text": "Lily went to the park with her doll."}}'
`;

/** `softprompt serve`. */
export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('serve the base model and a folder of adapters over HTTP (OpenAI-compatible completions, classification), with dynamic batching')
    .option('--model <dir>', 'the base model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--adapters <dir>', 'a folder whose sub-folders are adapters (each served under its folder name)')
    .option('--host <host>', 'address to listen on', DEFAULTS.host)
    .option('--port <n>', 'port to listen on (0: any free port)', intArg(0), DEFAULTS.port)
    .option('--max-batch <n>', 'prompts per engine batch', intArg(1), DEFAULTS.maxBatch)
    .option('--max-queue <n>', 'prompts waiting at most; beyond, 429 with Retry-After', intArg(1), DEFAULTS.maxQueue)
    .option('--timeout-ms <ms>', 'per-request timeout, queueing included (504 past it)', intArg(1), DEFAULTS.requestTimeoutMs)
    .option('--batch-window-ms <ms>', 'how long a request waits for others to join its batch', intArg(0), DEFAULTS.batchWindowMs)
    .option('--body-limit <bytes>', 'largest request body (413 above)', intArg(1), DEFAULTS.bodyLimit)
    .option('--max-tokens <n>', 'largest max_tokens a request may ask for (also capped by the model\'s context)', intArg(1), DEFAULTS.maxTokens)
    .option('--log', "log every request (fastify's JSON log on stdout)")
    .option('--api-key <key>', 'require "Authorization: Bearer <key>" on every route but /health (default: $SOFTPROMPT_API_KEY)')
    .option('--cors <origin...>', 'allow these browser origins (CORS); "*" allows any')
    .option('--chat-template <file>', 'a Jinja chat template for /v1/chat/completions, overriding the model\'s')
    .option('--max-n <n>', 'largest n and best_of a request may ask for', intArg(1), 8)
    .option('--max-logprobs <n>', 'largest completions logprobs (alternatives per token)', intArg(0), 5)
    .option('--max-top-logprobs <n>', 'largest chat top_logprobs', intArg(0), 20)
    .option('--max-logit-bias <n>', 'most logit_bias entries in one request', intArg(0), 300);
  withConfigFile(cmd);
  cmd.addHelpText('after', SERVE_HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    const server = await startServe(self.opts<ServeFlags>());
    await new Promise<void>((done) => {
      let signals = 0;
      const onSignal = (sig: NodeJS.Signals): void => {
        signals++;
        if (signals > 1) {
          processIo.err(`softprompt: ${sig} again: exiting without waiting`);
          process.exit(130);
        }
        const s = server.app.scheduler.stats();
        processIo.err(`softprompt: ${sig}: shutting down; finishing ${s.waiting + s.runningJobs + s.activeStreams} request(s) in flight (send it again to exit at once)`);
        server.close().then(done, (e: unknown) => {
          processIo.err(`softprompt: error while shutting down: ${e instanceof Error ? e.message : String(e)}`);
          process.exitCode = 1;
          done();
        });
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
  });
  return cmd;
}
