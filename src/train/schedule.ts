/**
 * Learning-rate schedules, as HF transformers defines them (get_constant_schedule_with_warmup,
 * get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup): update k (0-based) uses
 * lr · λ(k), so the first update after warmup runs at the full rate and a linear schedule's
 * last update is at lr / (total − warmup), never 0. `wsd` (warmup–stable–decay; Hägele et al. 2024,
 * "Scaling Laws and Compute-Optimal Training Beyond Fixed Training Durations") holds the rate
 * constant and decays it linearly over the last third of the updates, the same way.
 */
import { SoftpromptError } from '../errors.ts';

export const SCHEDULES = ['constant', 'linear', 'cosine', 'wsd'] as const;
export type ScheduleKind = (typeof SCHEDULES)[number];

export interface ScheduleOptions {
  kind: ScheduleKind;
  /** Peak learning rate. */
  lr: number;
  /** Updates of linear warmup from 0 (default 0). */
  warmupSteps?: number;
  /** Total optimizer updates of the run (needed by linear, cosine and wsd). */
  totalSteps: number;
}

export class ScheduleError extends SoftpromptError {}

export function parseSchedule(name: string, where = '--schedule'): ScheduleKind {
  if ((SCHEDULES as readonly string[]).includes(name)) return name as ScheduleKind;
  throw new ScheduleError(`${where}: unknown schedule "${name}"; use one of ${SCHEDULES.join(', ')}`);
}

/** The multiplier λ(step) of the peak rate for update `step` (0-based). */
export function scheduleFactor(opts: ScheduleOptions, step: number): number {
  const warmup = opts.warmupSteps ?? 0;
  if (step < warmup) return step / Math.max(1, warmup);
  const total = opts.totalSteps;
  switch (opts.kind) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (total - step) / Math.max(1, total - warmup));
    case 'cosine': {
      const progress = (step - warmup) / Math.max(1, total - warmup);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
    case 'wsd': {
      // The decay spans the last third of the updates after warmup, so a 3-epoch run anneals
      // in its third epoch: the epoch the restarts recipe spends on its leader alone.
      const decay = Math.max(1, Math.round((total - warmup) / 3));
      return Math.max(0, Math.min(1, (total - step) / decay));
    }
  }
}

/** A checked schedule: returns the learning rate for update `step`. */
export function makeSchedule(opts: ScheduleOptions): (step: number) => number {
  if (!(Number.isFinite(opts.lr) && opts.lr > 0)) throw new ScheduleError(`learning rate must be a finite number > 0, got ${opts.lr}`);
  const warmup = opts.warmupSteps ?? 0;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new ScheduleError(`warmup steps must be an integer >= 0, got ${warmup}`);
  if (!(Number.isInteger(opts.totalSteps) && opts.totalSteps >= 1)) throw new ScheduleError(`total steps must be an integer >= 1, got ${opts.totalSteps}`);
  if (warmup > opts.totalSteps) throw new ScheduleError(`warmup (${warmup} steps) is longer than the run (${opts.totalSteps} steps)`);
  parseSchedule(opts.kind);
  return (step) => opts.lr * scheduleFactor(opts, step);
}
