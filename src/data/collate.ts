/**
 * Collation into TokenBatch (token_batch.ts) and length bucketing.
 *
 * A training row is prompt ++ target: the labels are IGNORE_INDEX over the prompt and the target
 * ids over the answer, so the loss is on the answer only (classification prompt tuning).
 * Rows are right-padded with the pad id and masked out.
 */
import { IGNORE_INDEX } from './token_batch.ts';
import type { TokenBatch } from './token_batch.ts';
import { tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { DataError } from './errors.ts';
import type { Rng } from './rng.ts';
import { shuffleInPlace } from './rng.ts';

/** What collation needs of an example (EncodedExample has it). */
export interface PromptTarget {
  readonly promptIds: readonly number[];
  readonly targetIds: readonly number[];
  /** Where the virtual tokens go in promptIds ({soft:N} slots); see EncodedExample. */
  readonly softAt?: readonly number[];
  /** Task id (multitask prompt tuning). */
  readonly taskId?: number;
}

/** The per-row virtual-token positions and task ids of a batch, when its examples have them. */
export function placementOf(examples: readonly Pick<PromptTarget, 'softAt' | 'taskId'>[]): Pick<TokenBatch, 'virtualAt' | 'taskIds'> {
  const out: { virtualAt?: (readonly number[])[]; taskIds?: number[] } = {};
  const withSoft = examples.filter((e) => e.softAt !== undefined).length;
  if (withSoft > 0) {
    if (withSoft !== examples.length) throw new DataError('some examples of a batch have {soft:N} slot positions and some do not; encode them all with one template');
    out.virtualAt = examples.map((e) => e.softAt!);
  }
  const withTask = examples.filter((e) => e.taskId !== undefined).length;
  if (withTask > 0) {
    if (withTask !== examples.length) throw new DataError('some examples of a batch have a task id and some do not');
    out.taskIds = examples.map((e) => e.taskId!);
  }
  return out;
}

/** The id used for padding: the tokenizer's pad token, else EOS, else 0. */
export function padIdOf(tokenizer: Pick<Tokenizer, 'padTokenId' | 'eosTokenId'>): number {
  return tokenizer.padTokenId ?? tokenizer.eosTokenId ?? 0;
}

/** Length of an example's training row. */
export function exampleLength(e: PromptTarget): number {
  return e.promptIds.length + e.targetIds.length;
}

export interface CollateOptions {
  padId: number;
  /** Pad every row to at least this length (e.g. a fixed compiled shape). Default: the longest row. */
  padTo?: number;
}

/** Right-padded training batch: input_ids = prompt ++ target, labels only on the target. */
export function collateTrain(examples: readonly PromptTarget[], opts: CollateOptions): TokenBatch {
  if (examples.length === 0) throw new DataError('cannot collate an empty batch');
  const B = examples.length;
  let T = opts.padTo ?? 0;
  for (const e of examples) {
    if (e.targetIds.length === 0) throw new DataError('example has no target ids (unlabelled?); a training batch needs an answer to score');
    T = Math.max(T, exampleLength(e));
  }
  const ids = new BigInt64Array(B * T).fill(BigInt(opts.padId));
  const mask = new BigInt64Array(B * T);
  const labels = new BigInt64Array(B * T).fill(BigInt(IGNORE_INDEX));
  for (let b = 0; b < B; b++) {
    const e = examples[b]!;
    const row = b * T;
    const P = e.promptIds.length;
    for (let t = 0; t < P; t++) ids[row + t] = BigInt(e.promptIds[t]!);
    for (let t = 0; t < e.targetIds.length; t++) {
      ids[row + P + t] = BigInt(e.targetIds[t]!);
      labels[row + P + t] = BigInt(e.targetIds[t]!);
    }
    for (let t = 0; t < P + e.targetIds.length; t++) mask[row + t] = 1n;
  }
  return {
    inputIds: tensor('int64', [B, T], ids),
    attentionMask: tensor('int64', [B, T], mask),
    labels: tensor('int64', [B, T], labels),
    ...placementOf(examples),
  };
}

/**
 * Forward-only batch of prompts (no labels), right-padded; e.g. for scoring or generation setup.
 */
export function collatePrompts(prompts: readonly (readonly number[])[], opts: CollateOptions): TokenBatch {
  if (prompts.length === 0) throw new DataError('cannot collate an empty batch');
  const B = prompts.length;
  let T = opts.padTo ?? 0;
  for (const p of prompts) T = Math.max(T, p.length);
  const ids = new BigInt64Array(B * T).fill(BigInt(opts.padId));
  const mask = new BigInt64Array(B * T);
  for (let b = 0; b < B; b++) {
    const p = prompts[b]!;
    for (let t = 0; t < p.length; t++) {
      ids[b * T + t] = BigInt(p[t]!);
      mask[b * T + t] = 1n;
    }
  }
  return { inputIds: tensor('int64', [B, T], ids), attentionMask: tensor('int64', [B, T], mask) };
}

export interface BucketOptions<T> {
  /** Length used for grouping. Default: prompt + target length. */
  lengthOf?: (item: T) => number;
  /** How many batches' worth of examples are sorted together. Default 50. */
  chunkBatches?: number;
}

/**
 * One epoch's batches, grouped by similar length to minimise padding while staying random:
 * shuffle all examples, cut them into chunks of `batchSize * chunkBatches`, sort each chunk by
 * length, cut it into batches, then shuffle the order of all batches. Every example appears in
 * exactly one batch; only the last batch of each chunk may be smaller than `batchSize`.
 */
export function bucketBatches<T extends PromptTarget>(items: readonly T[], batchSize: number, rng: Rng, opts?: BucketOptions<T>): T[][];
export function bucketBatches<T>(items: readonly T[], batchSize: number, rng: Rng, opts: BucketOptions<T> & { lengthOf: (item: T) => number }): T[][];
export function bucketBatches<T>(items: readonly T[], batchSize: number, rng: Rng, opts: BucketOptions<T> = {}): T[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const lengthOf = opts.lengthOf ?? ((item: T) => exampleLength(item as unknown as PromptTarget));
  const chunkBatches = opts.chunkBatches ?? 50;
  const order = shuffleInPlace(
    items.map((_, i) => i),
    rng,
  );
  const lengths = items.map(lengthOf);
  const chunk = batchSize * Math.max(1, chunkBatches);
  const batches: T[][] = [];
  for (let start = 0; start < order.length; start += chunk) {
    const part = order.slice(start, start + chunk).sort((a, b) => lengths[a]! - lengths[b]!);
    for (let i = 0; i < part.length; i += batchSize) batches.push(part.slice(i, i + batchSize).map((j) => items[j]!));
  }
  return shuffleInPlace(batches, rng);
}

/** Padding tokens a list of batches would carry (for measuring bucketing). */
export function paddingOf<T extends PromptTarget>(batches: readonly (readonly T[])[]): number {
  let pad = 0;
  for (const batch of batches) {
    const lens = batch.map(exampleLength);
    const T = Math.max(...lens);
    for (const l of lens) pad += T - l;
  }
  return pad;
}
