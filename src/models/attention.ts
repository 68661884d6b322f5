/** Sliding-window masks: a query at position p sees a key at position k only if p − k < window. */
import { cumsum } from '../graph/ops/cumsum.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { tensor } from '../tensor.ts';
import type { FloatDType } from './types.ts';

/**
 * Positions of the P+S key slots [B, P+S]: the new ones are `positionIds`; a past slot's position is
 * the number of attended slots before it in its row (cumsum(mask) − 1), so a prefix sits at 0..n−1
 * (HF counts prefix slots as positions) and a KV cache with padding holes keeps each row's own
 * positions. Masked slots get some position; they are masked anyway.
 */
export function keyPositions(positionIds: Value, attentionMask: Value, hasPast: boolean): Value {
  if (!hasPast) return positionIds;
  const g = positionIds.graph;
  const one = g.constant(tensor('int64', [], BigInt64Array.of(1n)));
  const total = op.gather(op.shapeOf(attentionMask), one);
  const P = op.sub(total, op.gather(op.shapeOf(positionIds), one));
  const past = op.gather(op.sub(cumsum(attentionMask, 1), 1), op.range(g.scalar(0, 'int64'), P, 'P'), 1);
  return op.concat([past, positionIds], 1);
}

/** `bias` [B, 1, S, P+S] further limited to keys within `window` positions of each query. */
export function windowBias(bias: Value, positionIds: Value, keyPos: Value, window: number, dtype: FloatDType): Value {
  const dist = op.sub(op.unsqueeze(positionIds, [2]), op.unsqueeze(keyPos, [1])); // [B, S, P+S]
  const inside = op.unsqueeze(op.less(dist, window), [1]);
  const min = dtype === 'float32' ? -3.4028234663852886e38 : -1.7976931348623157e308;
  return op.where(inside, bias, bias.graph.scalar(min, dtype));
}
