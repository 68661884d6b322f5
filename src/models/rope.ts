/** Rotary position embeddings in HF's rotate_half layout (pairs i and i + hd/2). */
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { tensor } from '../tensor.ts';
import type { FloatDType } from './types.ts';

export interface RopeTables {
  /** [B, 1, S, hd], broadcast over heads. */
  readonly cos: Value;
  readonly sin: Value;
}

/** inv_freq = θ^(−2i/dim), i < dim/2 (dim: the rotated dims of a head). */
export function inverseFrequencies(theta: number, dim: number): number[] {
  return Array.from({ length: dim / 2 }, (_, i) => 1 / theta ** ((2 * i) / dim));
}

/** cos/sin of position · inv_freq, duplicated over both halves: [B, 1, S, 2·inv.length]. */
export function ropeTablesFrom(positionIds: Value, inv: readonly number[], dtype: FloatDType): RopeTables {
  const g = positionIds.graph;
  const half = inv.length;
  const invFreq = g.constant(dtype === 'float32' ? tensor('float32', [half], Float32Array.from(inv)) : tensor('float64', [half], Float64Array.from(inv)));
  const freqs = op.mul(op.unsqueeze(op.cast(positionIds, dtype), [-1]), invFreq); // [B, S, hd/2]
  const emb = op.unsqueeze(op.concat([freqs, freqs], -1), [1]); // [B, 1, S, hd]
  return { cos: op.cos(emb), sin: op.sin(emb) };
}

/** Plain RoPE over the whole head. */
export function ropeTables(positionIds: Value, headDim: number, theta: number, dtype: FloatDType): RopeTables {
  return ropeTablesFrom(positionIds, inverseFrequencies(theta, headDim), dtype);
}

/** x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁]. x: [B, H, S, hd]. */
export function applyRope(x: Value, t: RopeTables, headDim: number): Value {
  const half = headDim / 2;
  const x1 = op.slice(x, [-1], [0], [half]);
  const x2 = op.slice(x, [-1], [half], [headDim]);
  const rotated = op.concat([op.neg(x2), x1], -1);
  return op.add(op.mul(x, t.cos), op.mul(rotated, t.sin));
}

/** RoPE on the first `rot` dims of each head, the rest passed through (partial rotary). x: [B, H, S, hd]. */
export function partialRope(x: Value, t: RopeTables, rot: number, hd: number): Value {
  if (rot === hd) return applyRope(x, t, hd);
  if (rot === 0) return x;
  return op.concat([applyRope(op.slice(x, [-1], [0], [rot]), t, rot), op.slice(x, [-1], [rot], [hd])], -1);
}
