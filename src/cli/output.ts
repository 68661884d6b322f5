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
