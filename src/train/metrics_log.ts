/**
 * metrics.jsonl: one JSON object per line for every update, evaluation and run event.
 * Each line goes out in a single append, so a kill leaves at most one partial last line.
 * On resume the log is cut back to the checkpoint's step, so it reads like one
 * uninterrupted run.
 */
import { host } from '../host.ts';
import { writeFileAtomic } from '../formats/atomic.ts';

export type MetricsEvent = { event: string; step: number } & Record<string, unknown>;

export class MetricsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Starts an empty log (a fresh run). */
  reset(): void {
    writeFileAtomic(this.path, []);
  }

  /** Keeps the events up to `step` (inclusive) and drops the rest, including a torn last line. */
  truncateAfter(step: number): number {
    if (!host().fs.existsSync(this.path)) {
      this.reset();
      return 0;
    }
    const kept: string[] = [];
    let dropped = 0;
    for (const line of host().fs.readFileSync(this.path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      let e: MetricsEvent | null = null;
      try {
        e = JSON.parse(line) as MetricsEvent;
      } catch {
        e = null; // a line torn by the kill
      }
      if (e && typeof e.step === 'number' && e.step <= step) kept.push(line);
      else dropped++;
    }
    writeFileAtomic(this.path, [new TextEncoder().encode(kept.map((l) => l + '\n').join(''))]);
    return dropped;
  }

  write(e: MetricsEvent): void {
    host().fs.appendFileSync(this.path, JSON.stringify(e) + '\n');
  }

  /** All events in the log (for tests and reports). */
  static read(path: string): MetricsEvent[] {
    return host().fs.readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as MetricsEvent);
  }
}
