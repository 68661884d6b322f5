/**
 * Next-token choice from one row of logits: greedy (temperature 0, the default), or sampling
 * with temperature, top-k and top-p (nucleus), from a per-request seeded generator
 * (src/data/rng.ts), so the same seed and request give the same tokens.
 */
import { createRng } from '../data/rng.ts';
import type { Rng } from '../data/rng.ts';
import { InferenceError } from './errors.ts';
import type { SamplingOptions } from './types.ts';

/** Index of the largest logit (the first on ties). */
export function argmaxRow(logits: Float32Array, offset: number, V: number): number {
  let best = 0;
  let bestV = logits[offset]!;
  for (let v = 1; v < V; v++) {
    const x = logits[offset + v]!;
    if (x > bestV) {
      bestV = x;
      best = v;
    }
  }
  return best;
}

/** The k largest entries' indices of logits[offset .. offset+V), largest first (the lower id on ties). */
export function topKIndices(logits: Float32Array, offset: number, V: number, k: number): number[] {
  const idx: number[] = [];
  if (k <= 0) return idx;
  for (let v = 0; v < V; v++) {
    const x = logits[offset + v]!;
    if (idx.length === k && x <= logits[offset + idx[k - 1]!]!) continue;
    let i = idx.length === k ? k - 1 : idx.length;
    if (idx.length < k) idx.push(v);
    while (i > 0 && logits[offset + idx[i - 1]!]! < x) {
      idx[i] = idx[i - 1]!;
      i--;
    }
    idx[i] = v;
  }
  return idx;
}

/** Checks a request's sampling fields; throws InferenceError naming the field. */
export function validateSampling(o: SamplingOptions, maxNewTokensLimit = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isSafeInteger(o.maxNewTokens) || o.maxNewTokens < 1) throw new InferenceError(`maxNewTokens must be an integer >= 1, got ${o.maxNewTokens}`, 'maxNewTokens');
  if (o.maxNewTokens > maxNewTokensLimit) throw new InferenceError(`maxNewTokens ${o.maxNewTokens} is above the limit ${maxNewTokensLimit}`, 'maxNewTokens');
  if (o.temperature !== undefined && (!Number.isFinite(o.temperature) || o.temperature < 0)) {
    throw new InferenceError(`temperature must be a finite number >= 0, got ${o.temperature}`, 'temperature');
  }
  if (o.topK !== undefined && (!Number.isSafeInteger(o.topK) || o.topK < 0)) throw new InferenceError(`topK must be an integer >= 0 (0 = off), got ${o.topK}`, 'topK');
  if (o.topP !== undefined && (!Number.isFinite(o.topP) || o.topP <= 0 || o.topP > 1)) throw new InferenceError(`topP must be in (0, 1], got ${o.topP}`, 'topP');
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new InferenceError(`seed must be an integer, got ${o.seed}`, 'seed');
  if (o.frequencyPenalty !== undefined && !Number.isFinite(o.frequencyPenalty)) throw new InferenceError(`frequencyPenalty must be a finite number, got ${o.frequencyPenalty}`, 'frequencyPenalty');
  if (o.presencePenalty !== undefined && !Number.isFinite(o.presencePenalty)) throw new InferenceError(`presencePenalty must be a finite number, got ${o.presencePenalty}`, 'presencePenalty');
  if (o.logprobs !== undefined && (!Number.isSafeInteger(o.logprobs) || o.logprobs < 0)) throw new InferenceError(`logprobs must be an integer >= 0, got ${o.logprobs}`, 'logprobs');
  if (o.logitBias !== undefined) {
    for (const [k, v] of Object.entries(o.logitBias)) {
      if (!/^\d+$/.test(k) || !Number.isFinite(v)) throw new InferenceError(`logitBias must map token ids to finite numbers, got ${k}: ${v}`, 'logitBias');
    }
  }
  if (o.stop !== undefined) {
    if (!Array.isArray(o.stop)) throw new InferenceError('stop must be an array of strings', 'stop');
    for (const s of o.stop) if (typeof s !== 'string' || s === '') throw new InferenceError(`stop strings must be non-empty strings, got ${JSON.stringify(s)}`, 'stop');
  }
}

export class Sampler {
  readonly #temperature: number;
  readonly #topK: number;
  readonly #topP: number;
  readonly #rng: Rng;
  readonly #bias: readonly (readonly [number, number])[];
  readonly #frequency: number;
  readonly #presence: number;
  /** How often each token was generated (for the penalties). */
  readonly #counts = new Map<number, number>();
  #scratch: Float32Array | null = null;

  constructor(o: SamplingOptions) {
    this.#temperature = o.temperature ?? 0;
    this.#topK = o.topK ?? 0;
    this.#topP = o.topP ?? 1;
    this.#rng = createRng(o.seed ?? Math.floor(Math.random() * 2 ** 31));
    this.#bias = Object.entries(o.logitBias ?? {}).map(([k, v]) => [Number(k), v] as const);
    this.#frequency = o.frequencyPenalty ?? 0;
    this.#presence = o.presencePenalty ?? 0;
  }

  /** Records a generated token (the penalties count it from then on). */
  observe(id: number): void {
    this.#counts.set(id, (this.#counts.get(id) ?? 0) + 1);
  }

  /**
   * OpenAI's adjustments: logit[j] + bias[j] - count[j]·frequency_penalty - (count[j] > 0)·presence_penalty,
   * on a copy of the row (the caller's logits stay the model's, for log-probabilities).
   */
  #adjusted(logits: Float32Array, offset: number, V: number): Float32Array | null {
    const penalize = (this.#frequency !== 0 || this.#presence !== 0) && this.#counts.size > 0;
    const bias = this.#bias.filter(([id]) => id < V);
    if (!penalize && bias.length === 0) return null;
    if (this.#scratch?.length !== V) this.#scratch = new Float32Array(V);
    const row = this.#scratch;
    row.set(logits.subarray(offset, offset + V));
    for (const [id, b] of bias) row[id] = row[id]! + b;
    if (penalize) for (const [id, c] of this.#counts) if (id < V) row[id] = row[id]! - c * this.#frequency - this.#presence;
    return row;
  }

  get greedy(): boolean {
    return this.#temperature === 0 || this.#topK === 1;
  }

  /** The next token from logits[offset .. offset+V) (after logit_bias and the penalties). */
  next(logits: Float32Array, offset: number, V: number): number {
    const adjusted = this.#adjusted(logits, offset, V);
    return adjusted ? this.#pick(adjusted, 0, V) : this.#pick(logits, offset, V);
  }

  #pick(logits: Float32Array, offset: number, V: number): number {
    if (this.greedy) return argmaxRow(logits, offset, V);
    const t = this.#temperature;
    const k = this.#topK > 0 ? Math.min(this.#topK, V) : V;
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]!);
    if (k === V && this.#topP >= 1) {
      // Plain temperature sampling: one pass in id order, no sort.
      let total = 0;
      for (let v = 0; v < V; v++) total += Math.exp((logits[offset + v]! - max) / t);
      let u = this.#rng() * total;
      for (let v = 0; v < V; v++) {
        u -= Math.exp((logits[offset + v]! - max) / t);
        if (u < 0) return v;
      }
      return argmaxRow(logits, offset, V);
    }
    // Candidates by descending logit (ties: lower id first), cut to top-k. Tokens below e^-40 of the
    // top token's probability (together < 1e-12 of the mass at any vocabulary size in use) are not sorted.
    let idx: number[];
    if (k < V && k <= 64) {
      idx = topKIndices(logits, offset, V, k);
    } else {
      const floor = max - 40 * t;
      idx = [];
      for (let v = 0; v < V; v++) if (logits[offset + v]! >= floor) idx.push(v);
      idx.sort((a, b) => logits[offset + b]! - logits[offset + a]! || a - b);
      if (idx.length > k) idx.length = k;
    }
    const p = idx.map((v) => Math.exp((logits[offset + v]! - max) / t));
    let total = p.reduce((s, x) => s + x, 0);
    let keep = p.length;
    if (this.#topP < 1) {
      let cum = 0;
      for (let i = 0; i < p.length; i++) {
        cum += p[i]! / total;
        if (cum >= this.#topP) {
          keep = i + 1;
          break;
        }
      }
      total = p.slice(0, keep).reduce((s, x) => s + x, 0);
    }
    let u = this.#rng() * total;
    for (let i = 0; i < keep; i++) {
      u -= p[i]!;
      if (u < 0) return idx[i]!;
    }
    return idx[keep - 1]!;
  }
}
