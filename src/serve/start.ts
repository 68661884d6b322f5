/**
 * A server for a loaded model and its adapters, ready to listen: the adapter registry (each
 * adapter loaded once, here, and handed to the engine as loaded), the inference engine and the
 * HTTP app. `softprompt serve` and the library's createServer() both start here.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { LoadedAdapter } from '../adapter/types.ts';
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from '../formats/model_dir.ts';
import type { InferenceEngine } from '../infer/types.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { loadRegistry } from './registry.ts';
import type { Registry } from './registry.ts';
import { createServer, DEFAULTS, listen } from './server.ts';
import type { ServerOptions } from './server.ts';

/** What `createEngine` in src/infer/engine.ts is called with. */
export interface EngineFactoryOptions {
  model: LoadedModel;
  /** Adapter name → folder: only those the registry validated and loaded. */
  adapters: Record<string, string>;
  /** The same adapters already loaded by the registry (the engine does not load them again). */
  loaded?: Record<string, LoadedAdapter>;
  maxBatchSize: number;
  maxNewTokensLimit: number;
  onWarning: (message: string) => void;
  /** Longest text field a classification input may hold (the server checks it first). */
  maxFieldChars?: number;
}

export type EngineFactory = (opts: EngineFactoryOptions) => Promise<InferenceEngine> | InferenceEngine;

/** `createEngine` from infer/engine.ts, imported only when a server starts (it loads onnxruntime). */
export async function importEngineFactory(): Promise<EngineFactory> {
  // A literal path, so that the compiled dist/ (and bundlers) can follow it.
  return (await import('../infer/engine.ts')).createEngine;
}

/**
 * The engine in a worker thread (serve/worker_engine.ts), so that ONNX Runtime's synchronous runs
 * leave the HTTP event loop free. The worker loads the model from its folder (file-backed weights:
 * nothing is held twice) and the registry's adapters again, without repeating their warnings.
 */
export const workerEngineFactory: EngineFactory = async (opts) =>
  (await import('./worker_engine.ts')).createWorkerEngine({
    model: opts.model.dir,
    adapters: opts.adapters,
    adaptersReported: opts.loaded !== undefined,
    maxBatchSize: opts.maxBatchSize,
    maxNewTokensLimit: opts.maxNewTokensLimit,
    onWarning: opts.onWarning,
    ...(opts.maxFieldChars !== undefined ? { maxFieldChars: opts.maxFieldChars } : {}),
  });

/** Whether a worker can load `model` again from its folder (not so for weights built in memory, e.g. llama2.c). */
function reloadable(model: LoadedModel): boolean {
  const w = model.weights.source;
  return w === join(model.dir, WEIGHTS_FILE) || w === join(model.dir, WEIGHTS_INDEX_FILE);
}

export interface ServerSetup {
  /** A folder whose sub-folders are adapters (named by folder), or name → adapter folder. */
  adapters?: string | Readonly<Record<string, string>> | undefined;
  /** Names no adapter may take (the base model's name). */
  reserved?: readonly string[];
  host?: string | undefined;
  port?: number | undefined;
  maxBatch?: number | undefined;
  maxQueue?: number | undefined;
  requestTimeoutMs?: number | undefined;
  batchWindowMs?: number | undefined;
  bodyLimit?: number | undefined;
  maxTokens?: number | undefined;
  /** Longest text field of a request, in characters: 400 above. */
  maxFieldChars?: number | undefined;
  /** Labels of a request's verbalizer at most: 400 above. */
  maxLabels?: number | undefined;
  /** Log every request (fastify's JSON log on stdout). */
  log?: boolean | undefined;
  /** Require `Authorization: Bearer <apiKey>` on every route but /health. */
  apiKey?: string | undefined;
  /** Allowed browser origins (CORS); true allows any. */
  cors?: readonly string[] | true | undefined;
  /** A Jinja chat template overriding the model's. */
  chatTemplate?: { text: string; source: string } | undefined;
  caps?: ServerOptions['caps'];
  /** Builds the engine (tests inject a fake one); default: the real engine in a worker thread. */
  engineFactory?: EngineFactory | undefined;
  /**
   * Run the default engine on the server's own thread instead of a worker (each ORT run then holds
   * the event loop: /health and new connections wait for the batch).
   */
  inProcess?: boolean | undefined;
  onWarning?: ((message: string) => void) | undefined;
}

export interface PreparedServer {
  readonly app: FastifyInstance;
  readonly engine: InferenceEngine;
  readonly registry: Registry | null;
  /** Starts listening on the setup's host and port; resolves to the URL. */
  listen(): Promise<string>;
  /** Graceful shutdown (idempotent): requests in flight finish, then the engine is freed. */
  close(): Promise<void>;
}

/** Loads the adapters (once) and builds the engine and the app for `model`. */
export async function prepareServer(model: LoadedModel, setup: ServerSetup = {}): Promise<PreparedServer> {
  const warn = setup.onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
  const host = setup.host ?? DEFAULTS.host;
  // A host that does not resolve fails now, before the adapters and the engine are built (and before the exposure warning).
  if (isIP(host) === 0) await lookup(host);
  const registry = typeof setup.adapters === 'string'
    ? loadRegistry(setup.adapters, model, { onWarning: warn, ...(setup.reserved ? { reserved: setup.reserved } : {}) })
    : null;
  const maxBatch = setup.maxBatch ?? DEFAULTS.maxBatch;
  const maxTokens = Math.min(setup.maxTokens ?? DEFAULTS.maxTokens, model.config.maxPositions);
  const factory = setup.engineFactory ?? (setup.inProcess || !reloadable(model) ? await importEngineFactory() : workerEngineFactory);
  const engine = await factory({
    model,
    adapters: registry ? registry.dirs() : typeof setup.adapters === 'object' ? { ...setup.adapters } : {},
    ...(registry ? { loaded: Object.fromEntries([...registry.adapters.values()].map((e) => [e.name, e.adapter])) } : {}),
    maxBatchSize: maxBatch,
    maxNewTokensLimit: maxTokens,
    onWarning: warn,
    maxFieldChars: setup.maxFieldChars ?? DEFAULTS.maxFieldChars,
  });
  const app = createServer({
    engine,
    maxBatch,
    maxQueue: setup.maxQueue ?? DEFAULTS.maxQueue,
    requestTimeoutMs: setup.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    batchWindowMs: setup.batchWindowMs ?? DEFAULTS.batchWindowMs,
    bodyLimit: setup.bodyLimit ?? DEFAULTS.bodyLimit,
    maxFieldChars: setup.maxFieldChars ?? DEFAULTS.maxFieldChars,
    maxLabels: setup.maxLabels ?? DEFAULTS.maxLabels,
    maxTokens,
    maxContext: model.config.maxPositions,
    logger: setup.log ? { level: 'info' } : false,
    ...(setup.apiKey !== undefined ? { apiKey: setup.apiKey } : {}),
    ...(setup.cors !== undefined ? { cors: setup.cors } : {}),
    ...(setup.chatTemplate ? { chatTemplate: setup.chatTemplate } : {}),
    ...(setup.caps ? { caps: setup.caps } : {}),
  });
  let closing: Promise<void> | undefined;
  return {
    app,
    engine,
    registry,
    async listen() {
      try {
        return await listen(app, { host: setup.host ?? DEFAULTS.host, port: setup.port ?? DEFAULTS.port });
      } catch (e) {
        await engine.close();
        throw e;
      }
    },
    close: () => (closing ??= app.close()),
  };
}
