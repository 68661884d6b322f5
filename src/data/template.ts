/**
 * Prompt templates: literal text with `{field}` slots filled from a record, `{{` and `}}` for
 * literal braces, an optional instruction put in front, and `{soft:N}` slots for N virtual
 * tokens placed inside the text (rendered as positions: data/encode.ts turns them into token indices).
 *
 * A rendered template is the prompt; the verbalizer's continuation follows it directly, so
 * "{text}\nThe story is about a" + " girl" is the scored sequence.
 */
import { DataError } from './errors.ts';
import type { DataRecord } from './readers.ts';

export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'field'; readonly name: string }
  | { readonly kind: 'soft'; readonly count: number };

export interface TemplateOptions {
  /** Literal text (no slots) put before the template, e.g. a task instruction. */
  instruction?: string;
  /** Between the instruction and the template. Default "\n". */
  instructionSeparator?: string;
  /** Where the template came from (a file or a CLI flag), for messages. */
  source?: string;
}

/** What a record's field may hold: strings as they are; numbers and booleans are written with String(). */
function fieldText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return undefined;
}

const SOFT_SLOT = /^soft:(\d+)$/;
const FIELD_NAME = /^[^{}\s:][^{}]*$/;

/** Parses template text into parts. Throws DataError on an unbalanced brace or an empty slot. */
export function parseTemplate(source: string, origin?: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  const where = (i: number): string => `template ${JSON.stringify(source.length > 60 ? source.slice(0, 57) + '...' : source)} at character ${i}`;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '{') {
      if (source[i + 1] === '{') {
        text += '{';
        i++;
        continue;
      }
      const end = source.indexOf('}', i + 1);
      if (end < 0) throw new DataError(`${where(i)}: "{" opens a slot that is never closed (write "{{" for a literal brace)`, { file: origin });
      const inner = source.slice(i + 1, end).trim();
      if (inner === '') throw new DataError(`${where(i)}: empty slot "{}" names no field`, { file: origin });
      if (inner.includes('{')) throw new DataError(`${where(i)}: "{" inside a slot (write "{{" for a literal brace)`, { file: origin });
      if (text !== '') parts.push({ kind: 'text', text });
      text = '';
      const soft = SOFT_SLOT.exec(inner);
      if (soft) {
        const count = Number(soft[1]);
        if (count < 1) throw new DataError(`${where(i)}: {soft:N} needs N >= 1`, { file: origin });
        parts.push({ kind: 'soft', count });
      } else if (inner.startsWith('soft:')) {
        throw new DataError(`${where(i)}: soft-prompt slot "{${inner}}" must be {soft:N} with N a positive integer`, { file: origin });
      } else if (!FIELD_NAME.test(inner)) {
        throw new DataError(`${where(i)}: "{${inner}}" is not a field name`, { file: origin });
      } else {
        parts.push({ kind: 'field', name: inner });
      }
      i = end;
    } else if (c === '}') {
      if (source[i + 1] === '}') {
        text += '}';
        i++;
        continue;
      }
      throw new DataError(`${where(i)}: unmatched "}" (write "}}" for a literal brace)`, { file: origin });
    } else {
      text += c;
    }
  }
  if (text !== '') parts.push({ kind: 'text', text });
  return parts;
}

export class Template {
  /** The template as written (without the instruction). */
  readonly source: string;
  readonly instruction: string | undefined;
  readonly parts: readonly TemplatePart[];
  /** The distinct field names of the slots, in order of first use. */
  readonly fields: readonly string[];
  /** Total number of virtual tokens in `{soft:N}` slots (0 when there are none). */
  readonly softTokens: number;
  readonly origin: string | undefined;

  constructor(source: string, opts: TemplateOptions = {}) {
    this.source = source;
    this.origin = opts.source;
    this.instruction = opts.instruction;
    const body = parseTemplate(source, opts.source);
    const parts: TemplatePart[] = [];
    if (opts.instruction !== undefined && opts.instruction !== '') {
      parts.push({ kind: 'text', text: opts.instruction + (opts.instructionSeparator ?? '\n') });
    }
    parts.push(...body);
    this.parts = parts;
    const fields: string[] = [];
    let soft = 0;
    for (const p of parts) {
      if (p.kind === 'field' && !fields.includes(p.name)) fields.push(p.name);
      if (p.kind === 'soft') soft += p.count;
    }
    this.fields = fields;
    this.softTokens = soft;
  }

  /** The fields this template needs that `record` lacks (or holds as null/object). */
  missingFields(record: Readonly<Record<string, unknown>>): string[] {
    return this.fields.filter((f) => fieldText(record[f]) === undefined);
  }

  /**
   * Fails early, before reading any record, when a template slot names a column that a file
   * does not have (e.g. a CSV header). `file` is named in the message.
   */
  checkColumns(columns: readonly string[], file?: string): void {
    for (const f of this.fields) {
      if (!columns.includes(f)) {
        throw new DataError(`template slot {${f}} names a field the data does not have; fields are: ${columns.join(', ')}`, { file, field: f });
      }
    }
  }

  /**
   * Fills the slots from `record`. `overrides` replaces a field's text (used to truncate an input).
   * Throws DataError naming the field, the record's file and line when a slot's field is missing,
   * null or not text/number/boolean, and when the template has {soft:N} slots: text alone cannot
   * hold virtual tokens (see {@link renderWithSlots}).
   */
  render(record: DataRecord | Readonly<Record<string, unknown>>, overrides: Readonly<Record<string, string>> = {}): string {
    const { text, slots } = this.renderWithSlots(record, overrides);
    if (slots.length > 0) {
      throw new DataError(
        `template has {soft:N} slots (${this.softTokens} virtual tokens in all); it needs a prompt-tuning or p-tuning adapter with ${this.softTokens} virtual tokens to fill them, and a hard prompt has none`,
        { file: this.origin },
      );
    }
    return text;
  }

  /**
   * Fills the field slots and leaves the {soft:N} slots out of the text, returning where each
   * one was: `offset` is the character index in `text` the virtual tokens go before.
   */
  renderWithSlots(
    record: DataRecord | Readonly<Record<string, unknown>>,
    overrides: Readonly<Record<string, string>> = {},
  ): { text: string; slots: { offset: number; count: number }[] } {
    let text = '';
    const slots: { offset: number; count: number }[] = [];
    for (const p of this.parts) {
      if (p.kind === 'text') text += p.text;
      else if (p.kind === 'field') text += overrides[p.name] ?? this.fieldValue(record, p.name);
      else slots.push({ offset: text.length, count: p.count });
    }
    return { text, slots };
  }

  /** The text of one field of `record`, with the same checks as {@link render}. */
  fieldValue(record: DataRecord | Readonly<Record<string, unknown>>, name: string): string {
    const value = record[name];
    const text = fieldText(value);
    if (text !== undefined) return text;
    const file = typeof record['__file'] === 'string' ? record['__file'] : undefined;
    const line = typeof record['__line'] === 'number' ? record['__line'] : undefined;
    const present = Object.keys(record).filter((k) => !k.startsWith('__'));
    const detail =
      value === undefined
        ? `record has no field "${name}" (template slot {${name}}); its fields are: ${present.join(', ') || '(none)'}`
        : `field "${name}" (template slot {${name}}) is ${value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not text`;
    throw new DataError(detail, { file, line, field: name });
  }
}
