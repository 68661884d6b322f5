/**
 * Verbalizers: each label's continuation text, e.g. {"girl": " girl", "boy": " boy"}.
 * A value is the literal text that follows the rendered template (a leading space is part of
 * it) and may be several tokens long. It is tokenized together with the prompt
 * (Tokenizer.encodeContinuation), so its ids are the ones the model sees after the prompt.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { DataError } from './errors.ts';
import type { DataRecord } from './readers.ts';

/** The prompt's ids and every label's continuation ids after them, in {@link Verbalizer.labels} order. */
export interface VerbalizedPrompt {
  /** Prompt ids (with BOS where the tokenizer adds one), shared by every candidate. */
  promptIds: number[];
  /** candidates[i]: ids of labels[i]'s continuation after `promptIds`. */
  candidates: number[][];
}

/** A specifier bundlers leave alone (the browser core never calls fromFile). */
const NODE_FS_PROMISES: string = 'node:fs/promises';

export class Verbalizer {
  /** Labels in the order the verbalizer file lists them; candidate indices follow this order. */
  readonly labels: readonly string[];
  /** Where it came from (file), for messages. */
  readonly source: string | undefined;
  readonly #map: ReadonlyMap<string, string>;

  constructor(entries: Readonly<Record<string, string>>, source?: string) {
    const map = new Map<string, string>();
    for (const [label, text] of Object.entries(entries)) {
      if (typeof text !== 'string') {
        throw new DataError(`verbalizer entry for label "${label}" must be a string (the continuation text), got ${text === null ? 'null' : typeof text}`, {
          file: source,
          field: label,
        });
      }
      if (text === '') throw new DataError(`verbalizer entry for label "${label}" is empty; it must be the text that follows the prompt`, { file: source, field: label });
      map.set(label, text);
    }
    if (map.size === 0) throw new DataError('verbalizer has no labels', { file: source });
    this.#map = map;
    this.labels = [...map.keys()];
    this.source = source;
  }

  /** Parses verbalizer JSON text (an object label -> continuation). `source` names it in messages. */
  static fromJson(text: string, source?: string): Verbalizer {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new DataError(`verbalizer is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, { file: source });
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new DataError('verbalizer must be a JSON object mapping each label to its continuation text, e.g. {"girl": " girl", "boy": " boy"}', { file: source });
    }
    return new Verbalizer(value as Record<string, string>, source);
  }

  /** Reads a verbalizer JSON file. */
  static async fromFile(path: string): Promise<Verbalizer> {
    let text: string;
    try {
      // Node-only, imported when called: the rest of data/ stays browser-safe.
      const { readFile } = (await import(NODE_FS_PROMISES)) as typeof import('node:fs/promises');
      text = await readFile(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new DataError(code === 'ENOENT' ? 'no such verbalizer file' : `cannot read verbalizer: ${e instanceof Error ? e.message : String(e)}`, { file: path });
    }
    return Verbalizer.fromJson(text, path);
  }

  /** Whether `label` has an entry. */
  has(label: string): boolean {
    return this.#map.has(label);
  }

  /**
   * The continuation text of `label`. Throws DataError naming the label, and the record's file
   * and line when `record` is given, if the verbalizer has no entry for it.
   */
  continuation(label: string, record?: DataRecord): string {
    const text = this.#map.get(label);
    if (text !== undefined) return text;
    throw new DataError(`label "${label}" has no verbalizer entry; the verbalizer${this.source ? ` (${this.source})` : ''} has: ${this.labels.join(', ')}`, {
      file: record?.__file,
      line: record?.__line,
      field: label,
    });
  }

  /** Index of `label` in {@link labels} (with the same error as {@link continuation}). */
  indexOf(label: string, record?: DataRecord): number {
    this.continuation(label, record);
    return this.labels.indexOf(label);
  }

  /**
   * Tokenizes `prompt` with every label's continuation. Each continuation is encoded together
   * with the prompt; where a tokenizer merges across the boundary for some label, the prompt ids
   * are cut back to the part all labels share and the merged tokens go to the candidates, so
   * `promptIds ++ candidates[i]` is always the joint encoding of prompt + label i. The prompt is
   * tokenized once, and a long one only from a window per label (Tokenizer.encodeContinuations).
   */
  encode(tokenizer: Tokenizer, prompt: string): VerbalizedPrompt {
    const joint: number[][] = [];
    let shared: number[] | undefined;
    const encs = tokenizer.encodeContinuations(prompt, this.labels.map((l) => this.#map.get(l)!));
    for (const enc of encs) {
      joint.push([...enc.promptIds, ...enc.continuationIds]);
      if (shared === undefined || enc.promptIds.length < shared.length) shared = enc.promptIds;
    }
    const promptIds = shared ?? [];
    const candidates = joint.map((ids, i) => {
      for (let j = 0; j < promptIds.length; j++) {
        if (ids[j] !== promptIds[j]) {
          throw new DataError(`prompt tokenizes differently before label "${this.labels[i]}"'s continuation; cannot share prompt ids`, { file: this.source });
        }
      }
      return ids.slice(promptIds.length);
    });
    return { promptIds, candidates };
  }
}

/** The verbalizer as a plain object, label -> continuation. */
export function verbalizerEntries(v: Verbalizer): Record<string, string> {
  return Object.fromEntries(v.labels.map((l) => [l, v.continuation(l)]));
}
