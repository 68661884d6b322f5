/**
 * The InferenceEngine (types.ts): one frozen model, many named tasks, each turned into a KV
 * prefix once at load. Requests from every call go into one queue; a worker takes up to
 * `maxBatchSize` of them at a time and runs them as one mixed-task batch (generator.ts), so
 * concurrent callers share batches. Classification uses evaluation's rank scoring (RankScorer:
 * summed log-probability of each verbalizer continuation, tokenized with the prompt), one
 * compiled scorer per method shape (kind, virtual tokens) shared by the tasks of that shape; an
 * example too long for one packed row is scored after its prompt's keys/values instead, in
 * slices that take a bounded share of the engine's time while generation is busy.
 */
import { host } from '../host.ts';
import { isValidAdapterName } from '../adapter/name.ts';
import { adapterPrompt } from '../adapter/prompt.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { loadAdapterDir } from '../adapter/load.ts';
import { loadModel } from '../pretrained/model.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { checkMemory } from '../models/memory.ts';
import { padIdOf } from '../data/collate.ts';
import { ExampleEncoder } from '../data/encode.ts';
import type { TaskPrompt } from '../data/encode.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { packCandidateRows, RankScorer } from '../eval/rank.ts';
import type { RankExample } from '../eval/rank.ts';
import { SoftpromptError } from '../errors.ts';
import { multitaskTaskPrompt } from '../methods/multitask.ts';
import { createMethod } from '../methods/factory.ts';
import { tensor } from '../tensor.ts';
import { chunkStream } from './chunk_stream.ts';
import { InferenceError } from './errors.ts';
import { Generator } from './generator.ts';
import type { RowSpec } from './generator.ts';
import type { TaskPrefix } from './kv.ts';
import { prefixFromTable } from './kv.ts';
import { PromptScorer, tokenOffsets } from './logprobs.ts';
import type { PromptLogprobs } from './logprobs.ts';
import { validateSampling } from './sampling.ts';
import { readTokenizerInfo } from './tokenizer_info.ts';
import type {
  ClassifyRequest,
  ClassifyResult,
  GenerateChunk,
  GenerateOptions,
  GenerateRequest,
  GenerateResult,
  InferenceEngine,
  Detokenized,
  DetokenizeOptions,
  ScoreRequest,
  TaskInfo,
  TokenizeOptions,
  TokenizerInfo,
} from './types.ts';

export interface EngineOptions {
  /** A loaded model, or its folder. */
  model: LoadedModel | string;
  /** Task name → adapter folder, or a folder whose sub-folders are adapters (named by the sub-folder). */
  adapters?: Readonly<Record<string, string>> | string;
  /** Adapters already loaded, by the same names (serve's registry): used instead of loading their folders again. */
  loaded?: Readonly<Record<string, LoadedAdapter>>;
  /** Rows per generation batch. Default 8. */
  maxBatchSize?: number;
  /** Upper bound on maxNewTokens of a request. Default 4096. */
  maxNewTokensLimit?: number;
  /** ORT intra-op threads. Default: all cores. */
  intraOpThreads?: number;
  /** Longest text field of a classification input, in characters. Default: the encoder's (200 000). */
  maxFieldChars?: number;
  /**
   * The most of the engine's time long classifications (more than one packed row, or inputs over 8
   * characters per position) take while generation is busy: 0 < share <= 1. Default 0.2.
   */
  backgroundShare?: number;
  /** An adapter that fails to load is an error (thrown once) instead of a warning and a skip. Default false. */
  strictAdapters?: boolean;
  /** Memory budget in bytes for the check before loading (default: the cgroup limit or free memory). */
  maxMemory?: number;
  /** Adapter warnings and adapters skipped because they failed to load. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

/** An adapter that did not load (the engine starts without it). */
export interface SkippedAdapter {
  readonly name: string;
  readonly dir: string;
  readonly message: string;
}

interface Task {
  readonly info: TaskInfo;
  readonly adapter: LoadedAdapter;
  readonly prefix: TaskPrefix;
  /** The task's recorded template and verbalizer (softprompt.json), classify's defaults. */
  readonly prompt: TaskPrompt;
}

interface Job {
  row: RowSpec;
  cancelled: boolean;
  resolve: (r: GenerateResult) => void;
  reject: (e: unknown) => void;
}

/** Per-call options the engine takes beyond the InferenceEngine interface. */
export interface CallOptions {
  signal?: AbortSignal;
}


/** The adapters of a folder: every sub-folder holding adapter_config.json, by name. */
export function adapterDirs(root: string): Record<string, string> {
  const dir = host().path.resolve(root);
  if (!host().fs.existsSync(dir) || !host().fs.statSync(dir).isDirectory()) throw new SoftpromptError(`adapters folder ${dir} does not exist or is not a folder`);
  const out: Record<string, string> = {};
  for (const name of host().fs.readdirSync(dir).sort()) {
    const p = host().path.join(dir, name);
    if (host().fs.statSync(p).isDirectory() && host().fs.existsSync(host().path.join(p, 'adapter_config.json'))) out[name] = p;
  }
  return out;
}

export class Engine implements InferenceEngine {
  readonly baseModel: string;
  readonly model: LoadedModel;
  readonly generator: Generator;
  /** Adapters that failed to load or had an invalid name. */
  readonly skipped: readonly SkippedAdapter[];
  readonly maxBatchSize: number;
  readonly maxNewTokensLimit: number;
  readonly #tasks: ReadonlyMap<string, Task>;
  readonly #scorers = new Map<string, Promise<RankScorer>>();
  #promptScorer: Promise<PromptScorer> | null = null;
  readonly tokenizerInfo: TokenizerInfo;
  readonly #intraOpThreads: number | undefined;
  readonly #maxFieldChars: number | undefined;
  readonly #pending: Job[] = [];
  #pumping = false;
  /** Callers queued for the sessions (a running generation batch stops admitting rows while > 0). */
  #waiting = 0;
  #lock: Promise<unknown> = Promise.resolve();
  /** Background turns, one at a time (#background); the earliest the next may start while generation is busy. */
  #backgroundLock: Promise<unknown> = Promise.resolve();
  #backgroundNext = 0;
  #lastBatch = -Infinity;
  readonly #backgroundShare: number;
  #closed = false;

  constructor(model: LoadedModel, generator: Generator, tasks: Map<string, Task>, skipped: SkippedAdapter[], opts: EngineOptions) {
    this.model = model;
    this.baseModel = host().path.basename(model.dir);
    this.generator = generator;
    this.#tasks = tasks;
    this.skipped = skipped;
    this.maxBatchSize = opts.maxBatchSize ?? 8;
    this.maxNewTokensLimit = opts.maxNewTokensLimit ?? 4096;
    this.#intraOpThreads = opts.intraOpThreads;
    this.#maxFieldChars = opts.maxFieldChars;
    const share = opts.backgroundShare ?? 0.2;
    if (!(share > 0 && share <= 1)) throw new RangeError(`backgroundShare must be in (0, 1], got ${share}`);
    this.#backgroundShare = share;
    this.tokenizerInfo = readTokenizerInfo(model.dir, model.tokenizer, model.config.maxPositions);
  }

  tasks(): TaskInfo[] {
    return [...this.#tasks.values()].map((t) => ({ ...t.info }));
  }

  #task(name: string | null, field = 'task'): Task | null {
    if (name === null) return null;
    const t = typeof name === 'string' ? this.#tasks.get(name) : undefined;
    if (!t) {
      const known = [...this.#tasks.keys()];
      throw new InferenceError(`unknown task ${JSON.stringify(name)}; loaded: ${known.length ? known.join(', ') : '(none)'} (null for the base model)`, field);
    }
    return t;
  }

  /**
   * Long background work (a long classification's encoding, prefill and scoring slices) takes
   * turns one at a time, and while generation is busy (a batch ran in the last second) it gets at
   * most `backgroundShare` of the time: after a turn of d ms the next starts no sooner than
   * d·(1/share − 1) ms later. A stream of near-limit requests then slows down itself, not the
   * generation clients; alone, it runs at full speed.
   */
  #background<T>(fn: () => T | Promise<T>, sessions: boolean): Promise<T> {
    const turn = async (): Promise<T> => {
      const wait = this.#backgroundNext - performance.now();
      if (wait > 0 && (this.#pumping || performance.now() - this.#lastBatch < 1000)) await new Promise((r) => setTimeout(r, wait));
      const t0 = performance.now();
      try {
        return await (sessions ? this.#exclusive(async () => fn()) : fn());
      } finally {
        const end = performance.now();
        this.#backgroundNext = end + (end - t0) * (1 / this.#backgroundShare - 1);
      }
    };
    const run = this.#backgroundLock.then(turn, turn);
    this.#backgroundLock = run.catch(() => undefined);
    return run;
  }

  /** Runs `fn` with the ORT sessions to itself (generation batches and classification take turns). */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#waiting++;
    const start = (): Promise<T> => {
      this.#waiting--;
      return fn();
    };
    const run = this.#lock.then(start, start);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** A prompt's ids: text tokenized (BOS as the tokenizer adds it), or token ids checked and used as given. */
  #promptIds(prompt: string | readonly number[]): number[] {
    const tok = this.model.tokenizer;
    if (typeof prompt !== 'string') {
      if (!Array.isArray(prompt)) throw new InferenceError('prompt must be a string or an array of token ids', 'prompt');
      const V = this.model.config.vocabSize;
      prompt.forEach((id: unknown, i) => {
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= V) {
          throw new InferenceError(`prompt[${i}] is ${JSON.stringify(id)}, not a token id (an integer from 0 to ${V - 1})`, 'prompt');
        }
      });
      if (prompt.length === 0) throw new InferenceError('prompt must not be an empty array of token ids', 'prompt');
      return [...prompt];
    }
    let ids = tok.encode(prompt);
    if (ids.length === 0) {
      const start = tok.bosTokenId ?? tok.eosTokenId;
      if (start === undefined) throw new InferenceError('prompt is empty and the tokenizer has no BOS or EOS token to start from', 'prompt');
      ids = [start];
    }
    return ids;
  }

  /** Tokenizes and checks a request; throws InferenceError naming the field. */
  #row(r: GenerateRequest, onChunk?: (c: GenerateChunk) => void): RowSpec {
    if (this.#closed) throw new InferenceError('the engine is closed');
    validateSampling(r, this.maxNewTokensLimit);
    const task = this.#task(r.task);
    const ids = this.#promptIds(r.prompt);
    const n = task?.prefix.n ?? 0;
    const max = this.model.config.maxPositions;
    if (n + ids.length >= max) {
      throw new InferenceError(
        `prompt is ${ids.length} tokens; with ${n} virtual tokens it leaves no room in the model's ${max} positions`,
        'prompt',
      );
    }
    return { promptIds: ids, prefix: task?.prefix ?? null, options: { ...r, stop: r.stop ? [...r.stop] : [] }, ...(onChunk ? { onChunk } : {}) };
  }

  /**
   * Beyond the interface: `signal` aborts the call (its promise rejects with an InferenceError at
   * once; rows already running leave their batch at the next token). `signals` abandon single
   * requests (see InferenceEngine.generate).
   */
  generate(requests: readonly GenerateRequest[], options?: CallOptions): Promise<GenerateResult[]>;
  generate(requests: readonly GenerateRequest[], options: CallOptions & GenerateOptions): Promise<(GenerateResult | null)[]>;
  async generate(requests: readonly GenerateRequest[], options: CallOptions & GenerateOptions = {}): Promise<(GenerateResult | null)[]> {
    if (options.signal?.aborted) throw new InferenceError('aborted');
    // One listener per row goes on the call's signal: many prompts are not a leak.
    if (options.signal && requests.length > 5) host().events.setMaxListeners(2 * requests.length + 10, options.signal);
    const rows = requests.map((r, i) => {
      try {
        return this.#row(r);
      } catch (e) {
        if (e instanceof InferenceError && requests.length > 1) throw new InferenceError(`request ${i}: ${e.message}`, e.field);
        throw e;
      }
    });
    return Promise.all(
      rows.map((row, i) => {
        const own = options.signals?.[i];
        if (!own) return this.#enqueue(row, options.signal);
        // A request abandoned by its own signal leaves the batch and answers null; the others go on.
        const either = new AbortController();
        const forward = (s: AbortSignal | undefined): void => {
          if (s?.aborted) either.abort();
          else s?.addEventListener('abort', () => either.abort(), { once: true });
        };
        forward(own);
        forward(options.signal);
        return this.#enqueue(row, either.signal).catch((e: unknown) => {
          if (own.aborted && !options.signal?.aborted) return null;
          throw e;
        });
      }),
    );
  }

  #enqueue(row: RowSpec, signal?: AbortSignal): Promise<GenerateResult> {
    return new Promise<GenerateResult>((res, rej) => {
      if (signal?.aborted) return rej(new InferenceError('aborted')); // an abort listener would never fire
      const job: Job = { row, cancelled: false, resolve: res, reject: rej };
      job.row = { ...row, cancelled: () => job.cancelled };
      if (signal) {
        const onAbort = (): void => {
          job.cancelled = true;
          rej(new InferenceError('aborted'));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const done = (): void => signal.removeEventListener('abort', onAbort);
        job.resolve = (r) => (done(), res(r));
        job.reject = (e) => (done(), rej(e));
      }
      this.#pending.push(job);
      if (!this.#pumping) {
        this.#pumping = true;
        // Let callers in the same turn of the event loop join the first batch.
        setImmediate(() => void this.#pump());
      }
    });
  }

  /** The queued rows to run next (cancelled ones dropped), each resolving its job when done. */
  #takeJobs(room: number, running: Set<Job>): RowSpec[] {
    const rows: RowSpec[] = [];
    while (rows.length < room && this.#pending.length > 0) {
      const job = this.#pending.shift()!;
      if (job.cancelled) continue;
      running.add(job);
      rows.push({
        ...job.row,
        onDone: (r) => {
          running.delete(job);
          job.resolve(r);
        },
      });
    }
    return rows;
  }

  async #pump(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const running = new Set<Job>();
        const rows = this.#takeJobs(this.maxBatchSize, running);
        if (rows.length === 0) continue;
        try {
          // Requests that arrive while this batch decodes join it (unless classification waits for the sessions).
          await this.#exclusive(() =>
            this.generator.run(rows, { maxBatch: this.maxBatchSize, admit: (room) => (this.#waiting > 0 ? [] : this.#takeJobs(room, running)) }),
          );
        } catch (e) {
          for (const j of running) j.reject(e);
        }
        this.#lastBatch = performance.now();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Beyond the interface: `signal` aborts; leaving the loop early (break) also drops the row. */
  generateStream(request: GenerateRequest, options: CallOptions = {}): AsyncIterable<GenerateChunk> {
    const stop = new AbortController();
    options.signal?.addEventListener('abort', () => stop.abort(), { once: true });
    // A bad request throws inside chunkStream: the reader gets the error on its first read.
    return chunkStream<GenerateChunk>((push) => this.#enqueue(this.#row(request, push), stop.signal), () => stop.abort());
  }

  #scorer(task: Task | null, softSlots: boolean): Promise<RankScorer> {
    const method = task?.adapter.method ?? null;
    const key = method ? `${method.kind}:${method.numVirtualTokens}${softSlots ? ':slots' : ''}` : 'base';
    let s = this.#scorers.get(key);
    if (!s) {
      s = RankScorer.create(this.model.config, this.model.weights, method, {
        batchRows: 64,
        padId: padIdOf(this.model.tokenizer),
        softSlots,
        ...(this.#intraOpThreads !== undefined ? { intraOpThreads: this.#intraOpThreads } : {}),
      });
      this.#scorers.set(key, s);
      s.catch(() => this.#scorers.delete(key));
    }
    return s;
  }

  /** The rank example and label list of one classification request (eval's encoding). */
  #encodeClassify(r: ClassifyRequest, task: Task | null, index: number): { example: RankExample; labels: readonly string[] } {
    const recorded = task?.prompt;
    const where = task ? `task ${task.info.name}` : 'the base model';
    let template: Template;
    if (r.template !== undefined) {
      if (typeof r.template !== 'string') throw new InferenceError('template must be a string', 'template');
      template = new Template(r.template, { source: 'request' });
    } else if (recorded?.template) {
      template = recorded.template;
    } else throw new InferenceError(`${where} has no template (softprompt.json); pass one in the request`, 'template');
    let verbalizer: Verbalizer;
    if (r.verbalizer !== undefined) verbalizer = new Verbalizer(r.verbalizer as Record<string, string>, 'request');
    else if (recorded?.verbalizer) verbalizer = recorded.verbalizer;
    else throw new InferenceError(`${where} has no verbalizer (softprompt.json); pass one in the request`, 'verbalizer');
    let record: Record<string, string>;
    if (typeof r.input === 'string') record = { [template.fields.length === 1 ? template.fields[0]! : 'text']: r.input };
    else if (r.input !== null && typeof r.input === 'object' && !Array.isArray(r.input)) record = { ...r.input };
    else throw new InferenceError('input must be a string or an object of template fields', 'input');
    for (const f of template.fields) {
      if (typeof record[f] !== 'string') throw new InferenceError(`input has no string field "${f}" that the template needs`, 'input');
    }
    const n = task?.prefix.n ?? 0;
    if (template.softTokens > 0) {
      if (!task || task.adapter.method.kind === 'prefix_tuning' || template.softTokens !== task.adapter.method.numVirtualTokens) {
        throw new InferenceError(
          `the template's {soft:N} slots hold ${template.softTokens} virtual tokens, but ${task ? `task ${task.info.name} (${task.info.method}) has ${task.adapter.method.kind === 'prefix_tuning' ? 'a key/value prefix, no input tokens' : `${task.adapter.method.numVirtualTokens}`}` : 'the base model has none'}`,
          'template',
        );
      }
    }
    const encoder = new ExampleEncoder({
      template,
      verbalizer,
      tokenizer: this.model.tokenizer,
      maxLength: this.model.config.maxPositions - n,
      allowUnlabelled: true,
      labelField: '\u0000no-label',
      ...(this.#maxFieldChars !== undefined ? { maxFieldChars: this.#maxFieldChars } : {}),
    });
    const e = encoder.encode({ ...record, __line: index + 1 });
    return { example: { promptIds: e.promptIds, candidates: e.candidates, ...(e.softAt ? { softAt: e.softAt } : {}) }, labels: verbalizer.labels };
  }

  /**
   * Beyond the interface's first form: with `signals`, request i stops once `signals[i]` aborts (at
   * its next encoding or scoring step, so a request past the server's timeout frees the sessions)
   * and its entry is null. Long examples are encoded and scored in slices, each a background turn
   * (#background), so generation batches run in between and keep most of the time.
   */
  classify(requests: readonly ClassifyRequest[]): Promise<ClassifyResult[]>;
  classify(requests: readonly ClassifyRequest[], options: GenerateOptions): Promise<(ClassifyResult | null)[]>;
  async classify(requests: readonly ClassifyRequest[], options: GenerateOptions = {}): Promise<(ClassifyResult | null)[]> {
    if (this.#closed) throw new InferenceError('the engine is closed');
    const aborted = (i: number): boolean => options.signals?.[i]?.aborted === true;
    const encoded: ({ task: Task | null; example: RankExample; labels: readonly string[] } | null)[] = [];
    for (const [i, r] of requests.entries()) {
      // A turn of the event loop between requests lets an abort arrive (the worker's port). A long
      // input's encoding (it holds this thread for a while) waits for generation as a slice does.
      if (i > 0) await new Promise<void>((res) => setImmediate(res));
      if (aborted(i)) {
        encoded.push(null);
        continue;
      }
      try {
        const task = this.#task(r.task);
        const encode = (): { example: RankExample; labels: readonly string[] } | null => (aborted(i) ? null : this.#encodeClassify(r, task, i));
        const e = isLong(r, this.model.config.maxPositions) ? await this.#background(encode, false) : encode();
        encoded.push(e && { task, ...e });
      } catch (e) {
        if (e instanceof SoftpromptError && requests.length > 1) {
          throw new InferenceError(`request ${i}: ${e.message}`, e instanceof InferenceError ? e.field : undefined);
        }
        if (e instanceof SoftpromptError && !(e instanceof InferenceError)) throw new InferenceError(e.message);
        throw e;
      }
    }
    const results: (ClassifyResult | null)[] = new Array<ClassifyResult | null>(requests.length).fill(null);
    const answer = (i: number, scores: readonly number[]): void => {
      const labels = encoded[i]!.labels;
      let best = 0;
      scores.forEach((x, j) => (x > scores[best]! ? (best = j) : 0));
      results[i] = { label: labels[best]!, scores: Object.fromEntries(labels.map((l, j) => [l, scores[j]!])) };
    };
    const groups = new Map<string, number[]>();
    encoded.forEach((e, i) => {
      if (!e) return;
      if (this.#byPrefix(e.task, e.example)) return; // scored on its own below
      const k = `${e.task?.info.name ?? ''}${e.example.softAt ? '\u0000slots' : ''}`;
      groups.set(k, [...(groups.get(k) ?? []), i]);
    });
    for (const all of groups.values()) {
      const idx = all.filter((i) => !aborted(i));
      if (idx.length === 0) continue;
      const { task, example } = encoded[idx[0]!]!;
      const scorer = await this.#scorer(task, example.softAt !== undefined);
      // The group stops when every request in it has been abandoned.
      const stop = new AbortController();
      const check = (): void => void (idx.every(aborted) && stop.abort());
      for (const i of idx) options.signals?.[i]?.addEventListener('abort', check, { once: true });
      try {
        const r = await this.#exclusive(() => scorer.score(idx.map((i) => encoded[i]!.example), task?.adapter.params, { signal: stop.signal }));
        idx.forEach((i, k) => answer(i, r.scores[k]!));
      } catch (e) {
        if (!stop.signal.aborted) throw e;
      } finally {
        for (const i of idx) options.signals?.[i]?.removeEventListener('abort', check);
      }
    }
    for (const [i, e] of encoded.entries()) {
      if (!e || !this.#byPrefix(e.task, e.example) || aborted(i)) continue;
      const scores = await this.#scoreByPrefix(e.task, e.example, options.signals?.[i]);
      if (scores) answer(i, scores);
    }
    return results;
  }

  /**
   * Whether an example is scored after its prompt's keys/values (computed once) instead of packed
   * rows that each hold the prompt again: when its candidates need more than one packed row (a
   * long prompt, many labels), for the base model and tasks whose prefix is a run of virtual tokens.
   */
  #byPrefix(task: Task | null, ex: RankExample): boolean {
    if (ex.softAt !== undefined || task?.adapter.method.kind === 'prefix_tuning' || ex.promptIds.length < 2) return false;
    const limit = this.model.config.maxPositions - (task?.prefix.n ?? 0);
    return packCandidateRows(ex.promptIds.length, ex.candidates.map((c) => c.length), limit).length > 1;
  }

  /** Candidates per slice of a prefix-scored example (each slice is one turn at the sessions). */
  static readonly PREFIX_SLICE = 32;

  /** Scores of one example's candidates after its prompt's keys/values; null once `signal` aborts. */
  async #scoreByPrefix(task: Task | null, ex: RankExample, signal: AbortSignal | undefined): Promise<number[] | null> {
    const scorer = await this.#getPromptScorer();
    const prompt = ex.promptIds;
    // A turn may wait; an abort that comes meanwhile stops before the turn's work.
    const prefix = await this.#background(() => (signal?.aborted ? null : this.generator.extendPrefix(task?.prefix ?? null, prompt.slice(0, -1))), true);
    if (prefix === null) return null;
    const scores: number[] = [];
    for (let start = 0; start < ex.candidates.length; start += Engine.PREFIX_SLICE) {
      const slice = ex.candidates.slice(start, start + Engine.PREFIX_SLICE);
      const part = await this.#background(() => (signal?.aborted ? null : scorer.continuations(prefix, prompt.at(-1)!, slice, { padId: padIdOf(this.model.tokenizer) })), true);
      if (part === null) return null;
      scores.push(...part);
    }
    return scores;
  }

  #getPromptScorer(): Promise<PromptScorer> {
    if (!this.#promptScorer) {
      this.#promptScorer = PromptScorer.create(this.model.config, this.model.weights, {
        ...(this.#intraOpThreads !== undefined ? { intraOpThreads: this.#intraOpThreads } : {}),
      });
      this.#promptScorer.catch(() => (this.#promptScorer = null));
    }
    return this.#promptScorer;
  }

  /** Beyond the interface: an aborted `signal` stops before the next prompt (InferenceError). */
  async score(requests: readonly ScoreRequest[], options: CallOptions = {}): Promise<PromptLogprobs[]> {
    if (this.#closed) throw new InferenceError('the engine is closed');
    const rows = requests.map((r, i) => {
      try {
        const task = this.#task(r.task);
        const ids = this.#promptIds(r.prompt);
        const n = task?.prefix.n ?? 0;
        const max = this.model.config.maxPositions;
        if (n + ids.length > max) throw new InferenceError(`prompt is ${ids.length} tokens; with ${n} virtual tokens it is longer than the model's ${max} positions`, 'prompt');
        return { ids, prefix: task?.prefix ?? null, topK: r.topK };
      } catch (e) {
        if (e instanceof InferenceError && requests.length > 1) throw new InferenceError(`request ${i}: ${e.message}`, e.field);
        throw e;
      }
    });
    const scorer = await this.#getPromptScorer();
    const out: PromptLogprobs[] = [];
    // One prompt per turn at the sessions, so generation goes on in between and an abort stops here.
    for (const r of rows) {
      if (options.signal?.aborted) throw new InferenceError('aborted');
      out.push(await this.#exclusive(() => scorer.score(r.ids, r.prefix, r.topK)));
    }
    return out;
  }

  async tokenize(text: string, options: TokenizeOptions = {}): Promise<number[]> {
    if (typeof text !== 'string') throw new InferenceError('text must be a string', 'prompt');
    return this.model.tokenizer.encode(text, { addSpecialTokens: options.addSpecialTokens ?? true });
  }

  async detokenize(ids: readonly number[], options: DetokenizeOptions = {}): Promise<Detokenized> {
    const V = this.model.config.vocabSize;
    const check = (list: readonly number[], what: string): void =>
      list.forEach((id, i) => {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new InferenceError(`${what}[${i}] is ${JSON.stringify(id)}, not a token id (an integer from 0 to ${V - 1})`, what);
      });
    check(ids, 'tokens');
    check(options.context ?? [], 'context');
    const skip = options.skipSpecialTokens ?? false;
    const r = tokenOffsets((x) => this.model.tokenizer.decode([...x], { skipSpecialTokens: skip }), ids, options.context ?? [], options.alternatives);
    return { text: r.text, tokens: r.pieces, offsets: r.offsets, alternatives: r.alternatives };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Queued requests are refused; a batch already running finishes first (close waits for it).
    for (const j of this.#pending.splice(0)) j.reject(new InferenceError('the engine is closed'));
    await this.#exclusive(async () => {
      for (const s of this.#scorers.values()) await (await s.catch(() => null))?.release();
      this.#scorers.clear();
      await (await this.#promptScorer?.catch(() => null))?.release();
      await this.generator.release();
    });
  }
}

/** Whether a classification input is long enough that its encoding is background work (over 8 characters per position). */
function isLong(r: ClassifyRequest, maxPositions: number): boolean {
  const limit = 8 * maxPositions;
  if (typeof r.input === 'string') return r.input.length > limit;
  if (r.input === null || typeof r.input !== 'object') return false;
  let n = 0;
  for (const v of Object.values(r.input)) if (typeof v === 'string') n += v.length;
  return n > limit;
}

const promptOf = (template: Template | undefined, verbalizer: Verbalizer | undefined): TaskPrompt => ({ ...(template ? { template } : {}), ...(verbalizer ? { verbalizer } : {}) });

/** Loads the model and every adapter, compiles the step graph and computes each task's KV prefix. */
export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
  const model = typeof opts.model === 'string' ? await loadModel(opts.model) : opts.model;
  // A batch of full-context rows (capped at 1024 positions) must fit, or the engine is refused now.
  checkMemory({
    config: model.config, weights: model.weights, batch: opts.maxBatchSize ?? 8, seq: Math.min(model.config.maxPositions, 1024),
    training: false, maxMemory: opts.maxMemory, what: 'the inference engine',
  });
  const dirs = opts.adapters === undefined ? {} : typeof opts.adapters === 'string' ? adapterDirs(opts.adapters) : opts.adapters;
  const skipped: SkippedAdapter[] = [];
  const loaded: [string, LoadedAdapter, TaskPrompt][] = [];
  const slottedNames = new Set<string>();
  for (const [name, dir] of Object.entries(dirs)) {
    if (!isValidAdapterName(name)) {
      const message = `invalid task name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', starting with a letter or digit`;
      skipped.push({ name, dir, message });
      warn(`adapter ${dir} skipped: ${message}`);
      continue;
    }
    try {
      const adapter = opts.loaded?.[name] ?? loadAdapterDir(dir, model, (m) => warn(`adapter ${name}: ${m}`));
      const recorded = adapterPrompt(adapter);
      const slotted = (recorded.template?.softTokens ?? 0) > 0;
      if (slotted) slottedNames.add(name);
      if (slotted) {
        warn(`adapter ${name}: its template places the virtual tokens at {soft:N} slots; classify puts them there, but completions, chat and echo log-probabilities put them before the prompt (raw text has no slots), so their scores differ from eval's`);
      }
      if (adapter.method.numTasks !== undefined) {
        // A multitask adapter serves each of its tasks as plain prompt tuning with that task's prompt.
        const names = adapter.tasks ?? Array.from({ length: adapter.method.numTasks }, (_, i) => String(i));
        names.forEach((t, i) => {
          const taskName = `${name}.${t}`;
          if (!isValidAdapterName(taskName)) {
            const message = `invalid task name ${JSON.stringify(taskName)} for task ${i} of a multitask adapter: task names use letters, digits, '.', '_' and '-'`;
            skipped.push({ name: taskName, dir, message });
            warn(`adapter ${dir}: ${message}`);
            return;
          }
          const p = multitaskTaskPrompt(adapter.params, i);
          const prompt = tensor('float32', p.shape, Float32Array.from(p.data));
          // The task's own template/verbalizer (per-task prompts) become its defaults for classify.
          const own = recorded.taskPrompts.get(t);
          const taskPrompt = promptOf(own?.template ?? recorded.template, own?.verbalizer ?? recorded.verbalizer);
          loaded.push([taskName, { ...adapter, method: createMethod(model.config, { peftType: 'PROMPT_TUNING', numVirtualTokens: adapter.method.numVirtualTokens }), params: { prompt_embeddings: prompt } }, taskPrompt]);
        });
      } else loaded.push([name, adapter, promptOf(recorded.template, recorded.verbalizer)]);
    } catch (e) {
      if (opts.strictAdapters) throw e;
      const message = e instanceof Error ? e.message : String(e);
      skipped.push({ name, dir, message });
      warn(`adapter ${name} (${dir}) skipped: ${message}`);
    }
  }
  const generator = await Generator.create(model.config, model.weights, model.tokenizer, {
    padId: padIdOf(model.tokenizer),
    ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
  });
  const soft = loaded.filter(([, a]) => a.method.kind !== 'prefix_tuning');
  const softPrefixes = await generator.promptPrefixes(soft.map(([, a]) => a.params['prompt_embeddings']!));
  const tasks = new Map<string, Task>();
  for (const [name, adapter, prompt] of loaded) {
    const i = soft.findIndex(([n]) => n === name);
    const prefix = i >= 0 ? softPrefixes[i]! : prefixFromTable(model.config, adapter.params['prompt_embeddings']!);
    const method = adapter.peftType === 'P_TUNING' ? 'p_tuning' : adapter.peftType === 'MULTITASK_PROMPT_TUNING' ? 'multitask_prompt_tuning' : adapter.method.kind;
    const slotted = slottedNames.has(name) || slottedNames.has(name.slice(0, name.lastIndexOf('.')));
    tasks.set(name, { info: { name, method, numVirtualTokens: adapter.method.numVirtualTokens, dir: adapter.dir, ...(slotted ? { slotted } : {}) }, adapter, prefix, prompt });
  }
  return new Engine(model, generator, tasks, skipped, opts);
}
