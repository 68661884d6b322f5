/**
 * Host side of a method: turns a padded token batch into the feeds of a Program,
 * following PEFT exactly (virtual tokens first, mask extended with ones, positions,
 * labels shifted by one and ignored at -100).
 */
import { SoftpromptError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { FEEDS } from './program.ts';
import type { PromptMethod } from './types.ts';

export const IGNORE_INDEX = -100;

export interface TokenBatch {
  /** [B, T] token ids (right-padded). */
  readonly inputIds: Tensor<'int64'>;
  /** [B, T] 1 for real tokens, 0 for padding. */
  readonly attentionMask: Tensor<'int64'>;
  /** [B, T] targets, IGNORE_INDEX where not counted; omit for forward-only use. */
  readonly labels?: Tensor<'int64'>;
}

/** The feeds for `batch`, without the method's params (the caller adds those). */
export function batchFeeds(method: PromptMethod | null, batch: TokenBatch): Record<string, Tensor> {
  const [B, T] = batch.inputIds.shape as [number, number];
  const n = method?.numVirtualTokens ?? 0;
  const inSequence = method !== null && method.kind !== 'prefix_tuning'; // virtual tokens occupy sequence slots
  const S = inSequence ? n + T : T;
  const M = n + T;

  const mask = new BigInt64Array(B * M);
  const pos = new BigInt64Array(B * S);
  const offset = inSequence ? 0 : n; // prefix tokens take positions 0..n-1, the real ones n..
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < n; j++) mask[b * M + j] = 1n;
    for (let t = 0; t < T; t++) mask[b * M + n + t] = batch.attentionMask.data[b * T + t]!;
    for (let s = 0; s < S; s++) pos[b * S + s] = BigInt(offset + s);
  }
  const feeds: Record<string, Tensor> = {
    [FEEDS.inputIds]: batch.inputIds,
    [FEEDS.attentionMask]: tensor('int64', [B, M], mask),
    [FEEDS.positionIds]: tensor('int64', [B, S], pos),
  };

  if (batch.labels) {
    // Logit at sequence slot s predicts the label at slot s+1. Slots of virtual tokens have no label.
    const lead = inSequence ? n : 0;
    const positions: bigint[] = [];
    const targets: bigint[] = [];
    for (let b = 0; b < B; b++) {
      for (let s = 0; s + 1 < S; s++) {
        const t = s + 1 - lead; // index of the label in the real sequence
        if (t < 0) continue;
        const y = batch.labels.data[b * T + t]!;
        if (y === BigInt(IGNORE_INDEX)) continue;
        positions.push(BigInt(b * S + s));
        targets.push(y);
      }
    }
    if (positions.length === 0) throw new SoftpromptError('batch has no counted label (every label is -100): nothing to train or score');
    feeds[FEEDS.lossPositions] = tensor('int64', [positions.length], BigInt64Array.from(positions));
    feeds[FEEDS.lossTargets] = tensor('int64', [targets.length], BigInt64Array.from(targets));
  }
  return feeds;
}
