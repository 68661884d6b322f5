/**
 * A padded token batch as collation (data/collate.ts) makes it and a method's host side
 * (methods/batch.ts) turns it into feeds. It lives in data/ because data/ is below methods/.
 */
import type { Tensor } from '../tensor.ts';

export const IGNORE_INDEX = -100;

export interface TokenBatch {
  /** [B, T] token ids (right-padded). */
  readonly inputIds: Tensor<'int64'>;
  /** [B, T] 1 for real tokens, 0 for padding. */
  readonly attentionMask: Tensor<'int64'>;
  /** [B, T] targets, IGNORE_INDEX where not counted; omit for forward-only use. */
  readonly labels?: Tensor<'int64'>;
  /**
   * Per row, for each of the method's n virtual tokens, the index of the real token it goes
   * before (0..row length, non-decreasing); a Program built with softSlots needs it. Omitted: all
   * before the input, as PEFT does.
   */
  readonly virtualAt?: readonly (readonly number[])[];
  /** Per row, the task id (methods with numTasks, i.e. multitask prompt tuning). */
  readonly taskIds?: readonly number[];
  /**
   * Per row, the segment of each real token: 0 for the shared prompt (a prefix of the row), then
   * blocks numbered 1, 2, … in order; needs a Program built with segments. Padding needs none.
   */
  readonly segments?: readonly (readonly number[])[];
}
