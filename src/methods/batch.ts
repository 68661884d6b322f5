/**
 * Host side of a method: turns a padded token batch into the feeds of a Program,
 * following PEFT exactly (virtual tokens first, mask extended with ones, positions,
 * labels shifted by one and ignored at -100).
 *
 * With {soft:N} slots (TokenBatch.virtualAt) the virtual tokens sit inside each row instead of
 * before it: token t of row b is preceded by the virtual tokens j with virtualAt[b][j] ≤ t, so it
 * lands at sequence slot t + #{j : virtualAt[b][j] ≤ t}. Every slot stays before the row's padding,
 * so the sequence is still [virtual + real tokens, then padding] and the mask and positions are
 * the same as for prepended tokens; only the order of embeddings and the loss positions change.
 *
 * With segments (TokenBatch.segments) a row packs several continuations after one shared prompt:
 * segment 0 (the prompt, and every virtual token) comes first, then blocks 1, 2, … . Each block's
 * tokens take the positions they would have right after the prompt, see only the prompt and their
 * own block (the `segment_ids` feed), and its first token is predicted from the prompt's last slot.
 * So one row scores every candidate as if each followed the prompt alone.
 */
import { SoftpromptError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { IGNORE_INDEX } from '../data/token_batch.ts';
import type { TokenBatch } from '../data/token_batch.ts';
import { FEEDS } from './program.ts';
import type { PromptMethod } from './types.ts';

export { IGNORE_INDEX } from '../data/token_batch.ts';
export type { TokenBatch } from '../data/token_batch.ts';

/**
 * One row's layout with slots: the sequence slot of each real token t, and for each sequence slot
 * the index into the program's table (virtual tokens of all rows, then tokens of all rows).
 */
function layoutRow(at: readonly number[], b: number, B: number, T: number, n: number, order: BigInt64Array, S: number): Int32Array {
  const slot = new Int32Array(T);
  let s = 0;
  let j = 0;
  for (let t = 0; t <= T; t++) {
    while (j < n && at[j] === t) order[b * S + s++] = BigInt(b * n + j++);
    if (t < T) {
      slot[t] = s;
      order[b * S + s++] = BigInt(B * n + b * T + t);
    }
  }
  return slot;
}

function checkVirtualAt(method: PromptMethod | null, batch: TokenBatch, B: number, T: number, n: number): void {
  const at = batch.virtualAt!;
  if (!method || method.kind === 'prefix_tuning') {
    throw new SoftpromptError(`virtual-token positions ({soft:N} slots) need a method that places embeddings, not ${method ? 'prefix tuning' : 'no method'}`);
  }
  if (at.length !== B) throw new SoftpromptError(`virtualAt has ${at.length} rows but the batch has ${B}`);
  for (let b = 0; b < B; b++) {
    const row = at[b]!;
    if (row.length !== n) {
      throw new SoftpromptError(`row ${b}: the template places ${row.length} virtual tokens but the ${method.kind} adapter has ${n}; the {soft:N} slots must add up to its num_virtual_tokens`);
    }
    let len = 0;
    for (let t = 0; t < T; t++) {
      const m = batch.attentionMask.data[b * T + t]!;
      if (m === 1n && len !== t) throw new SoftpromptError(`row ${b}: {soft:N} slots need right-padded rows (mask 1…1 0…0)`);
      if (m === 1n) len++;
    }
    for (let j = 0; j < n; j++) {
      const p = row[j]!;
      if (!Number.isInteger(p) || p < 0 || p > len || (j > 0 && p < row[j - 1]!)) {
        throw new SoftpromptError(`row ${b}: virtual token ${j} is placed before token ${p}; positions must be non-decreasing integers in 0..${len} (the row's length)`);
      }
    }
  }
}

/** Each row's shared-prompt length (its segment-0 tokens), after checking the segments' layout. */
function checkSegments(batch: TokenBatch, B: number, T: number, n: number): number[] {
  const segs = batch.segments!;
  if (segs.length !== B) throw new SoftpromptError(`segments has ${segs.length} rows but the batch has ${B}`);
  return segs.map((row, b) => {
    let len = 0;
    for (let t = 0; t < T; t++) if (batch.attentionMask.data[b * T + t] === 1n) len = t + 1;
    if (row.length !== len) throw new SoftpromptError(`row ${b}: ${row.length} segment ids for ${len} tokens`);
    let shared = 0;
    while (shared < len && row[shared] === 0) shared++;
    if (shared === 0) throw new SoftpromptError(`row ${b}: packed continuations need a shared prompt (segment 0) first`);
    for (let t = shared; t < len; t++) {
      const s = row[t]!;
      const prev = t === shared ? 0 : row[t - 1]!;
      if (!Number.isInteger(s) || (s !== prev && s !== prev + 1) || s === 0) {
        throw new SoftpromptError(`row ${b}: token ${t} has segment ${s}; after the shared prompt (segment 0) the blocks must be numbered 1, 2, … in order`);
      }
    }
    for (let t = 0; t < len; t++) {
      if (batch.attentionMask.data[b * T + t] !== 1n) throw new SoftpromptError(`row ${b}: packed continuations need right-padded rows (mask 1…1 0…0)`);
    }
    const at = batch.virtualAt?.[b];
    if (at && n > 0 && at[n - 1]! > shared) {
      throw new SoftpromptError(`row ${b}: virtual token ${n - 1} is placed before token ${at[n - 1]}, inside a packed continuation; {soft:N} slots must lie in the shared prompt (tokens 0..${shared})`);
    }
    return shared;
  });
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

  if (method?.numTasks !== undefined) {
    const ids = batch.taskIds;
    if (!ids) throw new SoftpromptError(`${method.kind}: every row needs a task id (TokenBatch.taskIds); the adapter has ${method.numTasks} tasks`);
    if (ids.length !== B) throw new SoftpromptError(`${method.kind}: ${ids.length} task ids for a batch of ${B} rows`);
    ids.forEach((id, b) => {
      if (!Number.isInteger(id) || id < 0 || id >= method.numTasks!) {
        throw new SoftpromptError(`${method.kind}: row ${b} has task id ${id}, but the adapter's tasks are 0..${method.numTasks! - 1}`);
      }
    });
    feeds[FEEDS.taskIds] = tensor('int64', [B], BigInt64Array.from(ids, BigInt));
  } else if (batch.taskIds) {
    throw new SoftpromptError(`rows carry task ids but the ${method?.kind ?? 'base model'} has no per-task prompts (only multitask prompt tuning does)`);
  }

  // slot[b][t]: the sequence slot of real token t.
  let slotOf: (b: number, t: number) => number = (_b, t) => (inSequence ? n + t : t);
  if (batch.virtualAt) {
    checkVirtualAt(method, batch, B, T, n);
    const order = new BigInt64Array(B * S);
    const slots = batch.virtualAt.map((at, b) => layoutRow(at, b, B, T, n, order, S));
    slotOf = (b, t) => slots[b]![t]!;
    feeds[FEEDS.sequenceOrder] = tensor('int64', [B, S], order);
  }

  // prevSlot(b, t): the sequence slot whose logit predicts token t.
  let prevSlot = (b: number, t: number): number => slotOf(b, t) - 1;
  if (batch.segments) {
    const segs = batch.segments;
    const shared = checkSegments(batch, B, T, n); // ≥ 1 each, so row[t - 1] below exists
    const ids = new BigInt64Array(B * M); // key slots: prefix slots (if any), then sequence slots
    const keyBase = inSequence ? 0 : n;
    // The last slot of the shared part: its last token, or a virtual token placed after it.
    const sharedEnd = shared.map((P, b) => slotOf(b, P - 1) + (batch.virtualAt?.[b]!.filter((p) => p === P).length ?? 0));
    const blockFirst = segs.map(() => new Set<number>()); // tokens that open a block
    for (let b = 0; b < B; b++) {
      const row = segs[b]!;
      let start = 0;
      for (let t = shared[b]!; t < row.length; t++) {
        if (row[t] !== row[t - 1]) {
          start = t;
          blockFirst[b]!.add(t);
        }
        const s = slotOf(b, t);
        ids[b * M + keyBase + s] = BigInt(row[t]!);
        // As if the block followed the shared part directly (pos is already the position_ids feed).
        pos[b * S + s] = BigInt(offset + sharedEnd[b]! + 1 + (t - start));
      }
    }
    feeds[FEEDS.segmentIds] = tensor('int64', [B, M], ids);
    const base = prevSlot;
    prevSlot = (b, t) => (blockFirst[b]!.has(t) ? sharedEnd[b]! : base(b, t));
  }

  if (batch.labels) {
    // Logit at sequence slot s predicts the token at slot s+1. Slots of virtual tokens have no label.
    const positions: bigint[] = [];
    const targets: bigint[] = [];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const y = batch.labels.data[b * T + t]!;
        if (y === BigInt(IGNORE_INDEX)) continue;
        const s = prevSlot(b, t);
        if (s < 0) continue; // the first token has nothing before it
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
