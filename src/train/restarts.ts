/**
 * Restarts: an epoch run trains `restarts` trajectories (restart r uses seed `restartSeed(seed, r)`
 * for its example order and random init) for `restartEpochs` of its epochs, each pausing there
 * (a checkpoint) and scored on a dev split there; the best continues alone to the run's end (where
 * the default wsd schedule anneals it), and the best evaluation of all is kept. Without --validation the dev split is carved out of the training file
 * (DEV_FRACTION of its records, at most DEV_MAX, drawn with the run seed) and never trained on,
 * so nothing is selected on the split a user reports. Each restart is an ordinary run in
 * `restarts/rN/` (its own checkpoints, so a kill -9 resumes exactly); the run folder's
 * metrics.jsonl is their trajectories in order, each line tagged with `restart`, then a `select`
 * line naming the winner. docs/seeds.md measures why: one trajectory's accuracy swings by
 * several points with the seed; the best of five, ranked after two of three epochs, much less, at
 * the cost of about three plain runs.
 */
import { host } from '../host.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { createRng, shuffleInPlace } from '../data/rng.ts';
import { readRecords } from '../data/readers.ts';
import type { DataRecord } from '../data/readers.ts';
import { LOCK_FILE } from './run_lock.ts';
import { tensor } from '../tensor.ts';
import type { Params, TrainResult } from './trainer.ts';

/** Share of the training records held out as the dev split when no --validation is given. */
export const DEV_FRACTION = 0.2;
/** At most this many dev examples (each restart scores them once per epoch). */
export const DEV_MAX = 400;
/** Fewer dev examples than this cannot tell restarts apart: the run trains once instead. */
export const DEV_MIN = 20;
export const RESTARTS_DIR = 'restarts';
const RESULT_FILE = 'result.json';

/**
 * Epochs each restart trains before the best on dev continues alone to the run's `epochs`:
 * two thirds, rounded up (2 of 3). Ranking after one epoch picks badly (docs/seeds.md); after two
 * it picks nearly as well as after three, at less cost, so more restarts fit the same time.
 */
export const restartEpochs = (epochs: number): number => Math.ceil((2 * epochs) / 3);

/**
 * The continued leader's prompt is also kept at this many evenly spaced updates of its last epoch;
 * their mean is the adapter when it scores above every evaluation on dev (docs/seeds.md: it lifts
 * the worst seed, as finer evaluation does, for one dev evaluation instead of four per epoch).
 */
export const TAIL_SNAPSHOTS = 4;

/** The updates of the last epoch whose prompts are averaged: k evenly spaced, the last update included. */
export function tailSteps(updatesPerEpoch: number, epochs: number, k = TAIL_SNAPSHOTS): number[] {
  const start = updatesPerEpoch * (epochs - 1);
  return [...new Set(Array.from({ length: k }, (_, j) => start + Math.round(((j + 1) * updatesPerEpoch) / k)))].filter((s) => s > start);
}

/** The element-wise mean of prompts with the same tensors (float32, summed in order). */
export function meanParams(ps: readonly Params[]): Params {
  return Object.fromEntries(Object.keys(ps[0]!).map((k) => {
    const out = new Float32Array(ps[0]![k]!.data.length);
    for (const p of ps) p[k]!.data.forEach((x, i) => (out[i] = out[i]! + x / ps.length));
    return [k, tensor('float32', ps[0]![k]!.shape, out)];
  }));
}

/** Restart r's seed: the run's own for r = 0. */
export const restartSeed = (seed: number, r: number): number => (r === 0 ? seed : seed + 7919 * r);

export const restartDir = (out: string, r: number): string => host().path.join(out, RESTARTS_DIR, `r${r}`);

export interface CarvedDev {
  /** Record indices (file order) held out of training. */
  indices: ReadonlySet<number>;
  records: DataRecord[];
  /** Records in the pool (the file, or its first maxExamples). */
  pool: number;
}

/** Draws the dev split from the first `maxExamples` records (all without it), seeded. */
export async function carveDev(file: string, seed: number, maxExamples?: number): Promise<CarvedDev> {
  const all: DataRecord[] = [];
  for await (const r of readRecords(file)) {
    all.push(r);
    if (maxExamples !== undefined && all.length >= maxExamples) break;
  }
  const n = Math.min(DEV_MAX, Math.floor(all.length * DEV_FRACTION));
  const order = shuffleInPlace([...all.keys()], createRng((Math.imul(seed | 0, 2_654_435_761) ^ 0x5eed) | 0));
  const picked = order.slice(0, n).sort((a, b) => a - b);
  return { indices: new Set(picked), records: picked.map((i) => all[i]!), pool: all.length };
}

/** A finished restart's result, kept so that a resumed run skips it. */
export function readRestartResult(dir: string): TrainResult | null {
  const f = host().path.join(dir, RESULT_FILE);
  return host().fs.existsSync(f) ? (JSON.parse(host().fs.readFileSync(f, 'utf8')) as TrainResult) : null;
}

export function writeRestartResult(dir: string, result: TrainResult): void {
  writeFileAtomic(host().path.join(dir, RESULT_FILE), [new TextEncoder().encode(JSON.stringify(result, null, 2) + '\n')]);
}

/** The restart to keep: the highest best dev value (the earliest on ties). */
export function selectRestart(results: readonly TrainResult[]): number {
  let win = 0;
  results.forEach((r, i) => {
    if ((r.best?.value ?? -Infinity) > (results[win]!.best?.value ?? -Infinity)) win = i;
  });
  return win;
}

/** Copies the adapter files (not folders, logs or locks) of `from` into `to`. */
export function copyAdapterFiles(from: string, to: string): void {
  host().fs.mkdirSync(to, { recursive: true });
  for (const name of host().fs.readdirSync(from)) {
    if (name === 'metrics.jsonl' || name === RESULT_FILE || name.startsWith('.') || name === LOCK_FILE || name === 'report.html') continue;
    if (host().fs.statSync(host().path.join(from, name)).isFile()) host().fs.copyFileSync(host().path.join(from, name), host().path.join(to, name));
  }
}

/** The run's metrics.jsonl: each restart's lines tagged with `restart`, then the selection (when made). */
export function mergeRestartLogs(out: string, restarts: number, select: Record<string, unknown> | null): void {
  const lines: string[] = [];
  for (let r = 0; r < restarts; r++) {
    const f = host().path.join(restartDir(out, r), 'metrics.jsonl');
    if (!host().fs.existsSync(f)) continue;
    for (const line of host().fs.readFileSync(f, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.stringify({ restart: r, ...(JSON.parse(line) as Record<string, unknown>) }));
      } catch {
        // a line torn by a kill: the restart's own log is truncated on resume; skip it here
      }
    }
  }
  if (select) lines.push(JSON.stringify({ event: 'select', ...select }));
  writeFileAtomic(host().path.join(out, 'metrics.jsonl'), [new TextEncoder().encode(lines.join('\n') + '\n')]);
}
