/**
 * A deterministic InferenceEngine for the server's tests and the load benchmark: it echoes each
 * request (task, prompt, max tokens) in its text, waits `delayMs` per call (and `tokenDelayMs`
 * per streamed token), and records every batch it was given.
 */
import { SoftpromptError } from '../../src/errors.ts';
import type {
  ClassifyRequest,
  ClassifyResult,
  GenerateChunk,
  GenerateRequest,
  GenerateResult,
  Detokenized,
  DetokenizeOptions,
  InferenceEngine,
  PromptLogprobs,
  ScoreRequest,
  TaskInfo,
  TokenizerInfo,
} from '../../src/infer/types.ts';

/** A prompt as the fake sees it: token ids are written out as "#id" words. */
const promptText = (p: string | readonly number[]): string => (typeof p === 'string' ? p : p.map((id) => `#${id}`).join(' '));

export interface FakeEngineOptions {
  baseModel?: string;
  tasks?: TaskInfo[];
  /** Per generate/classify call. */
  delayMs?: number;
  /** Per streamed chunk. */
  tokenDelayMs?: number;
  /** Per request in a batch (so bigger batches take a little longer, as on a real engine). */
  perRowMs?: number;
}

export const FAKE_TASKS: TaskInfo[] = [
  { name: 'sentiment', method: 'prompt_tuning', numVirtualTokens: 20, dir: '/adapters/sentiment' },
  { name: 'gender', method: 'p_tuning', numVirtualTokens: 8, dir: '/adapters/gender' },
  { name: 'prefix.v2', method: 'prefix_tuning', numVirtualTokens: 4, dir: '/adapters/prefix.v2' },
];

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((d) => setTimeout(d, ms)) : Promise.resolve());

/** Prompts holding this word make the engine throw (a SoftpromptError: the request's fault). */
export const POISON = '<<poison>>';
/** Prompts holding this word make the engine crash (a plain Error: a 500). */
export const CRASH = '<<crash>>';

export class FakeEngine implements InferenceEngine {
  readonly baseModel: string;
  readonly tokenizerInfo: TokenizerInfo = {
    bosToken: '<s>', eosToken: '</s>', eosTokenId: 2, chatTemplate: null, specialTokens: { '<s>': 1, '</s>': 2 }, generationEosIds: [], vocabSize: 100, maxPositions: 512,
  };
  readonly #tasks: TaskInfo[];
  delayMs: number;
  tokenDelayMs: number;
  perRowMs: number;
  /** Every generate call's requests, in call order. */
  readonly batches: GenerateRequest[][] = [];
  readonly classifyBatches: ClassifyRequest[][] = [];
  readonly streams: GenerateRequest[] = [];
  /** Streams whose iterator was returned early (client gone, timeout). */
  streamsCancelled = 0;
  /** Calls running now, and the most at once. */
  running = 0;
  maxRunning = 0;
  /** Calls finished (generate + classify). */
  finishedCalls = 0;
  closed = false;
  /** `running` when close() was called (must be 0 for a graceful shutdown). */
  runningAtClose = -1;

  constructor(opts: FakeEngineOptions = {}) {
    this.baseModel = opts.baseModel ?? 'tiny-base';
    this.#tasks = opts.tasks ?? FAKE_TASKS;
    this.delayMs = opts.delayMs ?? 0;
    this.tokenDelayMs = opts.tokenDelayMs ?? 0;
    this.perRowMs = opts.perRowMs ?? 0;
  }

  tasks(): TaskInfo[] {
    return this.#tasks.map((t) => ({ ...t }));
  }

  /** The text the fake answers `r` with (before stop strings). */
  static textOf(r: GenerateRequest): string {
    return ` [${r.task ?? 'base'}] ${promptText(r.prompt)} (${r.maxNewTokens})`;
  }

  static resultOf(r: GenerateRequest): GenerateResult {
    let text = FakeEngine.textOf(r);
    let finishReason: GenerateResult['finishReason'] = 'length';
    for (const s of r.stop ?? []) {
      const i = text.indexOf(s);
      if (i >= 0) {
        text = text.slice(0, i);
        finishReason = 'stop';
      }
    }
    return { text, ids: Array.from({ length: r.maxNewTokens }, (_, i) => i + 1), promptTokens: promptText(r.prompt).split(/\s+/).filter(Boolean).length + 1, finishReason };
  }

  private check(): void {
    if (this.closed) throw new Error('engine used after close()');
  }

  /** Per generate call, the per-request abort signals the scheduler passed. */
  readonly signals: (AbortSignal | undefined)[][] = [];

  async generate(requests: readonly GenerateRequest[], options?: { signals?: readonly (AbortSignal | undefined)[] }): Promise<GenerateResult[]> {
    this.check();
    this.batches.push(requests.map((r) => ({ ...r })));
    this.signals.push([...(options?.signals ?? [])]);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await sleep(this.delayMs + this.perRowMs * requests.length);
      if (requests.some((r) => promptText(r.prompt).includes(CRASH))) throw new Error('simulated engine crash');
      if (requests.some((r) => promptText(r.prompt).includes(POISON))) throw new SoftpromptError('prompt: simulated refusal (too long for the context)');
      return requests.map((r) => FakeEngine.resultOf(r));
    } finally {
      this.running--;
      this.finishedCalls++;
    }
  }

  generateStream(request: GenerateRequest): AsyncIterable<GenerateChunk> {
    this.check();
    this.streams.push({ ...request });
    const self = this;
    return {
      async *[Symbol.asyncIterator](): AsyncGenerator<GenerateChunk> {
        self.running++;
        let completed = false;
        try {
          const r = FakeEngine.resultOf(request);
          // One chunk per word, the finish reason on the last.
          const pieces = r.text.match(/\s*\S+/g) ?? [r.text];
          for (let i = 0; i < pieces.length; i++) {
            await sleep(self.tokenDelayMs);
            const last = i === pieces.length - 1;
            yield { text: pieces[i]!, ids: [i + 1], ...(last ? { finishReason: r.finishReason } : {}) };
          }
          completed = true;
        } finally {
          if (!completed) self.streamsCancelled++;
          self.running--;
        }
      },
    };
  }

  async classify(requests: readonly ClassifyRequest[]): Promise<ClassifyResult[]> {
    this.check();
    this.classifyBatches.push(requests.map((r) => ({ ...r })));
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await sleep(this.delayMs);
      return requests.map((r) => {
        const verbalizer = r.verbalizer ?? { positive: ' good', negative: ' bad' };
        const text = typeof r.input === 'string' ? r.input : Object.values(r.input).join(' ');
        const labels = Object.keys(verbalizer);
        // The label whose name occurs in the text wins; else the first.
        const hit = labels.find((l) => text.includes(l)) ?? labels[0]!;
        const scores = Object.fromEntries(labels.map((l) => [l, l === hit ? -0.5 : -2.5]));
        return { label: hit, scores };
      });
    } finally {
      this.running--;
      this.finishedCalls++;
    }
  }

  /** Word i of the prompt gets log-probability -i (the first null); no alternatives. */
  async score(requests: readonly ScoreRequest[]): Promise<PromptLogprobs[]> {
    this.check();
    return requests.map((r) => {
      const ids = typeof r.prompt === 'string' ? r.prompt.split(/\s+/).filter(Boolean).map((_, i) => i + 10) : [...r.prompt];
      return { ids, logprobs: ids.map((_, i) => (i === 0 ? null : -i)), top: ids.map((_, i) => (i === 0 ? null : [])) };
    });
  }

  async tokenize(text: string): Promise<number[]> {
    return text.split(/\s+/).filter(Boolean).map((_, i) => i + 10);
  }

  async detokenize(ids: readonly number[], options: DetokenizeOptions = {}): Promise<Detokenized> {
    const tokens = ids.map((id) => ` #${id}`);
    return {
      text: tokens.join(''),
      tokens,
      offsets: tokens.map((_, i) => tokens.slice(0, i).join('').length),
      alternatives: (options.alternatives ?? []).map((a) => a?.map((id) => ` #${id}`) ?? null),
    };
  }

  async close(): Promise<void> {
    this.runningAtClose = this.running;
    this.closed = true;
  }
}
