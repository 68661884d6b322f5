/**
 * Config files for any command: `--config FILE` (JSON or YAML) may supply every flag of the
 * command. Keys are flag names (`max-examples`, or camelCase `maxExamples`); a config value
 * beats the flag's default and loses to the flag given on the command line.
 *
 * Values go through the same parser as the flag (so numbers, choices and lists are checked the
 * same way); paths in a config are taken as they are, relative to the working directory, as if
 * typed on the command line.
 */
import { readFileSync } from 'node:fs';
import type { Command, Option } from 'commander';
import { isMap, isScalar, LineCounter, parseDocument } from 'yaml';
import { SoftpromptError } from '../errors.ts';

/** A config file is unreadable, malformed, or holds an unknown key or a value of the wrong type. */
export class ConfigFileError extends SoftpromptError {
  constructor(
    readonly file: string,
    readonly detail: string,
    readonly key?: string,
    readonly line?: number,
  ) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${key === undefined ? '' : `key "${key}": `}${detail}`);
  }
}

/** A parsed JSON or YAML file, with the 1-based line of any node in it (for messages). */
export interface StructuredFile {
  readonly file: string;
  readonly value: unknown;
  /** The line where the node at `path` (keys and list indices) starts, if known. */
  lineOf(path: readonly (string | number)[]): number | undefined;
  /** The line of a top-level key's name (not its value), if known. */
  keyLine(key: string): number | undefined;
}

/**
 * Reads a JSON or YAML file. YAML 1.2 reads JSON too, so both get line numbers in messages; a
 * syntax error or a duplicate key is a ConfigFileError naming the file and line.
 */
export function readStructuredFile(file: string, what = 'file'): StructuredFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigFileError(file, code === 'ENOENT' ? `no such ${what}` : `cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (/\.json$/i.test(file)) {
    // YAML would accept what JSON does not (trailing commas, comments): hold .json files to JSON.
    try {
      JSON.parse(text);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const at = /position (\d+)/.exec(message);
      const line = at ? text.slice(0, Number(at[1])).split('\n').length : undefined;
      throw new ConfigFileError(file, `not valid JSON: ${message}`, undefined, line);
    }
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const err = doc.errors[0];
  if (err) {
    const line = err.linePos?.[0].line ?? lineCounter.linePos(err.pos[0]).line;
    throw new ConfigFileError(file, `not valid ${/\.json$/i.test(file) ? 'JSON' : 'YAML/JSON'}: ${err.message.split('\n')[0]}`, undefined, line);
  }
  return {
    file,
    value: doc.toJS() as unknown,
    lineOf(path) {
      const node: unknown = path.length === 0 ? doc.contents : doc.getIn(path, true);
      const range = (node as { range?: [number, number, number] } | null)?.range;
      return range ? lineCounter.linePos(range[0]).line : undefined;
    },
    keyLine(key) {
      if (!isMap(doc.contents)) return undefined;
      for (const pair of doc.contents.items) {
        if (isScalar(pair.key) && String(pair.key.value) === key && pair.key.range) return lineCounter.linePos(pair.key.range[0]).line;
      }
      return undefined;
    },
  };
}

export interface ConfigOptionSettings {
  /**
   * Attribute names (camelCase) of options whose config value may be a list or a mapping: it
   * reaches the option's parser as JSON text (e.g. `shots: [0, 1, 4]`, `verbalizer: {girl: " girl"}`).
   */
  structured?: readonly string[];
}

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `the text ${JSON.stringify(value.length > 40 ? value.slice(0, 37) + '...' : value)}`;
  return `${typeof value} ${String(value)}`;
}

/** The option a config key names: `--max-examples` by `max-examples` or `maxExamples`. */
function findOption(cmd: Command, key: string): Option | undefined {
  const named = (o: Option): boolean => o.long === `--${key}` || o.attributeName() === key || o.long === `--${kebab(key)}`;
  // `foo: false` may mean --no-foo; the positive --foo wins when both exist.
  return cmd.options.find((o) => !o.negate && named(o)) ?? cmd.options.find((o) => o.negate && named(o));
}

/** Converts one config value to what the option would hold had it been given as a flag. */
function optionValue(cmd: Command, option: Option, raw: unknown, structured: ReadonlySet<string>, fail: (detail: string) => never): unknown {
  const name = option.attributeName();
  if (option.isBoolean() || option.negate) {
    if (typeof raw !== 'boolean') fail(`${option.long} is a switch; the value must be true or false, not ${describe(raw)}`);
    return raw;
  }
  if (option.optional && raw === true) return option.presetArg ?? true;
  const scalarText = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : typeof v === 'number' && Number.isFinite(v) && option.parseArg ? String(v) : undefined;
  const parse = (text: string, previous: unknown): unknown => {
    if (!option.parseArg) return option.variadic ? [...(Array.isArray(previous) ? (previous as unknown[]) : []), text] : text;
    try {
      return option.parseArg(text, previous);
    } catch (e) {
      return fail(`${option.flags}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  if (Array.isArray(raw) && option.variadic && !structured.has(name)) {
    let acc: unknown = undefined;
    for (const item of raw) {
      const text = scalarText(item);
      if (text === undefined) fail(`${option.flags}: each item must be ${option.parseArg ? 'a value' : 'text'}, not ${describe(item)}`);
      acc = parse(text!, acc);
    }
    return acc;
  }
  let text = scalarText(raw);
  if (text === undefined && raw !== null && typeof raw === 'object' && structured.has(name)) text = JSON.stringify(raw);
  if (text === undefined) fail(`${option.flags} takes ${option.parseArg ? 'a value' : 'text'}, not ${describe(raw)}`);
  return parse(text!, option.variadic ? undefined : (cmd.getOptionValue(name) as unknown));
}

/**
 * Applies a config file to `cmd`'s option values: every key must name one of its options, and
 * a value is only set where the option was not given on the command line (its source is its
 * default, or it has none). Throws ConfigFileError naming the file, key and (where known) line.
 */
export function applyConfigFile(cmd: Command, file: string, settings: ConfigOptionSettings = {}): void {
  const parsed = readStructuredFile(file, 'config file');
  const { value } = parsed;
  if (value === null || value === undefined) return; // an empty file sets nothing
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigFileError(file, `a config file must be a mapping of flag names to values (e.g. "max-examples: 100"), not ${describe(value)}`);
  }
  const structured = new Set(settings.structured ?? []);
  const seen = new Map<string, string>();
  const known = (): string => [
    ...new Set(cmd.options.filter((o) => o.long !== undefined && o.long !== '--config').map((o) => (o.negate ? o.attributeName() : o.long!.slice(2)))),
  ].join(', ');
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    const line = parsed.keyLine(key);
    const fail = (detail: string): never => {
      throw new ConfigFileError(file, detail, key, line);
    };
    const option = findOption(cmd, key);
    if (!option || option.long === '--config') {
      fail(`unknown key for "${cmd.name()}"; known keys: ${known()}`);
    }
    const name = option!.attributeName();
    const earlier = seen.get(name);
    if (earlier !== undefined) fail(`sets ${option!.long} again (already set by key "${earlier}")`);
    seen.set(name, key);
    const converted = optionValue(cmd, option!, raw, structured, fail);
    const source = cmd.getOptionValueSource(name);
    if (source === undefined || source === 'default') cmd.setOptionValueWithSource(name, converted, 'config');
  }
}

/**
 * Equips `cmd` with `--config FILE`: before the action runs, the file's values fill in every
 * option not given on the command line. Returns `cmd` for chaining.
 */
export function withConfigFile(cmd: Command, settings: ConfigOptionSettings = {}): Command {
  cmd.option('--config <file>', 'read options from a JSON or YAML file (keys are flag names; flags on the command line win)');
  cmd.hook('preAction', (_hooked, actionCommand) => {
    if (actionCommand !== cmd) return;
    const file = cmd.getOptionValue('config') as string | undefined;
    if (file !== undefined) applyConfigFile(cmd, file, settings);
  });
  return cmd;
}
