/**
 * The HTTP server: OpenAI-compatible completions and chat completions (openai.ts, chat.ts),
 * classification, the model list, vLLM's /tokenize and /detokenize, and health, in front of one
 * {@link InferenceEngine} with dynamic batching ({@link Scheduler}). docs/server.md describes it.
 *
 * Statuses, every body in OpenAI's error shape: 400 invalid request (the message and `error.param`
 * name the field), 401 missing or wrong API key, 404 unknown model (an adapter name is only ever
 * looked up among the engine's tasks, never used as a path), 413 body over `bodyLimit`, 415 not
 * JSON, 429 queue full (with Retry-After), 431 headers too large, 503 shutting down, 504 past the
 * per-request timeout, 500 an engine failure that is not the request's fault.
 */
import { setMaxListeners } from 'node:events';
import type { Socket } from 'node:net';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { SoftpromptError } from '../errors.ts';
import type { ClassifyRequest, InferenceEngine } from '../infer/types.ts';
import { checkAuth } from './auth.ts';
import { ChatTemplate, parseChat } from './chat.ts';
import { ApiError, badField, ClientGoneError, RequestTimeoutError, ShuttingDownError } from './errors.ts';
import { chatCompletions, completions, streamChat, streamCompletions } from './openai.ts';
import type { RouteContext } from './openai.ts';
import { Scheduler } from './scheduler.ts';
import type { BatchRecord, SchedulerStats } from './scheduler.ts';
import { DEFAULT_CAPS, describe, parseClassify, parseCompletion, requireObject } from './validate.ts';
import type { CompletionLimits, OpenAiCaps } from './validate.ts';
import { engineFailure, isEngineFailure } from './engine_errors.ts';
import { installJsonBody } from './json_body.ts';
import { checkChatLimits, checkClassifyLimits, checkCompletionLimits, DEFAULT_MAX_FIELD_CHARS, DEFAULT_MAX_LABELS } from './limits.ts';

export interface ServerOptions {
  engine: InferenceEngine;
  /** Waiting prompts the queue holds; beyond, 429 (default 64). */
  maxQueue?: number;
  /** Prompts per engine call (default 8). */
  maxBatch?: number;
  /** How long a request waits for others to join its batch (default 10 ms). */
  batchWindowMs?: number;
  /** Engine batches running at once, of each kind: generate, classify (default 1). */
  concurrency?: number;
  /** Streams running at once (default maxBatch). */
  maxStreams?: number;
  /** Per-request timeout, queueing included (default 60 000 ms): 504 past it. */
  requestTimeoutMs?: number;
  /** Largest request body in bytes (default 1 MiB): 413 above. */
  bodyLimit?: number;
  /** Largest max_tokens accepted (default 4096). */
  maxTokens?: number;
  /** The model's context length (max_position_embeddings); max_tokens above it is refused. */
  maxContext?: number;
  /** Longest text field of a request, in characters (default 200 000): 400 naming the field above. */
  maxFieldChars?: number;
  /** Labels of a request's verbalizer at most (default 128): 400 above. */
  maxLabels?: number;
  /** How long close() waits for in-flight work before closing the engine anyway (default requestTimeoutMs + 10 s). */
  shutdownTimeoutMs?: number;
  /** fastify's logger option (default off). */
  logger?: FastifyServerOptions['logger'];
  /** Called after every engine batch. */
  onBatch?: (b: BatchRecord) => void;
  /** Require `Authorization: Bearer <apiKey>` on every route but /health and CORS preflights. */
  apiKey?: string;
  /** Allowed browser origins (@fastify/cors); true allows any. Default: no CORS headers. */
  cors?: readonly string[] | true;
  /** A chat template overriding the model's: its text and where it came from (for messages). */
  chatTemplate?: { text: string; source: string };
  /** Caps on n/best_of, logprobs, top_logprobs and logit_bias entries (defaults {@link DEFAULT_CAPS}). */
  caps?: Partial<OpenAiCaps>;
}

export interface ListenOptions {
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
}

export const DEFAULTS = {
  maxQueue: 64,
  maxBatch: 8,
  batchWindowMs: 10,
  concurrency: 1,
  requestTimeoutMs: 60_000,
  bodyLimit: 1024 * 1024,
  maxTokens: 4096,
  host: '127.0.0.1',
  port: 8080,
  maxFieldChars: DEFAULT_MAX_FIELD_CHARS,
  maxLabels: DEFAULT_MAX_LABELS,
} as const;

interface ModelEntry {
  id: string;
  task: string | null;
  method: string | null;
  numVirtualTokens: number;
  slotted: boolean;
}

/** A raw socket's error answer in OpenAI's shape (errors before fastify parses a request: 431, 400). */
function socketError(socket: Socket, status: number, reason: string, e: ApiError): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(e.body());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The server's scheduler (queue and batching), for stats and tests. */
    scheduler: Scheduler;
  }
}

/** Builds the server (not listening yet: call {@link listen} or `app.listen`). close() shuts down gracefully. */
export function createServer(opts: ServerOptions): FastifyInstance {
  const { engine } = opts;
  const maxBatch = opts.maxBatch ?? DEFAULTS.maxBatch;
  const maxQueue = opts.maxQueue ?? DEFAULTS.maxQueue;
  const timeoutMs = opts.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
  const maxTokensCap = Math.min(opts.maxTokens ?? DEFAULTS.maxTokens, opts.maxContext ?? Infinity);
  const maxTokensWhy = opts.maxContext !== undefined && opts.maxContext <= (opts.maxTokens ?? DEFAULTS.maxTokens)
    ? `the model's context is ${opts.maxContext} tokens`
    : "the server's limit";
  const shutdownTimeoutMs = opts.shutdownTimeoutMs ?? timeoutMs + 10_000;
  const requestLimits = { maxFieldChars: opts.maxFieldChars ?? DEFAULTS.maxFieldChars, maxLabels: opts.maxLabels ?? DEFAULTS.maxLabels };

  const scheduler = new Scheduler(engine, {
    maxQueue,
    maxBatch,
    batchWindowMs: opts.batchWindowMs ?? DEFAULTS.batchWindowMs,
    concurrency: opts.concurrency ?? DEFAULTS.concurrency,
    maxStreams: opts.maxStreams ?? maxBatch,
  });
  scheduler.onBatch = opts.onBatch;

  // The model table: the base model, then every task. Looked up by exact name in a Map only.
  const models = new Map<string, ModelEntry>();
  models.set(engine.baseModel, { id: engine.baseModel, task: null, method: null, numVirtualTokens: 0, slotted: false });
  for (const t of engine.tasks()) {
    if (models.has(t.name)) continue; // the base model's name wins over an adapter of the same name
    models.set(t.name, { id: t.name, task: t.name, method: t.method, numVirtualTokens: t.numVirtualTokens, slotted: t.slotted === true });
  }
  const info = engine.tokenizerInfo;
  const caps: OpenAiCaps = { ...DEFAULT_CAPS, ...opts.caps };
  const limits: CompletionLimits = { maxTokens: maxTokensCap, maxTokensWhy, maxPrompts: maxQueue, vocabSize: info.vocabSize, caps };
  const templateText = opts.chatTemplate?.text ?? info.chatTemplate;
  const chatTemplate = templateText === null ? null : new ChatTemplate(opts.chatTemplate?.source ?? "the model's tokenizer_config.json", templateText, info);
  const maxStreams = opts.maxStreams ?? maxBatch;
  const created = Math.floor(Date.now() / 1000);

  function lookup(model: string): ModelEntry {
    const m = models.get(model);
    if (!m) {
      const names = [...models.keys()];
      const shown = names.length > 10 ? `${names.slice(0, 10).join(', ')}, ...` : names.join(', ');
      throw new ApiError(404, `model "${model}" does not exist: it is neither the base model nor a loaded adapter (available: ${shown})`, 'model', 'invalid_request_error', 'model_not_found');
    }
    return m;
  }

  const app = Fastify({
    logger: opts.logger ?? false,
    bodyLimit: opts.bodyLimit ?? DEFAULTS.bodyLimit,
    // 503 while closing comes from our own hook, in OpenAI's error shape.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Errors before a request is parsed (headers too large: 431) still answer in OpenAI's shape.
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Socket) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        socket.destroy();
        return;
      }
      if (err.code === 'HPE_HEADER_OVERFLOW') {
        return socketError(socket, 431, 'Request Header Fields Too Large', new ApiError(431, 'the request headers are too large (Node\'s --max-http-header-size caps them)', null, 'invalid_request_error', 'headers_too_large'));
      }
      return socketError(socket, 400, 'Bad Request', new ApiError(400, `the request is not valid HTTP: ${err.message}`, null, 'invalid_request_error', 'bad_http'));
    },
  });
  app.decorate('scheduler', scheduler);
  installJsonBody(app);
  let closing = false;
  app.addHook('onRequest', async () => {
    if (closing) throw new ShuttingDownError();
  });
  if (opts.cors !== undefined) void app.register(cors, { origin: opts.cors === true ? true : [...opts.cors] });
  const apiKey = opts.apiKey;
  if (apiKey !== undefined) {
    // After the CORS plugin's hook, so a browser can read the 401 (it carries the CORS headers).
    void app.after(() => {
      app.addHook('onRequest', async (req) => {
        checkAuth(req, apiKey);
      });
    });
  }

  // In-flight requests (counted until their response closes, however it ends) for the graceful shutdown.
  let inFlight = 0;
  let inFlightWaiters: (() => void)[] = [];
  app.addHook('onRequest', async (_req, reply) => {
    inFlight++;
    reply.raw.once('close', () => {
      inFlight--;
      if (inFlight === 0) {
        const w = inFlightWaiters;
        inFlightWaiters = [];
        for (const f of w) f();
      }
    });
  });
  const noneInFlight = (): Promise<void> => (inFlight === 0 ? Promise.resolve() : new Promise((done) => inFlightWaiters.push(done)));

  // close(): fastify refuses new requests (503) from here on; we finish queued and running work,
  // wait for the responses to go out, then the listener closes and the engine is freed.
  app.addHook('preClose', async () => {
    closing = true;
    scheduler.close();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((done) => (timer = setTimeout(done, shutdownTimeoutMs)));
    await Promise.race([Promise.all([scheduler.idle(), noneInFlight()]), deadline]);
    clearTimeout(timer);
  });
  app.addHook('onClose', async () => {
    await engine.close();
  });

  app.setErrorHandler((err: FastifyError | Error, _req, reply) => {
    const e = toApiError(err);
    if (e.status >= 500) reply.log.error(err);
    void reply.code(e.status).headers(e.headers).send(e.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, `no route ${req.method} ${req.url}; the routes are POST /v1/completions, POST /v1/chat/completions, POST /v1/classify, GET /v1/models, GET /v1/models/{id}, POST /tokenize, POST /detokenize, GET /health`, null, 'invalid_request_error', 'not_found');
    void reply.code(404).send(e.body());
  });

  /** An AbortSignal that fires at the request's timeout or when its client goes away; `done` clears the timer. */
  function requestSignal(reply: FastifyReply): { signal: AbortSignal; done: () => void } {
    const ac = new AbortController();
    // Each prompt of an array listens on this signal (scheduler and engine): up to maxQueue of them.
    setMaxListeners(2 * maxQueue + 10, ac.signal);
    const timer = setTimeout(() => ac.abort(new RequestTimeoutError(timeoutMs)), timeoutMs);
    const onClose = (): void => {
      clearTimeout(timer);
      if (!reply.raw.writableFinished) ac.abort(new ClientGoneError());
    };
    reply.raw.once('close', onClose);
    return {
      signal: ac.signal,
      done: () => {
        clearTimeout(timer);
      },
    };
  }

  app.get('/health', async (_req, reply) => {
    // A dead engine worker fails every request: /health says so (503, OpenAI's error shape).
    const failure = engine.failure?.() ?? null;
    if (failure !== null) throw new ApiError(503, `the inference engine is not running: ${failure}; restart the server`, null, 'server_error', 'engine_unavailable');
    const s: SchedulerStats = scheduler.stats();
    const body = {
      status: scheduler.isClosing ? 'closing' : 'ok',
      model: engine.baseModel,
      adapters: models.size - 1,
      queue: { waiting: s.waiting, max: maxQueue, running_batches: s.runningBatches, running: s.runningJobs, streams: s.activeStreams },
      batches: { count: s.batches, mean_size: Number(s.meanBatchSize.toFixed(3)), max_size: s.maxBatchSeen, max_batch: maxBatch },
    };
    return reply.code(scheduler.isClosing ? 503 : 200).send(body);
  });

  const modelObject = (m: ModelEntry): Record<string, unknown> => ({
    id: m.id,
    object: 'model',
    created,
    owned_by: 'softprompt',
    root: engine.baseModel,
    parent: m.task === null ? null : engine.baseModel,
    method: m.method,
    num_virtual_tokens: m.numVirtualTokens,
    max_model_len: info.maxPositions,
    ...(m.slotted
      ? { virtual_tokens: 'slotted: classify puts them at the template\'s {soft:N} slots; completions, chat and echo log-probabilities put them before the prompt, so those scores differ from eval\'s' }
      : {}),
  });
  app.get('/v1/models', async () => ({ object: 'list', data: [...models.values()].map(modelObject) }));
  app.get('/v1/models/*', async (req) => modelObject(lookup(decodeURIComponent((req.params as { '*': string })['*']))));

  const ctx: RouteContext = { engine, scheduler, maxStreams, chatTemplate, toApiError };

  // vLLM's /tokenize and /detokenize (some harnesses probe them).
  app.post('/tokenize', async (req) => {
    const o = requireObject(req.body);
    lookup(typeof o['model'] === 'string' ? o['model'] : engine.baseModel);
    for (const k of Object.keys(o)) if (!['model', 'prompt', 'add_special_tokens'].includes(k)) throw badField(k, `${k} is not supported by /tokenize (it takes model, prompt, add_special_tokens)`);
    if (typeof o['prompt'] !== 'string') throw badField('prompt', `prompt must be a string, got ${describe(o['prompt'])}`);
    const add = o['add_special_tokens'] ?? true;
    if (typeof add !== 'boolean') throw badField('add_special_tokens', `add_special_tokens must be a boolean, got ${describe(add)}`);
    const tokens = await engine.tokenize(o['prompt'], { addSpecialTokens: add });
    return { count: tokens.length, max_model_len: info.maxPositions, tokens };
  });
  app.post('/detokenize', async (req) => {
    const o = requireObject(req.body);
    lookup(typeof o['model'] === 'string' ? o['model'] : engine.baseModel);
    for (const k of Object.keys(o)) if (!['model', 'tokens'].includes(k)) throw badField(k, `${k} is not supported by /detokenize (it takes model, tokens)`);
    const t = o['tokens'];
    if (!Array.isArray(t)) throw badField('tokens', `tokens must be an array of token ids, got ${describe(t)}`);
    t.forEach((id: unknown, i) => {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= info.vocabSize) throw badField('tokens', `tokens[${i}] must be a token id (an integer from 0 to ${info.vocabSize - 1}), got ${describe(id)}`);
    });
    return { prompt: (await engine.detokenize(t as number[])).text };
  });

  app.post('/v1/chat/completions', async (req: FastifyRequest, reply: FastifyReply) => {
    const p = parseChat(req.body, limits);
    checkChatLimits(p, requestLimits);
    const entry = lookup(p.model);
    const sig = requestSignal(reply);
    if (p.stream) return streamChat(ctx, reply, p, entry.task, entry.id, sig);
    try {
      return await chatCompletions(ctx, p, entry.task, entry.id, sig.signal);
    } finally {
      sig.done();
    }
  });

  app.post('/v1/completions', async (req: FastifyRequest, reply: FastifyReply) => {
    const p = parseCompletion(req.body, limits);
    checkCompletionLimits(p, requestLimits);
    const entry = lookup(p.model);
    const sig = requestSignal(reply);
    if (p.stream) return streamCompletions(ctx, reply, p, entry.task, entry.id, sig);
    try {
      return await completions(ctx, p, entry.task, entry.id, sig.signal);
    } finally {
      sig.done();
    }
  });

  app.post('/v1/classify', async (req: FastifyRequest, reply: FastifyReply) => {
    const p = parseClassify(req.body);
    checkClassifyLimits(p, requestLimits);
    const entry = lookup(p.model);
    if (entry.task === null && (p.verbalizer === undefined || p.template === undefined)) {
      throw new ApiError(
        400,
        `the base model "${entry.id}" has no template or verbalizer of its own: give both template and verbalizer, or name an adapter`,
        p.verbalizer === undefined ? 'verbalizer' : 'template',
      );
    }
    const request: ClassifyRequest = {
      task: entry.task,
      input: p.input,
      ...(p.verbalizer !== undefined ? { verbalizer: p.verbalizer } : {}),
      ...(p.template !== undefined ? { template: p.template } : {}),
    };
    const { signal, done } = requestSignal(reply);
    try {
      const [r] = await scheduler.classify([request], signal);
      return { object: 'classification', model: entry.id, label: r!.label, scores: r!.scores };
    } finally {
      done();
    }
  });

  return app;
}

/** Maps any error to the status and body the client gets. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ApiError(400, `the request body is not valid JSON: ${fe.message}`, 'body', 'invalid_request_error', 'invalid_json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ApiError(400, 'the request body is empty; send a JSON object', 'body', 'invalid_request_error', 'invalid_json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, `the request body is too large: ${fe.message}; the server's --body-limit caps it`, 'body', 'invalid_request_error', 'body_too_large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, `unsupported content type: send the body as application/json (${fe.message})`, 'body', 'invalid_request_error', 'unsupported_media_type');
    default:
      break;
  }
  if (err instanceof SyntaxError && (fe.statusCode === 400 || /JSON/.test(err.message))) {
    return new ApiError(400, `the request body is not valid JSON: ${err.message}`, 'body', 'invalid_request_error', 'invalid_json');
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode, fe.message ?? 'bad request', null);
  }
  if (err instanceof ClientGoneError) return new ApiError(499, err.message, null, 'client_closed', 'client_closed');
  // The engine refusing a request's content (a prompt too long for the context, a task without a
  // verbalizer, ...) throws a SoftpromptError: that is the request's fault. ONNX Runtime and graph
  // failures are the server's (an allocation past memory, a bug): a 500 that keeps their
  // internals (shapes, allocator messages) in the server's log, out of the answer.
  if (err instanceof SoftpromptError && !isEngineFailure(err)) return new ApiError(400, err.message, null, 'invalid_request_error', 'rejected_by_model');
  return engineFailure();
}

/** Starts listening (127.0.0.1:8080 unless told otherwise); returns the base URL. */
export async function listen(app: FastifyInstance, opts: ListenOptions = {}): Promise<string> {
  const host = opts.host ?? DEFAULTS.host;
  await app.listen({ host, port: opts.port ?? DEFAULTS.port });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') return `http://${host}`;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}
