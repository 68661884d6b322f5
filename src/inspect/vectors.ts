/**
 * Small vector maths over row-major float tables, in float64 (the tables are float32; sums in
 * float64 keep a row's similarity with itself at exactly 1 and its L2 distance at exactly 0).
 */

/** Rows of a [rows, d] table as a view per row. */
export function row(data: Float32Array, d: number, i: number): Float32Array {
  return data.subarray(i * d, (i + 1) * d);
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k]! * b[k]!;
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/**
 * Cosine similarity; 0 when either vector is zero. dot / sqrt(|a|²·|b|²) rather than
 * dot / (|a|·|b|): for a = b, sqrt(x·x) is exactly x, so a vector with itself gives exactly 1.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const aa = dot(a, a);
  const bb = dot(b, b);
  if (aa === 0 || bb === 0) return 0;
  return Math.max(-1, Math.min(1, dot(a, b) / Math.sqrt(aa * bb)));
}

/** Euclidean distance, summed directly (not via |a|²+|b|²-2a·b, which loses exact zeros). */
export function l2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]! - b[k]!;
    s += x * x;
  }
  return Math.sqrt(s);
}

/** The mean of the rows of a [rows, d] table, [d]. */
export function meanRow(data: Float32Array, rows: number, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < rows; i++) for (let k = 0; k < d; k++) out[k]! += data[i * d + k]!;
  for (let k = 0; k < d; k++) out[k]! /= rows;
  return out;
}

/** The q-quantile (0..1) of `values` by linear interpolation between order statistics (numpy's default). */
export function quantile(sorted: readonly number[] | Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface Scored {
  readonly id: number;
  readonly score: number;
}

/**
 * The k best of `scores` (highest first when `descending`, else lowest first); ties go to the
 * lower id, so results are deterministic. A running insertion into k slots: O(V·k), fine for k ≪ V.
 */
export function topK(scores: ArrayLike<number>, k: number, descending: boolean): Scored[] {
  const best: Scored[] = [];
  const better = (a: number, b: number): boolean => (descending ? a > b : a < b);
  for (let id = 0; id < scores.length; id++) {
    const s = scores[id]!;
    if (Number.isNaN(s)) continue;
    if (best.length === k && !better(s, best[k - 1]!.score)) continue;
    let at = best.length;
    while (at > 0 && better(s, best[at - 1]!.score)) at--;
    best.splice(at, 0, { id, score: s });
    if (best.length > k) best.pop();
  }
  return best;
}
