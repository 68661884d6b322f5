/**
 * Host-side key/value layouts.
 *
 * A task prefix is per layer a key and a value [KV, n, hd] (float32), computed once per task:
 * for prompt tuning (and p-tuning's inference view) the present KV of the virtual tokens run
 * through the model at positions 0..n-1 (keys already rotated, as PEFT's virtual tokens are
 * first and attend only to themselves); for prefix tuning the table itself (keys never rotated).
 *
 * The batch cache is per layer [B, KV, L, hd] with every row RIGHT-aligned: row b holds
 * [pad ..., prefix_b, text_b, generated_b] ending at column L-1, so padding never sits between
 * a row's prefix, its text and its new tokens; the attention mask is 0 on the pads and each
 * row's positions are its own (prefix 0..n_b-1, text n_b.., new tokens after).
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

export interface LayerKV {
  key: Float32Array;
  value: Float32Array;
}

export interface TaskPrefix {
  /** Number of prefix slots (virtual tokens). */
  readonly n: number;
  /** Per layer, [KV, n, hd] each. */
  readonly layers: readonly LayerKV[];
}

/** A prefix-tuning table [n, L·2·KV·hd] (PEFT's order [n, layer, key/value, kv_head, head_dim]) as a TaskPrefix. */
export function prefixFromTable(config: ModelConfig, table: Tensor): TaskPrefix {
  const { numLayers: L, numKvHeads: KVH, headDim: hd } = config;
  const [n, width] = table.shape as [number, number];
  if (width !== 2 * L * KVH * hd) throw new Error(`prefix table has width ${width}, the model needs ${2 * L * KVH * hd}`);
  const src = table.data as Float32Array;
  const layers: LayerKV[] = [];
  for (let l = 0; l < L; l++) {
    const kv: Float32Array[] = [new Float32Array(KVH * n * hd), new Float32Array(KVH * n * hd)];
    for (let s = 0; s < 2; s++) {
      for (let t = 0; t < n; t++) {
        for (let h = 0; h < KVH; h++) {
          const from = t * width + ((l * 2 + s) * KVH + h) * hd;
          kv[s]!.set(src.subarray(from, from + hd), (h * n + t) * hd);
        }
      }
    }
    layers.push({ key: kv[0]!, value: kv[1]! });
  }
  return { n, layers };
}

/** Present KV [1, KV, n, hd] per layer (the prefix graph's output for one task) as a TaskPrefix. */
export function prefixFromPresent(n: number, layers: readonly { key: Tensor; value: Tensor }[]): TaskPrefix {
  return { n, layers: layers.map((kv) => ({ key: Float32Array.from(kv.key.data as Float32Array), value: Float32Array.from(kv.value.data as Float32Array) })) };
}

/** Free columns a cache keeps after its last used one, so appending a token rarely reallocates. */
export const CACHE_GROW = 16;

/**
 * The batch KV cache: per layer [B, KV, C, hd] (C = capacity). Columns 0..L-1 are in use with every
 * row right-aligned at column L-1 (row b's `lengths[b]` real slots end there); columns L..C-1 are
 * free. The whole buffer is fed as the past with the free columns masked out, so a decode step
 * appends one column on the host instead of copying the cache; a masked slot gets exactly zero
 * attention weight, so the free columns change nothing.
 */
export class BatchCache {
  constructor(
    readonly kvHeads: number,
    readonly headDim: number,
    public batch: number,
    /** Columns in use (L). */
    public length: number,
    public capacity: number,
    public layers: LayerKV[],
    /** Real (attended) slots of each row, right-aligned at column length-1. */
    public lengths: number[],
  ) {}

  /** The attention mask [B, C + extra]: ones over each row's real slots and the `extra` new ones. */
  mask(extra: number): Tensor<'int64'> {
    const M = this.capacity + extra;
    const m = new BigInt64Array(this.batch * M);
    for (let b = 0; b < this.batch; b++) {
      m.fill(1n, b * M + this.length - this.lengths[b]!, b * M + this.length);
      m.fill(1n, b * M + this.capacity, (b + 1) * M);
    }
    return tensor('int64', [this.batch, M], m);
  }

  /** Feeds past.{l}.key/value: the whole [B, KV, C, hd] buffers. */
  feeds(names: { key: (l: number) => string; value: (l: number) => string }): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    const shape = [this.batch, this.kvHeads, this.capacity, this.headDim];
    this.layers.forEach((kv, l) => {
      out[names.key(l)] = tensor('float32', shape, kv.key);
      out[names.value(l)] = tensor('float32', shape, kv.value);
    });
    return out;
  }

  /** Appends one column: each layer's new keys/values [B, KV, 1, hd]. */
  append(fresh: readonly LayerKV[]): void {
    const { kvHeads: KVH, headDim: hd } = this;
    if (this.length === this.capacity) this.#relayout([...this.lengths.keys()], this.length + CACHE_GROW);
    const C = this.capacity;
    const col = this.length;
    this.layers.forEach((kv, l) => {
      for (const s of ['key', 'value'] as const) {
        const src = fresh[l]![s];
        const dst = kv[s];
        for (let r = 0; r < this.batch * KVH; r++) dst.set(src.subarray(r * hd, (r + 1) * hd), (r * C + col) * hd);
      }
    });
    this.length++;
    this.lengths = this.lengths.map((n) => n + 1);
  }

  /** Takes over another cache's contents (same model). */
  replaceWith(other: BatchCache): void {
    this.batch = other.batch;
    this.length = other.length;
    this.capacity = other.capacity;
    this.layers = other.layers;
    this.lengths = other.lengths;
  }

  /** Appends another cache's rows after this one's, both right-aligned at the longer one's last used column. Copies. */
  merge(other: BatchCache): void {
    const { kvHeads: KVH, headDim: hd } = this;
    const L = Math.max(this.length, other.length);
    const C = L + CACHE_GROW;
    const B = this.batch + other.batch;
    this.layers = this.layers.map((kv, l) => {
      const out: LayerKV = { key: new Float32Array(B * KVH * C * hd), value: new Float32Array(B * KVH * C * hd) };
      for (const s of ['key', 'value'] as const) {
        let row = 0;
        for (const part of [{ c: this, src: kv[s] }, { c: other, src: other.layers[l]![s] }]) {
          for (let r = 0; r < part.c.batch * KVH; r++, row++) {
            const from = r * part.c.capacity * hd;
            out[s].set(part.src.subarray(from, from + part.c.length * hd), (row * C + L - part.c.length) * hd);
          }
        }
      }
      return out;
    });
    this.lengths = [...this.lengths, ...other.lengths];
    this.batch = B;
    this.length = L;
    this.capacity = C;
  }

  /** Keeps only `rows` (in that order) and drops leading columns no kept row uses. Copies. */
  select(rows: readonly number[]): void {
    const L2 = Math.max(1, ...rows.map((b) => this.lengths[b]!));
    this.#relayout(rows, L2 + CACHE_GROW, L2);
  }

  /** New buffers holding `rows`, with capacity C2 and the last `keep` used columns. */
  #relayout(rows: readonly number[], C2: number, keep = this.length): void {
    const { kvHeads: KVH, headDim: hd, capacity: C, length: L } = this;
    const drop = L - keep;
    this.layers = this.layers.map((kv) => {
      const out: LayerKV = { key: new Float32Array(rows.length * KVH * C2 * hd), value: new Float32Array(rows.length * KVH * C2 * hd) };
      for (const s of ['key', 'value'] as const) {
        const src = kv[s];
        const dst = out[s];
        rows.forEach((b, i) => {
          for (let h = 0; h < KVH; h++) {
            const from = ((b * KVH + h) * C + drop) * hd;
            dst.set(src.subarray(from, from + keep * hd), (i * KVH + h) * C2 * hd);
          }
        });
      }
      return out;
    });
    this.lengths = rows.map((b) => this.lengths[b]!);
    this.batch = rows.length;
    this.length = keep;
    this.capacity = C2;
  }
}

/**
 * The past for a prefill: per layer [B, KV, P, hd] with each row's prefix right-aligned in P slots
 * (P = the longest prefix, at least 1 so the graph never sees an empty axis; unused slots are masked).
 */
export function prefillPast(config: ModelConfig, prefixes: readonly (TaskPrefix | null)[]): { P: number; layers: LayerKV[] } {
  const { numLayers: L, numKvHeads: KVH, headDim: hd } = config;
  const B = prefixes.length;
  const P = Math.max(1, ...prefixes.map((p) => p?.n ?? 0));
  const layers: LayerKV[] = [];
  for (let l = 0; l < L; l++) {
    const kv: LayerKV = { key: new Float32Array(B * KVH * P * hd), value: new Float32Array(B * KVH * P * hd) };
    prefixes.forEach((p, b) => {
      if (!p || p.n === 0) return;
      for (const s of ['key', 'value'] as const) {
        const src = p.layers[l]![s];
        for (let h = 0; h < KVH; h++) kv[s].set(src.subarray(h * p.n * hd, (h + 1) * p.n * hd), ((b * KVH + h) * P + P - p.n) * hd);
      }
    });
    layers.push(kv);
  }
  return { P, layers };
}

/**
 * The cache after a prefill: each row's prefix (host side) and the keys/values of its T_b text
 * positions (the step graph's new.{l} outputs [B, KV, S, hd], text left-aligned in S) put together
 * at the right end of the used columns L = max_b(n_b + T_b), so each row reads
 * [pad ..., prefix_b, text_b], with CACHE_GROW free columns after them.
 */
export function prefillCache(
  config: ModelConfig,
  fresh: readonly { key: Tensor; value: Tensor }[],
  S: number,
  prefixes: readonly (TaskPrefix | null)[],
  textLens: readonly number[],
): BatchCache {
  const { numKvHeads: KVH, headDim: hd } = config;
  const B = prefixes.length;
  const prefixLens = prefixes.map((p) => p?.n ?? 0);
  const lengths = prefixLens.map((n, b) => n + textLens[b]!);
  const L = Math.max(...lengths);
  const C = L + CACHE_GROW;
  const layers = fresh.map((kv, l) => {
    const out: LayerKV = { key: new Float32Array(B * KVH * C * hd), value: new Float32Array(B * KVH * C * hd) };
    for (const s of ['key', 'value'] as const) {
      const src = kv[s].data as Float32Array;
      const dst = out[s];
      for (let b = 0; b < B; b++) {
        const n = prefixLens[b]!;
        const T = textLens[b]!;
        const pre = prefixes[b]?.layers[l]![s];
        for (let h = 0; h < KVH; h++) {
          const to = ((b * KVH + h) * C + L - n - T) * hd;
          if (pre && n > 0) dst.set(pre.subarray(h * n * hd, (h + 1) * n * hd), to);
          const row = (b * KVH + h) * S * hd;
          dst.set(src.subarray(row, row + T * hd), to + n * hd);
        }
      }
    }
    return out;
  });
  return new BatchCache(KVH, hd, B, L, C, layers, lengths);
}
