/**
 * Rank classification: score each candidate continuation (a verbalizer's tokens) by its
 * log-likelihood after the prompt, under the frozen model with or without a prompt method,
 * and predict the best-scoring candidate.
 *
 * score(candidate) = Σ_t log p(c_t | prompt, c_<t)   (or its mean over the candidate's tokens)
 *
 * One row per example: input_ids = prompt ++ candidate_1 ++ candidate_2 ++ …, labels = -100 over
 * the prompt and the candidate ids over the candidates. The candidates are packed as segments
 * (methods/batch.ts): each sees only the prompt and itself and takes the positions it would have
 * right after the prompt, so the prompt is computed once, not once per candidate, and every score
 * is the one of prompt ++ candidate alone. (`packCandidates: false` gives one row per candidate,
 * the plain layout, which the tests compare against.) Rows are right-padded into batches. The
 * Program's "logprobs" output holds log p(target) at every counted label, which batchFeeds emits
 * row by row and, within a row, in sequence order: candidate 1's tokens, then candidate 2's, … .
 * Padding is invisible to real tokens: it sits after them and the attention is causal (its mask
 * is 0 as well), and its labels are -100.
 *
 * The graph is compiled once per scorer and reused for every batch and every call.
 */
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { batchFeeds, IGNORE_INDEX } from '../methods/batch.ts';
import { buildProgram } from '../methods/program.ts';
import type { PromptMethod } from '../methods/types.ts';
import type { FloatDType } from '../models/types.ts';
import type { CompiledSession } from '../runtime/backend.ts';
import { compileGraph } from '../runtime/session.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

/** Bad input to rank classification (no candidates, empty prompt or candidate, missing params). */
export class RankError extends SoftpromptError {}

export interface RankExample {
  /** The prompt's ids, already tokenized (BOS included as the tokenizer gives it). Non-empty. */
  readonly promptIds: readonly number[];
  /** Each candidate's continuation ids, as they follow the prompt in the joint encoding. Non-empty each. */
  readonly candidates: readonly (readonly number[])[];
  /** Where the virtual tokens go in promptIds ({soft:N} slots); needs a scorer with softSlots. */
  readonly softAt?: readonly number[];
  /** Task id, for a multitask method. */
  readonly taskId?: number;
}

export interface RankScorerOptions {
  /** Candidates (example × candidate) scored per forward pass. Default 32. */
  batchRows?: number;
  /** Id written into padding slots (masked out and never scored). Default 0. */
  padId?: number;
  /** Score = mean log-probability per candidate token instead of the sum. Default false. */
  lengthNormalize?: boolean;
  /** Group rows of similar length into batches to save padding (results keep input order). Default true. */
  sortByLength?: boolean;
  /** Compute dtype of the graph; params must then have this dtype. Default float32. */
  dtype?: FloatDType;
  /** Threads per op for the session (defaults to the runtime's choice). */
  intraOpThreads?: number;
  /** Virtual tokens go where each example's softAt says (templates with {soft:N} slots). Default false. */
  softSlots?: boolean;
  /** Score all of an example's candidates in one row after one pass over its prompt. Default true. */
  packCandidates?: boolean;
  /** Method params used when `score` is called without any. */
  params?: Readonly<Record<string, Tensor>>;
}

export interface RankResult {
  /** scores[i][k]: the (possibly length-normalised) log-likelihood of example i's candidate k. */
  readonly scores: number[][];
  /** predictions[i]: index of the best candidate of example i (the first one on ties). */
  readonly predictions: number[];
}

/** One sequence to run: a prompt and the candidates packed after it (one when not packing). */
interface Row {
  readonly example: number;
  /** The candidates' indices in the example, in packing order. */
  readonly candidates: readonly number[];
  readonly softAt: readonly number[] | undefined;
  readonly taskId: number | undefined;
  readonly prompt: readonly number[];
  readonly conts: readonly (readonly number[])[];
  readonly length: number;
}

/** Rank classification with one compiled session; see the module comment. */
export class RankScorer {
  readonly config: ModelConfig;
  readonly method: PromptMethod | null;
  readonly options: Readonly<Required<Omit<RankScorerOptions, 'params' | 'intraOpThreads'>>>;
  readonly #weights: WeightStore;
  readonly #defaultParams: Readonly<Record<string, Tensor>> | undefined;
  readonly #intraOpThreads: number | undefined;
  #session: Promise<CompiledSession> | null = null;
  #released = false;

  constructor(config: ModelConfig, weights: WeightStore, method: PromptMethod | null, opts: RankScorerOptions = {}) {
    const batchRows = opts.batchRows ?? 32;
    if (!Number.isInteger(batchRows) || batchRows < 1) throw new RankError(`batchRows must be a positive integer, got ${batchRows}`);
    const padId = opts.padId ?? 0;
    if (!Number.isInteger(padId) || padId < 0 || padId >= config.vocabSize) {
      throw new RankError(`padId ${padId} is not a token id of this model (0..${config.vocabSize - 1})`);
    }
    this.config = config;
    this.method = method;
    this.#weights = weights;
    this.#defaultParams = opts.params;
    this.#intraOpThreads = opts.intraOpThreads;
    this.options = {
      batchRows,
      padId,
      lengthNormalize: opts.lengthNormalize ?? false,
      sortByLength: opts.sortByLength ?? true,
      dtype: opts.dtype ?? 'float32',
      softSlots: opts.softSlots ?? false,
      packCandidates: opts.packCandidates ?? true,
    };
  }

  /** Build a scorer and compile its session now (instead of on the first `score`). */
  static async create(config: ModelConfig, weights: WeightStore, method: PromptMethod | null, opts: RankScorerOptions = {}): Promise<RankScorer> {
    const s = new RankScorer(config, weights, method, opts);
    await s.#getSession();
    return s;
  }

  #getSession(): Promise<CompiledSession> {
    if (this.#released) throw new RankError('this RankScorer was released; create a new one');
    if (!this.#session) {
      const program = buildProgram(this.config, this.#weights, this.method, {
        dtype: this.options.dtype,
        logprobs: true,
        loss: false,
        gradients: false,
        softSlots: this.options.softSlots,
        segments: this.options.packCandidates,
      });
      this.#session = compileGraph(program.graph, {
        outputs: ['logprobs'],
        label: `${program.graph.name}_rank`,
        heldWeights: true,
        ...(this.#intraOpThreads !== undefined ? { intraOpThreads: this.#intraOpThreads } : {}),
      });
      this.#session.catch(() => (this.#session = null));
    }
    return this.#session;
  }

  #checkParams(params: Readonly<Record<string, Tensor>> | undefined): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    if (!this.method) return out;
    for (const p of this.method.params) {
      const t = params?.[p.name];
      if (!t) {
        throw new RankError(
          `${this.method.kind}: missing param "${p.name}" [${p.shape.join(', ')}]; pass the method's params to score() or in the scorer options`,
        );
      }
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
        throw new RankError(`${this.method.kind}: param "${p.name}" has shape [${t.shape.join(', ')}] but the method needs [${p.shape.join(', ')}]`);
      }
      if (t.dtype !== this.options.dtype) {
        throw new RankError(`${this.method.kind}: param "${p.name}" is ${t.dtype} but the scorer computes in ${this.options.dtype}`);
      }
      out[p.name] = t;
    }
    return out;
  }

  #rows(examples: readonly RankExample[]): Row[] {
    const rows: Row[] = [];
    const V = this.config.vocabSize;
    const checkIds = (ids: readonly number[], where: string): void => {
      for (const id of ids) {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new RankError(`${where}: token id ${id} is outside the vocabulary (0..${V - 1})`);
      }
    };
    examples.forEach((ex, i) => {
      if (ex.promptIds.length === 0) {
        throw new RankError(`example ${i}: promptIds is empty; the first candidate token needs at least one token (e.g. BOS) before it`);
      }
      if (ex.candidates.length === 0) throw new RankError(`example ${i}: no candidates to rank`);
      const n = this.method?.numVirtualTokens ?? 0;
      if (this.options.softSlots && ex.softAt?.length !== n) {
        throw new RankError(
          ex.softAt
            ? `example ${i}: the template's {soft:N} slots hold ${ex.softAt.length} virtual tokens but the adapter has ${n}`
            : `example ${i}: the scorer places virtual tokens at {soft:N} slots but the example has no slot positions`,
        );
      }
      if (!this.options.softSlots && ex.softAt) throw new RankError(`example ${i}: has {soft:N} slot positions but the scorer was made without softSlots`);
      if ((this.method?.numTasks !== undefined) !== (ex.taskId !== undefined)) {
        throw new RankError(
          this.method?.numTasks !== undefined
            ? `example ${i}: the ${this.method.kind} adapter has ${this.method.numTasks} tasks; the example needs a task id`
            : `example ${i}: has a task id but the ${this.method?.kind ?? 'base model'} has no per-task prompts`,
        );
      }
      checkIds(ex.promptIds, `example ${i} prompt`);
      ex.candidates.forEach((c, k) => {
        if (c.length === 0) throw new RankError(`example ${i}, candidate ${k}: no tokens (an empty continuation would always score 0)`);
        checkIds(c, `example ${i}, candidate ${k}`);
      });
      const row = (candidates: number[]): Row => {
        const conts = candidates.map((k) => ex.candidates[k]!);
        const length = ex.promptIds.length + conts.reduce((s, c) => s + c.length, 0);
        return { example: i, candidates, softAt: ex.softAt, taskId: ex.taskId, prompt: ex.promptIds, conts, length };
      };
      if (this.options.packCandidates) {
        const limit = this.config.maxPositions - (this.method?.numVirtualTokens ?? 0);
        for (const group of packCandidateRows(ex.promptIds.length, ex.candidates.map((c) => c.length), limit)) rows.push(row(group));
      } else ex.candidates.forEach((_, k) => rows.push(row([k])));
    });
    return rows;
  }

  /**
   * Score every candidate of every example. `params` are the method's tensors (PEFT names,
   * e.g. "prompt_embeddings"); they default to the scorer's `params` option. Ignored when the
   * scorer has no method. An aborted `signal` stops it before the next batch (a RankError).
   */
  async score(examples: readonly RankExample[], params?: Readonly<Record<string, Tensor>>, opts: { signal?: AbortSignal } = {}): Promise<RankResult> {
    const paramFeeds = this.#checkParams(params ?? this.#defaultParams);
    const rows = this.#rows(examples);
    const scores = examples.map((ex) => new Array<number>(ex.candidates.length).fill(0));
    if (rows.length === 0) return { scores, predictions: [] };
    const session = await this.#getSession();

    const order = rows.map((_, i) => i);
    if (this.options.sortByLength) order.sort((a, b) => rows[a]!.length - rows[b]!.length || a - b);
    const { batchRows, padId, lengthNormalize, packCandidates } = this.options;
    for (let start = 0; start < order.length; ) {
      // An abort (a request past its time) stops between batches, not after the last one.
      if (opts.signal?.aborted) throw new RankError('aborted');
      // As many rows as hold batchRows candidates (at least one row).
      const batch: Row[] = [];
      let held = 0;
      while (start < order.length && (batch.length === 0 || held + rows[order[start]!]!.candidates.length <= batchRows)) {
        const r = rows[order[start++]!]!;
        batch.push(r);
        held += r.candidates.length;
      }
      const B = batch.length;
      const T = Math.max(...batch.map((r) => r.length));
      const ids = new BigInt64Array(B * T).fill(BigInt(padId));
      const mask = new BigInt64Array(B * T);
      const labels = new BigInt64Array(B * T).fill(BigInt(IGNORE_INDEX));
      const segments = packCandidates ? batch.map((r) => new Array<number>(r.length).fill(0)) : null;
      batch.forEach((r, b) => {
        const base = b * T;
        r.prompt.forEach((id, t) => (ids[base + t] = BigInt(id)));
        let t = r.prompt.length;
        r.conts.forEach((cont, k) => {
          for (const id of cont) {
            ids[base + t] = BigInt(id);
            labels[base + t] = BigInt(id);
            if (segments) segments[b]![t] = k + 1;
            t++;
          }
        });
        mask.fill(1n, base, base + r.length);
      });
      const feeds = batchFeeds(this.method, {
        inputIds: tensor('int64', [B, T], ids),
        attentionMask: tensor('int64', [B, T], mask),
        labels: tensor('int64', [B, T], labels),
        ...(this.options.softSlots ? { virtualAt: batch.map((r) => r.softAt!) } : {}),
        ...(this.method?.numTasks !== undefined ? { taskIds: batch.map((r) => r.taskId!) } : {}),
        ...(segments ? { segments } : {}),
      });
      const expected = batch.reduce((s, r) => s + r.conts.reduce((n, c) => n + c.length, 0), 0);
      const out = (await session.run({ ...feeds, ...paramFeeds }, ['logprobs']))['logprobs']!;
      const lp = out.data as Float32Array | Float64Array;
      if (lp.length !== expected) {
        throw new RankError(`internal: the graph returned ${lp.length} log-probabilities for ${expected} candidate tokens`);
      }
      // batchFeeds emits counted labels row-major: row b's candidate tokens, in order, then row b+1's.
      let k = 0;
      for (const r of batch) {
        r.conts.forEach((cont, j) => {
          let sum = 0;
          for (let t = 0; t < cont.length; t++) sum += lp[k++]!;
          scores[r.example]![r.candidates[j]!] = lengthNormalize ? sum / cont.length : sum;
        });
      }
    }
    return { scores, predictions: scores.map(argmax) };
  }

  /** Release the compiled session. The scorer cannot be used afterwards. */
  async release(): Promise<void> {
    const s = this.#session;
    this.#session = null;
    this.#released = true;
    if (s) await (await s).release();
  }
}

/**
 * Splits an example's candidates (their token counts, in order) into packed rows of at most
 * `limit` tokens each, the prompt included in every row: with many labels one row would outgrow
 * the context, and attention memory grows with the square of a row's length. Candidates keep
 * their order; a candidate that does not fit even alone after the prompt gets a row of its own.
 */
export function packCandidateRows(promptLength: number, candidateLengths: readonly number[], limit: number): number[][] {
  const rows: number[][] = [];
  let current: number[] = [];
  let length = promptLength;
  candidateLengths.forEach((n, k) => {
    if (current.length > 0 && length + n > limit) {
      rows.push(current);
      current = [];
      length = promptLength;
    }
    current.push(k);
    length += n;
  });
  if (current.length > 0) rows.push(current);
  return rows;
}

/** Index of the largest value (the first on ties); -1 for an empty array. */
export function argmax(xs: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < xs.length; i++) if (best < 0 || xs[i]! > xs[best]!) best = i;
  return best;
}

/** What {@link rankExample} needs of a tokenizer (src/tokenizer's Tokenizer has it). */
export interface ContinuationEncoder {
  encodeContinuation(prompt: string, continuation: string): { promptIds: number[]; continuationIds: number[] };
}

/**
 * A RankExample from text: each candidate is tokenized together with the prompt. When the
 * tokenizer merges across the boundary differently for different candidates, the prompt ids
 * differ per candidate; the example then keeps their common prefix as the prompt and moves the
 * rest into each candidate, so every candidate is scored on exactly its joint encoding.
 */
export function rankExample(tokenizer: ContinuationEncoder, prompt: string, candidates: readonly string[]): RankExample {
  if (candidates.length === 0) throw new RankError('rankExample: no candidates');
  const encs = candidates.map((c) => tokenizer.encodeContinuation(prompt, c));
  let common = encs[0]!.promptIds.length;
  for (const e of encs) {
    let i = 0;
    while (i < common && i < e.promptIds.length && e.promptIds[i] === encs[0]!.promptIds[i]) i++;
    common = i;
  }
  const promptIds = encs[0]!.promptIds.slice(0, common);
  return { promptIds, candidates: encs.map((e) => [...e.promptIds.slice(common), ...e.continuationIds]) };
}
