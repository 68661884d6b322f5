/**
 * Flag parsing shared by the commands: integers, shot lists, template text (with `\n` escapes
 * and `@file`), and verbalizers given inline or as a file.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { SoftpromptError } from '../errors.ts';
import { Verbalizer } from '../data/verbalizer.ts';

/** A commander parser for an integer flag of at least `min`. */
export function intArg(min: number): (value: string) => number {
  return (value: string): number => {
    const n = Number(value.trim());
    // Safe integers only: 1e20 is an integer to JavaScript but not one a seed or count can hold exactly.
    if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected an integer >= ${min}${Number.isInteger(n) && n > 0 ? ` and at most ${Number.MAX_SAFE_INTEGER}` : ''}, got "${value}"`);
    }
    return n;
  };
}

/** Node's timers hold at most 2^31 - 1 ms (about 24.8 days); a longer delay silently becomes 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A commander parser for a millisecond flag handed to setTimeout: an integer in [min, MAX_TIMER_MS]. */
export function timerArg(min: number): (value: string) => number {
  const int = intArg(min);
  return (value: string): number => {
    const n = int(value);
    if (n > MAX_TIMER_MS) throw new InvalidArgumentError(`expected at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer Node keeps), got "${value}"`);
    return n;
  };
}

/**
 * `--shots`: one count (`4`) or a comma list (`0,1,4`), also a JSON list (`[0, 1, 4]`, as a
 * config file's list arrives). A repeated count is kept once; the order is kept.
 */
export function parseShots(value: string): number[] {
  let items: unknown[];
  const trimmed = value.trim();
  if (trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      if (!Array.isArray(parsed)) throw new Error('not a list');
      items = parsed;
    } catch {
      throw new InvalidArgumentError(`expected a count or a list of counts like 0,1,4, got "${value}"`);
    }
  } else {
    items = trimmed.split(',').map((s) => s.trim());
  }
  const out: number[] = [];
  for (const item of items) {
    const n = typeof item === 'number' ? item : typeof item === 'string' && item !== '' ? Number(item) : NaN;
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a count or a list of counts like 0,1,4 (each a whole number >= 0), got "${value}"`);
    if (!out.includes(n)) out.push(n);
  }
  if (out.length === 0) throw new InvalidArgumentError(`expected a count or a list of counts like 0,1,4, got "${value}"`);
  return out;
}

/** Command-line escapes for text flags: `\n` newline, `\t` tab, `\\` backslash (shells make real newlines awkward). */
export function unescapeCli(text: string): string {
  return text.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

/** Text from a flag, and where it came from (for messages). */
export interface TextArg {
  readonly text: string;
  /** The file it was read from, or the flag name. */
  readonly origin: string;
}

/**
 * A text flag such as `--template`: `@path` reads the file (as it is, no escapes; `@@` starts a
 * literal "@"); otherwise the text itself, with {@link unescapeCli} applied when it was typed on
 * the command line (`fromCli`), not when a config file gave it (YAML/JSON have their own escapes).
 */
export function textArg(value: string, flag: string, fromCli: boolean): TextArg {
  if (value.startsWith('@@')) return { text: (fromCli ? unescapeCli(value) : value).slice(1), origin: flag };
  if (value.startsWith('@')) {
    const path = value.slice(1);
    try {
      return { text: readFileSync(path, 'utf8').replace(/\r?\n$/, ''), origin: path };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new SoftpromptError(`${flag} ${value}: ${code === 'ENOENT' ? `no such file "${path}"` : `cannot read "${path}": ${e instanceof Error ? e.message : String(e)}`}`);
    }
  }
  return { text: fromCli ? unescapeCli(value) : value, origin: flag };
}

/**
 * `--verbalizer`: inline JSON (`{"girl": " girl", "boy": " boy"}`) or the path of a JSON file.
 * Text that parses as a JSON object is used as it is; otherwise it must name a file.
 */
export function verbalizerArg(value: string, flag = '--verbalizer'): Verbalizer {
  let jsonProblem: string;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) return new Verbalizer(parsed as Record<string, string>, flag);
    jsonProblem = `is JSON but not an object of label -> text`;
  } catch (e) {
    jsonProblem = `is not inline JSON (${e instanceof Error ? e.message : String(e)})`;
  }
  if (existsSync(value) && statSync(value).isFile()) return Verbalizer.fromJson(readFileSync(value, 'utf8'), value);
  const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
  throw new SoftpromptError(
    `${flag} ${JSON.stringify(shown)} ${jsonProblem}, and no file has that path; pass a JSON object such as '{"girl": " girl", "boy": " boy"}' or a JSON file`,
  );
}

/** The value of a required option, or a SoftpromptError saying which flag to pass. */
export function required<T>(value: T | undefined, flag: string, what: string): T {
  if (value === undefined || value === '') throw new SoftpromptError(`missing ${flag}: ${what}`);
  return value;
}
