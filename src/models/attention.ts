/**
 * Sliding-window masks: a query at position p sees a key at position k only if p − k < window.
 * Key positions come from alibi.ts's keyPositions (a prefix counts as positions 0..n−1, as in HF).
 */
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { FloatDType } from './types.ts';

/** `bias` [B, 1, S, P+S] further limited to keys within `window` positions of each query. */
export function windowBias(bias: Value, positionIds: Value, keyPos: Value, window: number, dtype: FloatDType): Value {
  const dist = op.sub(op.unsqueeze(positionIds, [2]), op.unsqueeze(keyPos, [1])); // [B, S, P+S]
  const inside = op.unsqueeze(op.less(dist, window), [1]);
  const min = dtype === 'float32' ? -3.4028234663852886e38 : -1.7976931348623157e308;
  return op.where(inside, bias, bias.graph.scalar(min, dtype));
}
