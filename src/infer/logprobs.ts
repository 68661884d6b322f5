/**
 * Log-probabilities of tokens: a prompt's own tokens (OpenAI's `echo` with `logprobs`, the way
 * evaluation harnesses score log-likelihoods) and the generated ones.
 *
 * The prompt is scored by one graph on the frozen model, after the task's KV prefix as the step
 * graph takes it: logits stay inside the graph, where ReduceLogSumExp gives each position's
 * normaliser, GatherElements the next token's logit and TopK the k best alternatives. Only
 * [S] log-probabilities and [S, k] alternatives come out, never a [S × vocabulary] array.
 * A generated token's log-probability comes from the decode step's logits row, which the sampler
 * holds anyway ([B, V] for the B running rows): one pass for the normaliser, one for the top k.
 *
 * Log-probabilities are the model's (log-softmax of the raw logits): temperature, top-p,
 * logit_bias and penalties change which token is picked, not the reported numbers (as vLLM).
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import { buildModel } from '../models/registry.ts';
import type { KV } from '../models/types.ts';
import type { CompiledSession } from '../runtime/backend.ts';
import { compileGraph } from '../runtime/session.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { pastKey, pastValue } from './graphs.ts';
import type { TaskPrefix } from './kv.ts';
import { prefillPast } from './kv.ts';
import { InferenceError } from './errors.ts';
import { topKIndices } from './sampling.ts';

export const SCORE = {
  inputIds: 'input_ids',
  positionIds: 'position_ids',
  attentionMask: 'attention_mask',
  targets: 'target_ids',
  k: 'k',
  tokenLogprobs: 'token_logprobs',
  topLogprobs: 'top_logprobs',
  topIds: 'top_ids',
} as const;

/** One alternative: a token id and its log-probability. */
export interface TopLogprob {
  readonly id: number;
  readonly logprob: number;
}

/** A token's log-probability and the best alternatives at its position (best first). */
export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
  readonly top: readonly TopLogprob[];
}

/** The prompt's tokens: the first has no log-probability (nothing before it is scored). */
export interface PromptLogprobs {
  readonly ids: readonly number[];
  /** logprobs[0] is null; logprobs[t] = log p(ids[t] | ids[<t], prefix). */
  readonly logprobs: readonly (number | null)[];
  /** top[0] is null; top[t] holds the k best tokens at position t. */
  readonly top: readonly (readonly TopLogprob[] | null)[];
}

/**
 * ids [1, S] at positions [1, S] after the past [1, KV, P, hd] per layer, mask [1, P+S]; targets
 * [1, S] (the next token at each position) and k [1]. Outputs token_logprobs [1, S] and the top k
 * (log-probabilities and ids) [1, S, k].
 */
export function buildScoreGraph(config: ModelConfig, weights: WeightStore): Graph {
  const g = new Graph(`softprompt_${config.modelType}_infer_score`);
  const model = buildModel(g, config, weights, { dtype: 'float32' });
  const { numLayers: L, numKvHeads: KVH, headDim: hd } = config;
  const ids = g.input(SCORE.inputIds, 'int64', ['B', 'S']);
  const positionIds = g.input(SCORE.positionIds, 'int64', ['B', 'S']);
  const mask = g.input(SCORE.attentionMask, 'int64', ['B', 'M']);
  const past: KV[] = [];
  for (let l = 0; l < L; l++) {
    past.push({ key: g.input(pastKey(l), 'float32', ['B', KVH, 'P', hd]), value: g.input(pastValue(l), 'float32', ['B', KVH, 'P', hd]) });
  }
  const targets = g.input(SCORE.targets, 'int64', ['B', 'S']);
  const k = g.input(SCORE.k, 'int64', [1]);
  const { hidden } = model.forward({ embeds: model.embedTokens(ids), positionIds, attentionMask: mask, past });
  const logits = model.lmHead(hidden); // [B, S, V], never an output
  const lse = op.reduceLogSumExp(logits, [-1]); // [B, S, 1]
  const picked = op.gatherElements(logits, op.unsqueeze(targets, [-1]), 2); // [B, S, 1]
  g.output(SCORE.tokenLogprobs, op.squeeze(op.sub(picked, lse), [-1]));
  const top = op.topK(logits, k);
  g.output(SCORE.topLogprobs, op.sub(top.values, lse));
  g.output(SCORE.topIds, top.indices);
  return g;
}

/** Scores prompts (one ORT run per prompt; the session is compiled on first use). */
export class PromptScorer {
  readonly #config: ModelConfig;
  readonly #session: CompiledSession;

  private constructor(config: ModelConfig, session: CompiledSession) {
    this.#config = config;
    this.#session = session;
  }

  static async create(config: ModelConfig, weights: WeightStore, opts: { intraOpThreads?: number } = {}): Promise<PromptScorer> {
    const session = await compileGraph(buildScoreGraph(config, weights), {
      label: `${config.modelType} infer score`,
      heldWeights: true,
      ...(opts.intraOpThreads !== undefined ? { intraOpThreads: opts.intraOpThreads } : {}),
    });
    return new PromptScorer(config, session);
  }

  /** Log-probabilities of every token of `ids` after `prefix`, with the `topK` best alternatives (0: none). */
  async score(ids: readonly number[], prefix: TaskPrefix | null, topK: number): Promise<PromptLogprobs> {
    const S = ids.length;
    if (S < 2) return { ids: [...ids], logprobs: ids.map(() => null), top: ids.map(() => null) };
    const { P, layers } = prefillPast(this.#config, [prefix]);
    const n = prefix?.n ?? 0;
    const k = Math.max(1, Math.min(topK, this.#config.vocabSize));
    const mask = new BigInt64Array(P + S);
    mask.fill(1n, P - n);
    const feeds: Record<string, Tensor> = {
      [SCORE.inputIds]: tensor('int64', [1, S], BigInt64Array.from(ids, (x) => BigInt(x))),
      [SCORE.positionIds]: tensor('int64', [1, S], BigInt64Array.from({ length: S }, (_, t) => BigInt(n + t))),
      [SCORE.attentionMask]: tensor('int64', [1, P + S], mask),
      // Position t is scored on the token after it; the last position's target is unused.
      [SCORE.targets]: tensor('int64', [1, S], BigInt64Array.from({ length: S }, (_, t) => BigInt(ids[Math.min(t + 1, S - 1)]!))),
      [SCORE.k]: tensor('int64', [1], BigInt64Array.of(BigInt(k))),
    };
    const shape = [1, this.#config.numKvHeads, P, this.#config.headDim];
    layers.forEach((kv, l) => {
      feeds[pastKey(l)] = tensor('float32', shape, kv.key);
      feeds[pastValue(l)] = tensor('float32', shape, kv.value);
    });
    const out = await this.#session.run(feeds);
    const lp = out[SCORE.tokenLogprobs]!.data as Float32Array;
    const topLp = out[SCORE.topLogprobs]!.data as Float32Array;
    const topIds = out[SCORE.topIds]!.data as BigInt64Array;
    const logprobs: (number | null)[] = [null];
    const top: (TopLogprob[] | null)[] = [null];
    for (let t = 1; t < S; t++) {
      logprobs.push(lp[t - 1]!);
      top.push(topK > 0 ? Array.from({ length: k }, (_, j) => ({ id: Number(topIds[(t - 1) * k + j]!), logprob: topLp[(t - 1) * k + j]! })) : []);
    }
    return { ids: [...ids], logprobs, top };
  }

  /**
   * The summed log-probability of each candidate continuation after a shared prompt: `prefix`
   * holds the prompt but its last token (Generator.extendPrefix), `last` is that token. Rows of
   * [last, c_0 .. c_{m-2}] score c_0 .. c_{m-1}; the prefix is copied per row, so rows go in runs
   * of at most `maxBytes` of past. An aborted `signal` stops before the next run (InferenceError).
   */
  async continuations(prefix: TaskPrefix, last: number, candidates: readonly (readonly number[])[], opts: { padId: number; signal?: AbortSignal; maxBytes?: number }): Promise<number[]> {
    const { numKvHeads: KVH, headDim: hd, numLayers: L } = this.#config;
    const P = prefix.n;
    const perRow = 2 * L * KVH * P * hd * 4;
    const runRows = Math.max(1, Math.floor((opts.maxBytes ?? 64 * 2 ** 20) / perRow));
    const sums: number[] = [];
    for (let start = 0; start < candidates.length; start += runRows) {
      if (opts.signal?.aborted) throw new InferenceError('aborted');
      const rows = candidates.slice(start, start + runRows);
      const B = rows.length;
      const S = Math.max(...rows.map((c) => c.length));
      const ids = new BigInt64Array(B * S).fill(BigInt(opts.padId));
      const targets = new BigInt64Array(B * S).fill(BigInt(opts.padId));
      const pos = new BigInt64Array(B * S);
      const mask = new BigInt64Array(B * (P + S)).fill(1n);
      rows.forEach((c, b) => {
        for (let t = 0; t < S; t++) {
          pos[b * S + t] = BigInt(P + t);
          if (t < c.length) {
            ids[b * S + t] = BigInt(t === 0 ? last : c[t - 1]!);
            targets[b * S + t] = BigInt(c[t]!);
          }
        }
      });
      const feeds: Record<string, Tensor> = {
        [SCORE.inputIds]: tensor('int64', [B, S], ids),
        [SCORE.positionIds]: tensor('int64', [B, S], pos),
        [SCORE.attentionMask]: tensor('int64', [B, P + S], mask),
        [SCORE.targets]: tensor('int64', [B, S], targets),
        [SCORE.k]: tensor('int64', [1], BigInt64Array.of(1n)),
      };
      const shape = [B, KVH, P, hd];
      prefix.layers.forEach((kv, l) => {
        const key = new Float32Array(B * KVH * P * hd);
        const value = new Float32Array(B * KVH * P * hd);
        for (let b = 0; b < B; b++) {
          key.set(kv.key, b * KVH * P * hd);
          value.set(kv.value, b * KVH * P * hd);
        }
        feeds[pastKey(l)] = tensor('float32', shape, key);
        feeds[pastValue(l)] = tensor('float32', shape, value);
      });
      const lp = (await this.#session.run(feeds))[SCORE.tokenLogprobs]!.data as Float32Array;
      rows.forEach((c, b) => {
        let sum = 0;
        for (let t = 0; t < c.length; t++) sum += lp[b * S + t]!;
        sums.push(sum);
      });
    }
    return sums;
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}

/** log p(chosen) and the k best tokens of one logits row logits[offset .. offset+V) (best first, lower id on ties). */
export function rowLogprob(logits: Float32Array, offset: number, V: number, chosen: number, k: number): TokenLogprob {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]!);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v]! - max);
  const lse = max + Math.log(sum);
  const best = topKIndices(logits, offset, V, Math.min(k, V));
  return { id: chosen, logprob: logits[offset + chosen]! - lse, top: best.map((v) => ({ id: v, logprob: logits[offset + v]! - lse })) };
}

/**
 * Where each token's text starts in decode(ids), in UTF-16 characters (JavaScript string
 * offsets, which is what a client indexes with), found by decoding prefixes: a prefix that ends
 * inside a multibyte character decodes to U+FFFD at its end, which is not counted, so the token
 * that completes the character carries it and the one before gets an empty piece. `context` ids
 * (not returned) go before `ids` so sentencepiece keeps a leading space. Prefixes are decoded
 * from a recent anchor (a clean boundary) on, so the cost is about linear in the length.
 */
export function tokenOffsets(
  decode: (ids: readonly number[]) => string,
  ids: readonly number[],
  context: readonly number[] = [],
  alternatives?: readonly (readonly number[] | null)[],
): { text: string; offsets: number[]; pieces: string[]; alternatives: (string[] | null)[] } {
  const all = [...context, ...ids];
  const c = context.length;
  const full = decode(all);
  const clean = (s: string): string => {
    let e = s.length;
    while (e > 0 && s[e - 1] === '\uFFFD') e--;
    return s.slice(0, e);
  };
  // Length of decode(all[0..i)) that agrees with `full` (anchors are clean boundaries on the way).
  let anchor = 0;
  let anchorLen = 0;
  const CTX = 4;
  const prefixLen = (i: number): number => {
    const from = Math.max(0, anchor - CTX);
    const base = decode(all.slice(from, anchor));
    const t = decode(all.slice(from, i));
    const s = t.startsWith(base) ? full.slice(0, anchorLen) + t.slice(base.length) : decode(all.slice(0, i));
    const p = clean(s);
    let n = 0;
    const m = Math.min(p.length, full.length);
    while (n < m && p.charCodeAt(n) === full.charCodeAt(n)) n++;
    if (n === p.length && p.length === s.length && i - anchor >= 32) {
      anchor = i;
      anchorLen = n;
    }
    return n;
  };
  const start = c === 0 ? 0 : prefixLen(c);
  const offsets: number[] = [];
  let prev = start;
  for (let i = c; i < all.length; i++) {
    const o = i === c ? start : Math.max(prev, prefixLen(i));
    offsets.push(o - start);
    prev = o;
  }
  const text = full.slice(start);
  const pieces = offsets.map((o, j) => text.slice(o, j + 1 < offsets.length ? offsets[j + 1]! : text.length));
  // An alternative reads as it would after the few tokens before its position.
  const alts = (alternatives ?? []).map((list, j) => {
    if (!list) return null;
    const before = all.slice(Math.max(0, c + j - CTX), c + j);
    const base = decode(before);
    return list.map((id) => {
      const t = decode([...before, id]);
      return t.startsWith(base) ? t.slice(base.length) : decode([id]);
    });
  });
  return { text, offsets, pieces, alternatives: alts };
}
