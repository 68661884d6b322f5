/**
 * Batched KV-cached generation over one compiled step graph (see graphs.ts and kv.ts):
 * a prefill of every row's prompt after its task prefix, then one decode step per new token
 * for the rows still running. Rows may carry different tasks (prefix lengths), no task, and
 * prompts of different lengths; each row's result equals the row run alone.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import type { CompiledSession } from '../runtime/backend.ts';
import { compileGraph } from '../runtime/session.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { buildPrefixGraph, buildStepGraph, newKey, newValue, pastKey, pastValue, PREFIX, presentKey, presentValue, STEP } from './graphs.ts';
import type { BatchCache, LayerKV, TaskPrefix } from './kv.ts';
import { prefillCache, prefillPast, prefixFromPresent } from './kv.ts';
import { rowLogprob } from './logprobs.ts';
import type { TokenLogprob } from './logprobs.ts';
import { Sampler } from './sampling.ts';
import { TextTracker } from './text.ts';
import type { FinishReason, GenerateChunk, GenerateResult, SamplingOptions } from './types.ts';

/** One row of a batch: already-tokenized prompt, its task's prefix (null: the base model) and settings. */
export interface RowSpec {
  readonly promptIds: readonly number[];
  readonly prefix: TaskPrefix | null;
  readonly options: SamplingOptions;
  /** Called with each piece of text as it becomes final, and once more with finishReason set. */
  readonly onChunk?: (chunk: GenerateChunk) => void;
  /** Polled before each token: true drops the row from the batch (its result is then partial). */
  readonly cancelled?: () => boolean;
  /** Called with the row's result as soon as it finishes (before the rest of the batch). */
  readonly onDone?: (result: GenerateResult) => void;
}

export interface GeneratorOptions {
  intraOpThreads?: number;
  /** Id written into padding slots (masked). Default 0. */
  padId?: number;
}

/** Timings of the last run (for the bench). */
export interface RunStats {
  prefillS: number;
  decodeS: number;
  decodeSteps: number;
  /** Sum over decode steps of the rows in the step. */
  decodeTokens: number;
  prefillTokens: number;
}

interface RowState {
  readonly spec: RowSpec;
  readonly sampler: Sampler;
  readonly tracker: TextTracker;
  readonly ids: number[];
  /** With options.logprobs: one entry per id. */
  readonly logprobs: TokenLogprob[] | null;
  /** EOS and the request's stop token ids. */
  readonly stopIds: ReadonlySet<number>;
  finish: FinishReason | null;
  last: number;
}

export class Generator {
  readonly config: ModelConfig;
  readonly tokenizer: Pick<Tokenizer, 'decode' | 'eosTokenId'>;
  readonly #weights: WeightStore;
  readonly #step: CompiledSession;
  readonly #opts: GeneratorOptions;
  lastStats: RunStats | null = null;

  private constructor(config: ModelConfig, weights: WeightStore, tokenizer: Pick<Tokenizer, 'decode' | 'eosTokenId'>, step: CompiledSession, opts: GeneratorOptions) {
    this.config = config;
    this.#weights = weights;
    this.tokenizer = tokenizer;
    this.#step = step;
    this.#opts = opts;
  }

  static async create(config: ModelConfig, weights: WeightStore, tokenizer: Pick<Tokenizer, 'decode' | 'eosTokenId'>, opts: GeneratorOptions = {}): Promise<Generator> {
    const step = await compileGraph(buildStepGraph(config, weights), {
      label: `${config.modelType} infer step`,
      ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
    });
    return new Generator(config, weights, tokenizer, step, opts);
  }

  /**
   * KV prefixes of prompt-tuning tasks: each [n, d] table of virtual tokens run through the model at
   * positions 0..n-1 (a temporary session, released afterwards).
   */
  async promptPrefixes(tables: readonly Tensor[]): Promise<TaskPrefix[]> {
    if (tables.length === 0) return [];
    const session = await compileGraph(buildPrefixGraph(this.config, this.#weights), {
      label: `${this.config.modelType} infer prefix`,
      heldWeights: true,
      ...(this.#opts.intraOpThreads !== undefined ? { intraOpThreads: this.#opts.intraOpThreads } : {}),
    });
    try {
      const out: TaskPrefix[] = [];
      for (const t of tables) {
        const [n, d] = t.shape as [number, number];
        const r = await session.run({
          [PREFIX.embeds]: tensor('float32', [1, n, d], Float32Array.from(t.data as Float32Array)),
          [PREFIX.positionIds]: tensor('int64', [1, n], BigInt64Array.from({ length: n }, (_, i) => BigInt(i))),
          [PREFIX.attentionMask]: tensor('int64', [1, n], new BigInt64Array(n).fill(1n)),
        });
        out.push(prefixFromPresent(n, Array.from({ length: this.config.numLayers }, (_, l) => ({ key: r[presentKey(l)]!, value: r[presentValue(l)]! }))));
      }
      return out;
    } finally {
      await session.release();
    }
  }

  /**
   * `prefix` followed by `ids` run through the model after it: a prefix of n + ids.length slots
   * whose continuations are scored without running the shared prompt again.
   */
  async extendPrefix(prefix: TaskPrefix | null, ids: readonly number[]): Promise<TaskPrefix> {
    const stats: RunStats = { prefillS: 0, decodeS: 0, decodeSteps: 0, decodeTokens: 0, prefillTokens: 0 };
    const { cache } = await this.#prefill([{ promptIds: ids, prefix }], stats);
    // One row, right-aligned: its n + T slots are the cache's columns 0..L-1.
    const { kvHeads: KVH, headDim: hd, capacity: C, length: L } = cache;
    const layers = cache.layers.map((kv) => {
      const out: LayerKV = { key: new Float32Array(KVH * L * hd), value: new Float32Array(KVH * L * hd) };
      for (const s of ['key', 'value'] as const) {
        for (let h = 0; h < KVH; h++) out[s].set(kv[s].subarray(h * C * hd, (h * C + L) * hd), h * L * hd);
      }
      return out;
    });
    return { n: L, layers };
  }

  /** Prefill of `rows`: logits of each row's last prompt position and the batch cache. */
  async #prefill(rows: readonly Pick<RowSpec, 'promptIds' | 'prefix'>[], stats: RunStats): Promise<{ logits: Float32Array; cache: BatchCache }> {
    const { config } = this;
    const padId = BigInt(this.#opts.padId ?? 0);
    const B = rows.length;
    // past = prefixes right-aligned in P slots, text left-aligned in S (pads after it).
    const prefixLens = rows.map((r) => r.prefix?.n ?? 0);
    const textLens = rows.map((r) => r.promptIds.length);
    const S = Math.max(...textLens);
    const { P, layers } = prefillPast(config, rows.map((r) => r.prefix));
    const ids = new BigInt64Array(B * S).fill(padId);
    const pos = new BigInt64Array(B * S);
    const mask = new BigInt64Array(B * (P + S));
    const lastIndex = new BigInt64Array(B);
    rows.forEach((r, b) => {
      const n = prefixLens[b]!;
      r.promptIds.forEach((id, t) => {
        ids[b * S + t] = BigInt(id);
        pos[b * S + t] = BigInt(n + t);
      });
      mask.fill(1n, b * (P + S) + P - n, b * (P + S) + P + r.promptIds.length);
      lastIndex[b] = BigInt(b * S + r.promptIds.length - 1);
    });
    const feeds: Record<string, Tensor> = {
      [STEP.inputIds]: tensor('int64', [B, S], ids),
      [STEP.positionIds]: tensor('int64', [B, S], pos),
      [STEP.attentionMask]: tensor('int64', [B, P + S], mask),
      [STEP.lastIndex]: tensor('int64', [B], lastIndex),
    };
    const shape = [B, config.numKvHeads, P, config.headDim];
    layers.forEach((kv, l) => {
      feeds[pastKey(l)] = tensor('float32', shape, kv.key);
      feeds[pastValue(l)] = tensor('float32', shape, kv.value);
    });
    const t0 = performance.now();
    const out = await this.#step.run(feeds);
    stats.prefillS += (performance.now() - t0) / 1000;
    stats.prefillTokens += textLens.reduce((a, b) => a + b, 0);
    const cache = prefillCache(config, this.#fresh(out), S, rows.map((r) => r.prefix), textLens);
    return { logits: out[STEP.logits]!.data as Float32Array, cache };
  }

  #fresh(r: Record<string, Tensor>): { key: Tensor; value: Tensor }[] {
    return Array.from({ length: this.config.numLayers }, (_, l) => ({ key: r[newKey(l)]!, value: r[newValue(l)]! }));
  }

  /**
   * Generates for every row; results in row order. With `admit`, rows that arrive while the batch
   * runs join it between decode steps (continuous batching): `admit(room)` is asked for up to
   * `room` more rows before each step, they are prefilled on their own and merged into the cache.
   * Their results go to their `onDone` only (the returned array holds the first rows').
   */
  async run(rows: readonly RowSpec[], opts: { admit?: (room: number) => RowSpec[]; maxBatch?: number } = {}): Promise<GenerateResult[]> {
    const { config } = this;
    const V = config.vocabSize;
    const eos = this.tokenizer.eosTokenId;
    const maxBatch = opts.maxBatch ?? Infinity;
    const stats: RunStats = { prefillS: 0, decodeS: 0, decodeSteps: 0, decodeTokens: 0, prefillTokens: 0 };
    if (rows.length === 0) return [];

    const states: RowState[] = [];
    const addStates = (specs: readonly RowSpec[]): number[] =>
      specs.map((spec) => {
        states.push({
          spec,
          sampler: new Sampler(spec.options),
          tracker: new TextTracker(this.tokenizer, spec.promptIds, spec.options.stop ?? []),
          ids: [],
          logprobs: spec.options.logprobs !== undefined ? [] : null,
          stopIds: new Set([...((spec.options.stopAtEos ?? true) && eos !== undefined ? [eos] : []), ...(spec.options.stopTokenIds ?? [])]),
          finish: null,
          last: -1,
        });
        return states.length - 1;
      });
    const resultOf = (st: RowState): GenerateResult => ({
      text: st.tracker.text,
      ids: st.ids,
      promptTokens: st.spec.promptIds.length,
      finishReason: st.finish!,
      ...(st.logprobs ? { logprobs: st.logprobs } : {}),
    });

    /** Picks each row's next token from `logits` (row i of `cache` is states[idx[i]]). */
    const take = (logits: Float32Array, cache: BatchCache, idx: readonly number[]): void => {
      idx.forEach((si, i) => {
        const st = states[si]!;
        const id = st.sampler.next(logits, i * V, V);
        st.last = id;
        const realLength = cache.lengths[i]!; // slots in the cache, i.e. the position `id` would take
        let text = '';
        if (st.spec.cancelled?.()) {
          st.finish = 'stop';
          return;
        }
        let lp: TokenLogprob | null = null;
        if (st.stopIds.has(id)) {
          st.finish = 'eos';
        } else {
          st.ids.push(id);
          st.sampler.observe(id);
          if (st.logprobs) st.logprobs.push((lp = rowLogprob(logits, i * V, V, id, st.spec.options.logprobs ?? 0)));
          text = st.tracker.push(id);
          if (st.tracker.stopped) st.finish = 'stop';
          else if (st.ids.length >= st.spec.options.maxNewTokens || realLength >= config.maxPositions) st.finish = 'length';
        }
        if (st.finish) text += st.tracker.flush();
        st.spec.onChunk?.({
          text,
          ids: st.finish === 'eos' ? [] : [id],
          ...(st.logprobs ? { logprobs: lp ? [lp] : [] } : {}),
          ...(st.finish ? { finishReason: st.finish, promptTokens: st.spec.promptIds.length } : {}),
        });
        if (st.finish) st.spec.onDone?.(resultOf(st));
      });
    };

    let active = addStates(rows);
    const first = await this.#prefill(rows, stats);
    const cache = first.cache;
    take(first.logits, cache, active);

    for (;;) {
      const keep = active.map((si, i) => [si, i] as const).filter(([si]) => states[si]!.finish === null);
      if (keep.length < active.length) {
        cache.select(keep.map(([, i]) => i));
        active = keep.map(([si]) => si);
      }
      // Continuous batching: newcomers are prefilled alone and merged in.
      const room = maxBatch - active.length;
      const extra = opts.admit && room > 0 ? opts.admit(room) : [];
      if (extra.length > 0) {
        const idx = addStates(extra);
        const joined = await this.#prefill(extra, stats);
        take(joined.logits, joined.cache, idx);
        const stay = idx.map((si, i) => [si, i] as const).filter(([si]) => states[si]!.finish === null);
        if (stay.length < idx.length) joined.cache.select(stay.map(([, i]) => i));
        if (stay.length > 0) {
          if (active.length === 0) cache.replaceWith(joined.cache);
          else cache.merge(joined.cache);
          active = [...active, ...stay.map(([si]) => si)];
        }
        continue; // the newcomers may all have finished already; ask again
      }
      if (active.length === 0) break;
      const Bn = active.length;
      const stepIds = BigInt64Array.from(active, (si) => BigInt(states[si]!.last));
      const stepPos = BigInt64Array.from(cache.lengths, (n) => BigInt(n));
      const f: Record<string, Tensor> = {
        [STEP.inputIds]: tensor('int64', [Bn, 1], stepIds),
        [STEP.positionIds]: tensor('int64', [Bn, 1], stepPos),
        [STEP.attentionMask]: cache.mask(1),
        [STEP.lastIndex]: tensor('int64', [Bn], BigInt64Array.from({ length: Bn }, (_, i) => BigInt(i))),
        ...cache.feeds({ key: pastKey, value: pastValue }),
      };
      const t0 = performance.now();
      const out = await this.#step.run(f);
      stats.decodeS += (performance.now() - t0) / 1000;
      stats.decodeSteps++;
      stats.decodeTokens += Bn;
      cache.append(this.#fresh(out).map((kv) => ({ key: kv.key.data as Float32Array, value: kv.value.data as Float32Array })));
      take(out[STEP.logits]!.data as Float32Array, cache, active);
    }
    this.lastStats = stats;
    return states.slice(0, rows.length).map(resultOf);
  }

  async release(): Promise<void> {
    await this.#step.release();
  }
}
