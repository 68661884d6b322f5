/**
 * Terminal output: aligned tables for stdout, warnings and a progress line for stderr. Results go
 * to stdout and everything else to stderr, so `--json | tail -1` stays one JSON object.
 */

/** Where a command writes: results (stdout) and messages (stderr). */
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Show a progress line on stderr (only sensible on a terminal). */
  readonly progress: boolean;
}

export const processIo: Io = {
  out: (line) => void process.stdout.write(`${line}\n`),
  err: (line) => void process.stderr.write(`${line}\n`),
  progress: process.stderr.isTTY === true,
};

export type Align = 'left' | 'right';

/** Rows of cells padded into columns two spaces apart; `align` per column (default left). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** 0.45 -> "45.0%". */
export function percent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** A string shown on one line: JSON-quoted (so newlines read as \n) and shortened. */
export function oneLine(text: string, max = 70): string {
  const q = JSON.stringify(text);
  return q.length <= max ? q : `${q.slice(0, max - 4)}..."`;
}

/** A "label: done/total" line rewritten in place on stderr; silent unless `io.progress`. */
export class Progress {
  #last = 0;
  #shown = false;
  constructor(readonly io: Io) {}

  update(label: string, done: number, total: number): void {
    if (!this.io.progress) return;
    const now = Date.now();
    if (done < total && now - this.#last < 100) return;
    this.#last = now;
    this.#shown = true;
    process.stderr.write(`\r${label}: ${done}/${total}\x1b[K`);
  }

  /** Clears the line. */
  end(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}
