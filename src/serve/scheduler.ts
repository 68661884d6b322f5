/**
 * Dynamic batching in front of an {@link InferenceEngine}.
 *
 * Every prompt of every request becomes a job in one bounded FIFO queue. A batch is formed from
 * the queue when the oldest waiting job has waited `batchWindowMs`, or as soon as `maxBatch` jobs
 * of its kind (generate or classify) wait: one `engine.generate` (or `engine.classify`) call then
 * runs up to `maxBatch` jobs, whatever their task, so concurrent requests for different adapters
 * (and the base model) share one mixed-task batch. At most `concurrency` batches of each kind run at
 * once (a slow classification does not hold generation back).
 * Streaming requests wait in the same queue and each runs as its own `engine.generateStream`
 * (at most `maxStreams` at once).
 *
 * The queue holds at most `maxQueue` waiting jobs; a request that does not fit is refused whole
 * with {@link QueueFullError} (429 + Retry-After). Each submission carries an AbortSignal (the
 * per-request timeout, or the client going away): a waiting job is then taken out of the queue, a
 * running one is answered with the abort reason at once; a running generate job also stops decoding
 * (the engine gets each job's signal), and a classify job's result is dropped when the batch returns.
 *
 * When a batch fails and holds more than one job, its jobs are retried one by one, so one bad
 * request cannot fail the requests batched with it.
 */
import type {
  ClassifyRequest,
  ClassifyResult,
  GenerateChunk,
  GenerateRequest,
  GenerateResult,
  InferenceEngine,
} from '../infer/types.ts';
import { QueueFullError, ShuttingDownError } from './errors.ts';

export interface SchedulerOptions {
  /** Waiting jobs (prompts) the queue holds; beyond, requests get 429. */
  maxQueue: number;
  /** Jobs per engine call. */
  maxBatch: number;
  /** How long the oldest waiting job waits for others to join its batch. */
  batchWindowMs: number;
  /** Engine batches running at once, of each kind (generate, classify). */
  concurrency: number;
  /** Streams running at once. */
  maxStreams: number;
}

/** A running stream: read `iterator`, then call `release` exactly once (frees the slot). */
export interface StreamLease {
  readonly iterator: AsyncIterator<GenerateChunk>;
  release(): void;
}

type Kind = 'generate' | 'classify' | 'stream';

interface JobBase<K extends Kind, Req, Res> {
  readonly kind: K;
  readonly request: Req;
  readonly enqueuedAt: number;
  /** The submission's abort signal (timeout, client gone): a running generate job stops decoding. */
  readonly signal: AbortSignal | undefined;
  state: 'waiting' | 'running' | 'settled';
  resolve(value: Res): void;
  reject(error: unknown): void;
}
type GenerateJob = JobBase<'generate', GenerateRequest, GenerateResult>;
type ClassifyJob = JobBase<'classify', ClassifyRequest, ClassifyResult>;
type StreamJob = JobBase<'stream', GenerateRequest, StreamLease>;
type Job = GenerateJob | ClassifyJob | StreamJob;
type BatchJob = GenerateJob | ClassifyJob;

/** One engine call as the scheduler made it (for tests, /health and the load report). */
export interface BatchRecord {
  kind: 'generate' | 'classify';
  size: number;
  tasks: (string | null)[];
  ms: number;
}

export interface SchedulerStats {
  waiting: number;
  runningBatches: number;
  runningJobs: number;
  activeStreams: number;
  batches: number;
  jobsBatched: number;
  /** Mean jobs per engine call so far. */
  meanBatchSize: number;
  maxBatchSeen: number;
}

export class Scheduler {
  private readonly waiting: Job[] = [];
  private runningBatches = 0;
  private readonly runningOf = { generate: 0, classify: 0 };
  private runningJobs = 0;
  private activeStreams = 0;
  private windowTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private idleWaiters: (() => void)[] = [];
  /** Moving average of an engine call's duration, for Retry-After. */
  private avgBatchMs: number;
  private batches = 0;
  private jobsBatched = 0;
  private maxBatchSeen = 0;
  /** Called after every engine call (tests and logging). */
  onBatch: ((b: BatchRecord) => void) | undefined;

  constructor(private readonly engine: InferenceEngine, readonly options: SchedulerOptions) {
    for (const k of ['maxQueue', 'maxBatch', 'concurrency', 'maxStreams'] as const) {
      if (!Number.isInteger(options[k]) || options[k] < 1) throw new RangeError(`scheduler option ${k} must be an integer >= 1, got ${options[k]}`);
    }
    if (!(options.batchWindowMs >= 0)) throw new RangeError(`scheduler option batchWindowMs must be >= 0, got ${options.batchWindowMs}`);
    this.avgBatchMs = Math.max(200, options.batchWindowMs);
  }

  /** Generates one result per request (in order); all are queued together or none is. */
  generate(requests: readonly GenerateRequest[], signal?: AbortSignal): Promise<GenerateResult[]> {
    return this.submitAll('generate', requests, signal) as Promise<GenerateResult[]>;
  }

  classify(requests: readonly ClassifyRequest[], signal?: AbortSignal): Promise<ClassifyResult[]> {
    return this.submitAll('classify', requests, signal) as Promise<ClassifyResult[]>;
  }

  /** Waits for a stream slot, then starts the engine's stream. The caller must release the lease. */
  async openStream(request: GenerateRequest, signal?: AbortSignal): Promise<StreamLease> {
    const [lease] = (await this.submitAll('stream', [request], signal)) as StreamLease[];
    return lease!;
  }

  stats(): SchedulerStats {
    return {
      waiting: this.waiting.length,
      runningBatches: this.runningBatches,
      runningJobs: this.runningJobs,
      activeStreams: this.activeStreams,
      batches: this.batches,
      jobsBatched: this.jobsBatched,
      meanBatchSize: this.batches ? this.jobsBatched / this.batches : 0,
      maxBatchSeen: this.maxBatchSeen,
    };
  }

  /** Seconds a refused client should wait: the time to work through the queue, at least 1. */
  retryAfterSeconds(): number {
    const batchesAhead = Math.ceil(this.waiting.length / this.options.maxBatch / this.options.concurrency) + 1;
    return Math.max(1, Math.ceil((batchesAhead * this.avgBatchMs) / 1000));
  }

  /** Refuses new work from now on; queued and running work goes on (and is batched at once). */
  close(): void {
    this.closing = true;
    this.pump();
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Resolves when nothing waits and nothing runs (engine calls included, even abandoned ones). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((done) => this.idleWaiters.push(done));
  }

  private isIdle(): boolean {
    return this.waiting.length === 0 && this.runningBatches === 0 && this.activeStreams === 0;
  }

  private checkIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private submitAll(kind: Kind, requests: readonly unknown[], signal?: AbortSignal): Promise<unknown[]> {
    if (this.closing) return Promise.reject(new ShuttingDownError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { maxQueue } = this.options;
    if (this.waiting.length + requests.length > maxQueue) {
      return Promise.reject(new QueueFullError(this.retryAfterSeconds(), this.waiting.length, maxQueue));
    }
    const now = performance.now();
    const jobs: Job[] = [];
    const promises = requests.map(
      (request) =>
        new Promise<unknown>((resolve, reject) => {
          const job = { kind, request, enqueuedAt: now, signal, state: 'waiting', resolve, reject } as Job;
          jobs.push(job);
        }),
    );
    this.waiting.push(...jobs);
    const all = Promise.all(promises);
    if (signal) {
      const onAbort = (): void => {
        let removed = false;
        for (const job of jobs) {
          if (job.state === 'waiting') {
            const i = this.waiting.indexOf(job);
            if (i >= 0) this.waiting.splice(i, 1);
            removed = true;
          }
          if (job.state !== 'settled') {
            job.state = 'settled';
            job.reject(signal.reason);
          }
        }
        if (removed) this.checkIdle();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const detach = (): void => signal.removeEventListener('abort', onAbort);
      all.then(detach, detach);
    }
    // Promise.all rejects on the first failure; the others' rejections are handled here.
    for (const p of promises) p.catch(() => {});
    this.pump();
    return all;
  }

  private pump(): void {
    if (this.windowTimer !== undefined) {
      clearTimeout(this.windowTimer);
      this.windowTimer = undefined;
    }
    const o = this.options;
    while (this.activeStreams < o.maxStreams) {
      const i = this.waiting.findIndex((j) => j.kind === 'stream');
      if (i < 0) break;
      this.startStream(this.waiting.splice(i, 1)[0] as StreamJob);
    }
    // Each kind has its own `concurrency` slots: a long classification (a near-limit input) must
    // not hold generation batches back in this queue; the engine interleaves the two itself.
    let wake = Infinity;
    for (const kind of ['generate', 'classify'] as const) {
      while (this.runningOf[kind] < o.concurrency) {
        const same = this.waiting.filter((j) => j.kind === kind) as BatchJob[];
        const head = same[0];
        if (!head) break;
        const age = performance.now() - head.enqueuedAt;
        if (same.length < o.maxBatch && age < o.batchWindowMs && !this.closing) {
          wake = Math.min(wake, o.batchWindowMs - age);
          break;
        }
        const batch = same.slice(0, o.maxBatch);
        for (const job of batch) this.waiting.splice(this.waiting.indexOf(job), 1);
        void this.runBatch(batch);
      }
    }
    if (wake < Infinity) this.windowTimer = setTimeout(() => this.pump(), Math.max(1, Math.ceil(wake)));
    this.checkIdle();
  }

  private async runBatch(batch: BatchJob[]): Promise<void> {
    const kind = batch[0]!.kind;
    this.runningBatches++;
    this.runningOf[kind]++;
    this.runningJobs += batch.length;
    for (const job of batch) job.state = 'running';
    const t0 = performance.now();
    try {
      const results = await this.call(kind, batch);
      batch.forEach((job, i) => settle(job, results[i]));
    } catch (err) {
      if (batch.length === 1) {
        settleError(batch[0]!, err);
      } else {
        // One bad request must not fail the others: run them one by one (skipping abandoned ones).
        for (const job of batch) {
          if (job.state === 'settled') continue;
          try {
            const [r] = await this.call(kind, [job]);
            settle(job, r);
          } catch (e) {
            settleError(job, e);
          }
        }
      }
    } finally {
      const ms = performance.now() - t0;
      this.avgBatchMs = 0.8 * this.avgBatchMs + 0.2 * ms;
      this.batches++;
      this.jobsBatched += batch.length;
      this.maxBatchSeen = Math.max(this.maxBatchSeen, batch.length);
      this.runningBatches--;
      this.runningOf[kind]--;
      this.runningJobs -= batch.length;
      try {
        this.onBatch?.({ kind, size: batch.length, tasks: batch.map((j) => j.request.task), ms });
      } catch {
        // an observer's failure is not the requests'
      }
      this.pump();
    }
  }

  private async call(kind: 'generate' | 'classify', batch: BatchJob[]): Promise<unknown[]> {
    const requests = batch.map((j) => j.request);
    // Jobs carry their signals so an abandoned one stops decoding or scoring (its entry comes back
    // null and is dropped: the job was already answered with the abort reason).
    const results: unknown[] = kind === 'generate'
      ? await this.engine.generate(requests as GenerateRequest[], { signals: batch.map((j) => j.signal) })
      : await this.engine.classify(requests as ClassifyRequest[], { signals: batch.map((j) => j.signal) });
    if (!Array.isArray(results) || results.length !== batch.length) {
      throw new Error(`the engine returned ${Array.isArray(results) ? results.length : typeof results} results for a batch of ${batch.length}`);
    }
    return results;
  }

  private startStream(job: StreamJob): void {
    this.activeStreams++;
    job.state = 'running';
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.activeStreams--;
      this.pump();
    };
    let iterator: AsyncIterator<GenerateChunk>;
    try {
      iterator = this.engine.generateStream(job.request)[Symbol.asyncIterator]();
    } catch (err) {
      release();
      settleError(job, err);
      return;
    }
    if (job.state === 'running') {
      job.state = 'settled';
      job.resolve({ iterator, release });
    } else {
      // Aborted in between (cannot happen synchronously, but be safe): free the slot.
      void iterator.return?.().catch(() => {});
      release();
    }
  }
}

function settle(job: BatchJob, value: unknown): void {
  if (job.state === 'settled') return;
  job.state = 'settled';
  (job.resolve as (v: unknown) => void)(value);
}

function settleError(job: Job, err: unknown): void {
  if (job.state === 'settled') return;
  job.state = 'settled';
  job.reject(err);
}
