/**
 * A run folder's metrics.jsonl read for a report: lenient (a line torn by a kill is counted and
 * skipped, not fatal) and typed into the series the charts need.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsEvent } from '../train/metrics_log.ts';

export const METRICS_FILE = 'metrics.jsonl';

export interface StepPoint {
  readonly step: number;
  readonly epoch: number | null;
  readonly loss: number;
  readonly lr: number | null;
  readonly gradNorm: number | null;
}

export interface EvalPoint {
  readonly step: number;
  readonly epoch: number | null;
  readonly accuracy: number | null;
  readonly macroF1: number | null;
  readonly n: number | null;
  readonly best: boolean;
  /** Everything else the event holds (e.g. per-class counts, if a later trainer logs them). */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface RunLog {
  readonly path: string;
  readonly exists: boolean;
  readonly events: readonly MetricsEvent[];
  readonly steps: readonly StepPoint[];
  readonly evals: readonly EvalPoint[];
  readonly starts: readonly MetricsEvent[];
  readonly resumes: readonly MetricsEvent[];
  readonly errors: readonly MetricsEvent[];
  readonly stop: MetricsEvent | null;
  /** Lines that were not JSON events (a torn last line after a kill). */
  readonly skippedLines: number;
}

const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Reads RUN_DIR/metrics.jsonl; a missing file gives an empty log with exists false. */
export function readRunLog(runDir: string): RunLog {
  const path = join(runDir, METRICS_FILE);
  const events: MetricsEvent[] = [];
  let skippedLines = 0;
  const exists = existsSync(path);
  if (exists) {
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const e = JSON.parse(line) as unknown;
        if (typeof e === 'object' && e !== null && typeof (e as MetricsEvent).event === 'string' && typeof (e as MetricsEvent).step === 'number') events.push(e as MetricsEvent);
        else skippedLines++;
      } catch {
        skippedLines++;
      }
    }
  }
  const of = (kind: string): MetricsEvent[] => events.filter((e) => e.event === kind);
  const steps = of('step')
    .filter((e) => numOrNull(e['loss']) !== null)
    .map((e): StepPoint => ({ step: e.step, epoch: numOrNull(e['epoch']), loss: e['loss'] as number, lr: numOrNull(e['lr']), gradNorm: numOrNull(e['grad_norm']) }));
  const known = new Set(['event', 'step', 'epoch', 'accuracy', 'macro_f1', 'n', 'best']);
  const evals = of('eval').map(
    (e): EvalPoint => ({
      step: e.step,
      epoch: numOrNull(e['epoch']),
      accuracy: numOrNull(e['accuracy']),
      macroF1: numOrNull(e['macro_f1']),
      n: numOrNull(e['n']),
      best: e['best'] === true,
      extra: Object.fromEntries(Object.entries(e).filter(([k]) => !known.has(k))),
    }),
  );
  const stops = of('stop');
  return { path, exists, events, steps, evals, starts: of('start'), resumes: of('resume'), errors: of('error'), stop: stops.at(-1) ?? null, skippedLines };
}
