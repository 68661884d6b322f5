/**
 * The engine in a worker thread (issue 16). onnxruntime-node's `session.run()` runs synchronously
 * on the thread that calls it, so an in-process engine stalls every other request, /health
 * included, while a batch decodes. WorkerEngine implements InferenceEngine by proxying each call
 * to one worker (engine_worker.ts) that owns the real Engine, so all ORT sessions and the weights
 * they hold live once, there, and the calling thread's event loop stays free. Errors come back
 * as the same classes with the same messages and fields (wire_errors.ts); an AbortSignal aborts
 * across the port (onnxruntime-node starts each run from setImmediate, so the worker reads it between steps).
 */
import { Worker } from 'node:worker_threads';
import type { EngineOptions, SkippedAdapter } from '../infer/engine.ts';
import { chunkStream } from '../infer/chunk_stream.ts';
import { InferenceError } from '../infer/errors.ts';
import type {
  ClassifyRequest, ClassifyResult, Detokenized, DetokenizeOptions, GenerateChunk, GenerateOptions, GenerateRequest,
  GenerateResult, InferenceEngine, PromptLogprobs, ScoreRequest, TaskInfo, TokenizeOptions, TokenizerInfo,
} from '../infer/types.ts';
import { EngineWorkerError, fromWire } from '../infer/wire_errors.ts';
import type { WireError } from '../infer/wire_errors.ts';

/** createEngine's options that cross to the worker (plain data), plus where warnings go. */
export type WorkerEngineOptions = Omit<EngineOptions, 'model' | 'loaded'> & {
  /** The model's folder (the worker loads it; file-backed weights are read there, once). */
  model: string;
  /**
   * The adapters were loaded and their warnings reported already (serve's registry): the worker
   * loads them again without repeating those warnings.
   */
  adaptersReported?: boolean;
};

export type WorkerInit = Omit<WorkerEngineOptions, 'onWarning'>;

/** Per-call options beyond the interface, as Engine takes them. */
export interface WorkerCallOptions {
  signal?: AbortSignal;
}

export type WorkerMethod = 'score' | 'tokenize' | 'detokenize' | 'close';

export type ToWorker =
  | { op: 'generate'; id: number; requests: readonly GenerateRequest[]; rowSignals: boolean[] }
  | { op: 'classify'; id: number; requests: readonly ClassifyRequest[]; rowSignals: boolean[] }
  | { op: 'call'; id: number; method: WorkerMethod; args: unknown[] }
  | { op: 'stream'; id: number; request: GenerateRequest }
  /** Aborts call `id` (or only row `row` of a generate call). */
  | { op: 'abort'; id: number; row?: number };

export type FromWorker =
  | { kind: 'ready'; baseModel: string; tokenizerInfo: TokenizerInfo; tasks: TaskInfo[]; skipped: SkippedAdapter[] }
  | { kind: 'failed'; error: WireError }
  | { kind: 'warning'; message: string }
  | { kind: 'result'; id: number; value: unknown }
  | { kind: 'error'; id: number; error: WireError }
  | { kind: 'chunk'; id: number; chunk: GenerateChunk };

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
  onChunk?: (c: GenerateChunk) => void;
}

/**
 * Starts engine_worker: the compiled .js beside this file, or, running from source under tsx, the
 * .ts through a two-line bootstrap that registers tsx first (Node 20's workers do not run the
 * parent's --import hooks).
 */
function startWorker(workerData: WorkerInit): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./engine_worker.js', import.meta.url), { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./engine_worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData });
}

export class WorkerEngine implements InferenceEngine {
  readonly baseModel: string;
  readonly tokenizerInfo: TokenizerInfo;
  /** Adapters that failed to load or had an invalid name. */
  readonly skipped: readonly SkippedAdapter[];
  readonly #tasks: readonly TaskInfo[];
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #dead: Error | null = null;
  #closing: Promise<void> | null = null;
  /** True only while close() sends its own call. */
  #sendingClose = false;

  private constructor(worker: Worker, ready: Extract<FromWorker, { kind: 'ready' }>, onWarning: (m: string) => void) {
    this.#worker = worker;
    this.baseModel = ready.baseModel;
    this.tokenizerInfo = ready.tokenizerInfo;
    this.#tasks = ready.tasks;
    this.skipped = ready.skipped;
    worker.on('message', (m: FromWorker) => this.#receive(m, onWarning));
    worker.on('error', (e) => this.#fail(new EngineWorkerError(`the inference engine's worker failed: ${e.message}`)));
    worker.on('exit', (code) => this.#fail(new EngineWorkerError(`the inference engine's worker exited (code ${code})`)));
    // An idle engine does not keep the process alive (as the in-process one does not); a call in flight does.
    worker.unref();
  }

  /** Starts the worker, which loads the model and the adapters; resolves once it is ready. */
  static create(opts: WorkerEngineOptions): Promise<WorkerEngine> {
    const { onWarning, ...init } = opts;
    const warn = onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
    const worker = startWorker(init);
    return new Promise<WorkerEngine>((resolve, reject) => {
      const onMessage = (m: FromWorker): void => {
        if (m.kind === 'warning') return warn(m.message);
        cleanup();
        if (m.kind === 'ready') return resolve(new WorkerEngine(worker, m, warn));
        void worker.terminate();
        reject(m.kind === 'failed' ? fromWire(m.error) : new EngineWorkerError(`the inference engine's worker sent ${m.kind} before it was ready`));
      };
      const onError = (e: Error): void => (cleanup(), reject(new EngineWorkerError(`the inference engine's worker failed to start: ${e.message}`)));
      const onExit = (code: number): void => (cleanup(), reject(new EngineWorkerError(`the inference engine's worker exited (code ${code}) before it was ready`)));
      const cleanup = (): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit);
      };
      worker.on('message', onMessage).on('error', onError).on('exit', onExit);
    });
  }

  #receive(m: FromWorker, warn: (m: string) => void): void {
    if (m.kind === 'warning') return warn(m.message);
    if (m.kind === 'ready' || m.kind === 'failed') return;
    const p = this.#pending.get(m.id);
    if (!p) return; // a call already abandoned on this side
    if (m.kind === 'chunk') return p.onChunk?.(m.chunk);
    this.#settle(m.id);
    if (m.kind === 'result') p.resolve(m.value);
    else p.reject(fromWire(m.error));
  }

  #settle(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) this.#worker.unref();
  }

  #fail(e: Error): void {
    const why = (this.#dead ??= e); // after close(): "the engine is closed"
    for (const [id, p] of [...this.#pending]) {
      this.#settle(id);
      p.reject(why);
    }
  }

  /** Sends `msg` (built for a fresh id) and resolves with the worker's answer. */
  #send<T>(msg: (id: number) => ToWorker, onChunk?: (c: GenerateChunk) => void): { id: number; result: Promise<T> } {
    const id = this.#nextId++;
    const result = new Promise<T>((resolve, reject) => {
      if (this.#dead) return reject(this.#dead);
      if (this.#closing && !this.#sendingClose) return reject(new InferenceError('the engine is closed'));
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(onChunk ? { onChunk } : {}) });
      this.#worker.ref();
      try {
        this.#worker.postMessage(msg(id));
      } catch (e) {
        // A request that cannot be cloned (a function, a symbol in it) never reaches the worker.
        this.#settle(id);
        reject(new InferenceError(`the request cannot be sent to the engine: ${e instanceof Error ? e.message : String(e)}`));
      }
    });
    return { id, result };
  }

  #call<T>(method: WorkerMethod, ...args: unknown[]): Promise<T> {
    return this.#send<T>((id) => ({ op: 'call', id, method, args })).result;
  }

  #abort(id: number, row?: number): void {
    if (this.#pending.has(id) && !this.#dead) this.#worker.postMessage({ op: 'abort', id, ...(row !== undefined ? { row } : {}) } satisfies ToWorker);
  }

  /** Why the worker can no longer serve (it exited or failed), or null; null after close() too. */
  failure(): string | null {
    return this.#dead instanceof EngineWorkerError ? this.#dead.message : null;
  }

  /** Ends the worker at once, as a crash would (calls fail with EngineWorkerError). */
  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  tasks(): TaskInfo[] {
    return this.#tasks.map((t) => ({ ...t }));
  }

  generate(requests: readonly GenerateRequest[], options?: WorkerCallOptions): Promise<GenerateResult[]>;
  generate(requests: readonly GenerateRequest[], options: WorkerCallOptions & GenerateOptions): Promise<(GenerateResult | null)[]>;
  generate(requests: readonly GenerateRequest[], options: WorkerCallOptions & GenerateOptions = {}): Promise<(GenerateResult | null)[]> {
    return this.#rows<GenerateResult>((id, rowSignals) => ({ op: 'generate', id, requests, rowSignals }), requests.length, options);
  }

  /** A generate or classify call whose rows each may have a signal (the worker aborts that row). */
  async #rows<T>(msg: (id: number, rowSignals: boolean[]) => ToWorker, n: number, options: WorkerCallOptions & GenerateOptions): Promise<(T | null)[]> {
    const { signal, signals } = options;
    if (signal?.aborted) throw new InferenceError('aborted');
    const rowSignals = Array.from({ length: n }, (_, i) => signals?.[i] !== undefined);
    const { id, result } = this.#send<(T | null)[]>((id) => msg(id, rowSignals));
    const undo: (() => void)[] = [];
    const on = (s: AbortSignal, f: () => void): void => {
      if (s.aborted) return f();
      s.addEventListener('abort', f, { once: true });
      undo.push(() => s.removeEventListener('abort', f));
    };
    signals?.forEach((s, i) => s && on(s, () => this.#abort(id, i)));
    try {
      if (!signal) return await result;
      // The whole call aborted: reject at once (as Engine does); its rows leave the batch in the worker.
      return await new Promise((resolve, reject) => {
        on(signal, () => {
          this.#abort(id);
          reject(new InferenceError('aborted'));
        });
        result.then(resolve, reject);
      });
    } finally {
      for (const f of undo) f();
    }
  }

  generateStream(request: GenerateRequest, options: WorkerCallOptions = {}): AsyncIterable<GenerateChunk> {
    let id = 0;
    const abort = (): void => this.#abort(id);
    const stream = chunkStream<GenerateChunk>((push) => {
      const sent = this.#send<void>((i) => ({ op: 'stream', id: i, request }), push);
      id = sent.id;
      return sent.result;
    }, abort);
    options.signal?.addEventListener('abort', abort, { once: true });
    return stream;
  }

  classify(requests: readonly ClassifyRequest[]): Promise<ClassifyResult[]>;
  classify(requests: readonly ClassifyRequest[], options: GenerateOptions): Promise<(ClassifyResult | null)[]>;
  classify(requests: readonly ClassifyRequest[], options: GenerateOptions = {}): Promise<(ClassifyResult | null)[]> {
    return this.#rows<ClassifyResult>((id, rowSignals) => ({ op: 'classify', id, requests, rowSignals }), requests.length, options);
  }

  async score(requests: readonly ScoreRequest[], options: WorkerCallOptions = {}): Promise<PromptLogprobs[]> {
    const { signal } = options;
    if (signal?.aborted) throw new InferenceError('aborted');
    const { id, result } = this.#send<PromptLogprobs[]>((id) => ({ op: 'call', id, method: 'score', args: [requests] }));
    // The worker stops before the next prompt; the caller is answered at once (as Engine's generate).
    const abort = (): void => this.#abort(id);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      return await result;
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  tokenize(text: string, options: TokenizeOptions = {}): Promise<number[]> {
    return this.#call('tokenize', text, options);
  }

  detokenize(ids: readonly number[], options: DetokenizeOptions = {}): Promise<Detokenized> {
    return this.#call('detokenize', ids, options);
  }

  /**
   * Closes the engine in the worker, then ends the worker. A running batch gets `graceMs` (default
   * 5 s) to finish; past that the worker is ended mid-run (the server has drained its requests by
   * then, and fastify gives a close hook 10 s).
   */
  close(graceMs = 5000): Promise<void> {
    return (this.#closing ??= (async () => {
      this.#sendingClose = true;
      const closed = this.#dead ? Promise.resolve() : this.#call<void>('close');
      this.#sendingClose = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([closed.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
      } finally {
        clearTimeout(timer);
        this.#dead ??= new InferenceError('the engine is closed');
        await this.#worker.terminate();
      }
    })());
  }
}

/** An engine whose model and ORT sessions live in a worker thread (see {@link WorkerEngine}). */
export function createWorkerEngine(opts: WorkerEngineOptions): Promise<WorkerEngine> {
  return WorkerEngine.create(opts);
}
