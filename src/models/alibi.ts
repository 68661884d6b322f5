/**
 * ALiBi (Press et al.; BLOOM): each head adds slope_h · key_position to its scores. HF's
 * build_alibi_tensor uses the key's absolute position rather than key − query; the two differ by a
 * per-query constant, which softmax ignores.
 */
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { tensor } from '../tensor.ts';
import type { FloatDType } from './types.ts';

/**
 * build_alibi_tensor's slopes: for the largest power of two p ≤ H, 2^(−8(h+1)/p); the H − p
 * remaining heads take every other slope of 2p heads, 2^(−4(2j+1)/p).
 */
export function alibiSlopes(heads: number): number[] {
  const p = 2 ** Math.floor(Math.log2(heads));
  const base = 2 ** -(2 ** -(Math.log2(p) - 3));
  const slopes = Array.from({ length: p }, (_, i) => base ** (i + 1));
  if (p !== heads) {
    const extra = 2 ** -(2 ** -(Math.log2(2 * p) - 3));
    for (let j = 0; j < Math.min(p, heads - p); j++) slopes.push(extra ** (2 * j + 1));
  }
  return slopes;
}

/**
 * Key positions [B, P+S]: the past slots number themselves from the mask, cumsum(mask) − 1 as HF
 * does (a prefix or right-aligned cache: 0, 1, … over its unmasked slots), and the S new slots take
 * the position_ids feed, which equals that cumsum at every real slot and also knows packed
 * continuations (which restart after their shared prompt). Masked slots get whatever: they are
 * masked out anyway.
 */
export function keyPositions(positionIds: Value, attentionMask: Value, hasPast: boolean): Value {
  if (!hasPast) return positionIds;
  const g = attentionMask.graph;
  const one = g.scalar(1, 'int64');
  const M = op.gather(op.shapeOf(attentionMask), one);
  const P = op.sub(M, op.gather(op.shapeOf(positionIds), one));
  const pastMask = op.gather(attentionMask, op.range(g.scalar(0, 'int64'), P, 'P'), 1);
  return op.concat([op.sub(op.cumsum(pastMask, 1), 1), positionIds], 1);
}

/** The ALiBi bias [B, H, 1, P+S] to add to attention scores. */
export function alibiBias(keyPos: Value, heads: number, dtype: FloatDType): Value {
  const s = alibiSlopes(heads);
  const slopes = keyPos.graph.constant(dtype === 'float32' ? tensor('float32', [heads, 1, 1], Float32Array.from(s)) : tensor('float64', [heads, 1, 1], Float64Array.from(s)));
  return op.mul(op.unsqueeze(op.cast(keyPos, dtype), [1, 2]), slopes); // [B, 1, 1, L] · [H, 1, 1]
}
