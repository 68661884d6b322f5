/**
 * Turns a record into token ids for training and rank classification: the rendered template
 * (after any demonstrations) as the prompt, the gold label's continuation as the target, and
 * every label's continuation as the candidates.
 *
 * Truncation: when prompt + the longest answer exceed `maxLength`, only the input field is cut
 * (by tokens, from the end), never the template text, the demonstrations or the answer.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { DataError } from './errors.ts';
import type { DataRecord } from './readers.ts';
import type { Template } from './template.ts';
import { Verbalizer } from './verbalizer.ts';
import type { VerbalizedPrompt } from './verbalizer.ts';
import { checkDistinctCandidates, checkDistinctLabels } from './verbalizer_check.ts';

export interface ExampleEncoderOptions {
  template: Template;
  verbalizer: Verbalizer;
  tokenizer: Tokenizer;
  /** Tokens available for prompt + answer: the model's context minus the caller's virtual tokens. */
  maxLength: number;
  /** The field cut when the example is too long. Default: the template's first slot. */
  truncateField?: string;
  /** The field holding the label name. Default "label". */
  labelField?: string;
  /** Records without a label give `label: null` and no target instead of an error. Default false. */
  allowUnlabelled?: boolean;
  /**
   * Multitask prompt tuning: the field naming each record's task, and the task names in id order
   * (the field's value, written with String(), must be one of them). Both or neither.
   */
  taskField?: string;
  tasks?: readonly string[];
  /** A record without the task field gets this task instead of an error (e.g. eval --task). */
  defaultTask?: string;
  /**
   * Per task name, the template and/or verbalizer its records use instead of the shared ones
   * (multitask prompt tuning over tasks with their own label sets). Needs `tasks`.
   */
  taskPrompts?: ReadonlyMap<string, TaskPrompt>;
  /**
   * Longest value, in characters, any template field may hold (bounds the work one record can
   * cost). Default {@link DEFAULT_MAX_FIELD_CHARS}; a longer value is a DataError naming the field.
   */
  maxFieldChars?: number;
}

/**
 * Default per-field character limit: about 50 000 tokens of English, far past any context this
 * project runs, while a 1 MB record (which would only be cut to the context anyway) is refused.
 */
export const DEFAULT_MAX_FIELD_CHARS = 200_000;

/** A task's own template and/or verbalizer (see ExampleEncoderOptions.taskPrompts). */
export interface TaskPrompt {
  readonly template?: Template;
  readonly verbalizer?: Verbalizer;
}

export interface EncodedExample {
  /** Prompt ids (BOS included where the tokenizer adds one). */
  promptIds: number[];
  /** The gold label's continuation ids ([] when unlabelled). */
  targetIds: number[];
  /** The gold label, or null for an unlabelled record. */
  label: string | null;
  /** Index of the gold label in the verbalizer's labels, -1 when unlabelled. */
  labelIndex: number;
  /** Every label's continuation ids, in the verbalizer's label order. */
  candidates: number[][];
  /**
   * With {soft:N} slots in the template: for each virtual token, the index in promptIds it goes
   * before (non-decreasing). Absent when the template has no slots (virtual tokens go first).
   */
  softAt?: number[];
  /** The task id (index into the encoder's tasks) when the encoder has a task field. */
  taskId?: number;
  /** With per-task verbalizers: the label of each candidate (this task's labels); else the encoder's verbalizer's. */
  labels?: readonly string[];
  /** Whether the input field was cut to fit `maxLength`. */
  truncated: boolean;
  /** Where the record came from. */
  line: number | undefined;
  file: string | undefined;
}

function longest(candidates: readonly number[][]): number {
  let m = 0;
  for (const c of candidates) if (c.length > m) m = c.length;
  return m;
}

export class ExampleEncoder {
  readonly template: Template;
  readonly verbalizer: Verbalizer;
  readonly tokenizer: Tokenizer;
  readonly maxLength: number;
  readonly truncateField: string | undefined;
  readonly labelField: string;
  readonly allowUnlabelled: boolean;
  readonly taskField: string | undefined;
  readonly tasks: readonly string[] | undefined;
  readonly defaultTask: string | undefined;
  readonly taskPrompts: ReadonlyMap<string, TaskPrompt> | undefined;
  readonly maxFieldChars: number;

  constructor(opts: ExampleEncoderOptions) {
    if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) throw new RangeError(`maxLength must be a positive integer, got ${opts.maxLength}`);
    const maxChars = opts.maxFieldChars ?? DEFAULT_MAX_FIELD_CHARS;
    if (!Number.isInteger(maxChars) || maxChars < 1) throw new RangeError(`maxFieldChars must be a positive integer, got ${maxChars}`);
    this.maxFieldChars = maxChars;
    checkDistinctLabels(opts.verbalizer);
    for (const t of opts.taskPrompts?.values() ?? []) if (t.verbalizer) checkDistinctLabels(t.verbalizer);
    this.template = opts.template;
    this.verbalizer = opts.verbalizer;
    this.tokenizer = opts.tokenizer;
    this.maxLength = opts.maxLength;
    this.labelField = opts.labelField ?? 'label';
    this.allowUnlabelled = opts.allowUnlabelled ?? false;
    this.truncateField = opts.truncateField ?? opts.template.fields[0];
    if ((opts.taskField === undefined) !== (opts.tasks === undefined) && opts.defaultTask === undefined) {
      throw new DataError(opts.tasks === undefined ? `task field "${opts.taskField}" given without the task names` : 'task names given without a task field (--task-field)');
    }
    if (opts.tasks !== undefined && opts.tasks.length === 0) throw new DataError('the task list is empty');
    if (opts.defaultTask !== undefined && !(opts.tasks ?? []).includes(opts.defaultTask)) {
      throw new DataError(`task "${opts.defaultTask}" is not one of the adapter's tasks: ${(opts.tasks ?? []).join(', ') || '(none)'}`);
    }
    this.taskField = opts.taskField;
    this.tasks = opts.tasks;
    this.defaultTask = opts.defaultTask;
    if (opts.taskPrompts !== undefined) {
      for (const name of opts.taskPrompts.keys()) {
        if (!(opts.tasks ?? []).includes(name)) throw new DataError(`a template or verbalizer is given for task "${name}", which is not one of the tasks: ${(opts.tasks ?? []).join(', ') || '(none)'}`);
      }
    }
    this.taskPrompts = opts.taskPrompts;
    if (opts.truncateField !== undefined && !opts.template.fields.includes(opts.truncateField)) {
      throw new DataError(`truncation field "${opts.truncateField}" is not a slot of the template; slots are: ${opts.template.fields.join(', ') || '(none)'}`, {
        file: opts.template.origin,
        field: opts.truncateField,
      });
    }
  }

  /** The template, verbalizer and field to cut of task `taskId` (the shared ones unless the task has its own). */
  promptOf(taskId: number | undefined): { template: Template; verbalizer: Verbalizer; truncateField: string | undefined; own: boolean } {
    const own = taskId === undefined ? undefined : this.taskPrompts?.get(this.tasks![taskId]!);
    const template = own?.template ?? this.template;
    const truncateField = this.truncateField !== undefined && template.fields.includes(this.truncateField) ? this.truncateField : template.fields[0];
    return { template, verbalizer: own?.verbalizer ?? this.verbalizer, truncateField, own: own?.verbalizer !== undefined };
  }

  /** The gold label of `record` (checked against the verbalizer), or null when unlabelled and allowed. */
  labelOf(record: DataRecord, verbalizer: Verbalizer = this.verbalizer): string | null {
    const value = record[this.labelField];
    if (value === undefined || value === null) {
      if (this.allowUnlabelled) return null;
      throw new DataError(`record has no label field "${this.labelField}"`, { file: record.__file, line: record.__line, field: this.labelField });
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new DataError(`label field "${this.labelField}" is ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}, not a label name`, {
        file: record.__file,
        line: record.__line,
        field: this.labelField,
      });
    }
    const label = String(value);
    if (!verbalizer.labels.includes(label)) {
      throw new DataError(
        `label field "${this.labelField}" holds "${label}", which has no verbalizer entry; the verbalizer${verbalizer.source ? ` (${verbalizer.source})` : ''} has: ${verbalizer.labels.join(', ')}`,
        { file: record.__file, line: record.__line, field: this.labelField },
      );
    }
    return label;
  }

  /** The task id of `record` (undefined when the encoder has no tasks). */
  taskOf(record: DataRecord): number | undefined {
    if (this.tasks === undefined) return undefined;
    const value = this.taskField === undefined ? undefined : record[this.taskField];
    const where = { file: record.__file, line: record.__line, field: this.taskField };
    if (value === undefined || value === null) {
      if (this.defaultTask !== undefined) return this.tasks.indexOf(this.defaultTask);
      throw new DataError(`record has no task field "${this.taskField}"; multitask prompts need each record's task`, where);
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw new DataError(`task field "${this.taskField}" is a ${typeof value}, not a task name or id`, where);
    const id = this.tasks.indexOf(String(value));
    if (id < 0) {
      throw new DataError(`task field "${this.taskField}" holds ${JSON.stringify(value)}, which is not one of the tasks: ${this.tasks.join(', ')}`, where);
    }
    return id;
  }

  /**
   * Encodes one record. `prefix` (rendered demonstrations, see demos.ts) goes before the query and
   * is never cut. Throws DataError when even an empty input field does not fit.
   */
  encode(record: DataRecord, prefix = ''): EncodedExample {
    const taskId = this.taskOf(record);
    const { template, verbalizer, truncateField, own } = this.promptOf(taskId);
    const label = this.labelOf(record, verbalizer);
    for (const f of template.fields) {
      const v = record[f];
      if (typeof v === 'string' && v.length > this.maxFieldChars) {
        throw new DataError(`field "${f}" holds ${v.length} characters, over the limit of ${this.maxFieldChars} per field; shorten it or raise the limit (--max-field-chars)`, {
          file: record.__file,
          line: record.__line,
          field: f,
        });
      }
    }
    const fits = (v: VerbalizedPrompt): boolean => v.promptIds.length + longest(v.candidates) <= this.maxLength;
    const encodeWith = (overrides: Record<string, string>): VerbalizedPrompt & { softAt?: number[] } => {
      const { text, slots } = template.renderWithSlots(record, overrides);
      const enc = verbalizer.encode(this.tokenizer, prefix + text);
      return slots.length === 0 ? enc : { ...enc, softAt: this.#softPositions(prefix + text, slots, prefix.length, enc.promptIds) };
    };

    // Only the field's first `cap` tokens can ever fit (the prompt holds about as many tokens as
    // the field: merges with the template text change a few at its edges, never halve it), so
    // only a bounded head of a long field is tokenized, and the field is known not to fit without
    // rendering it whole. The work is linear in the input, not in its length times the labels.
    const cap = 2 * this.maxLength + 16;
    const field = truncateField;
    const raw = field === undefined ? undefined : record[field];
    const head = typeof raw === 'string' && raw.length > cap ? this.#headIds(raw, cap) : undefined;
    let enc = head !== undefined && (!head.whole || head.ids.length > cap) ? undefined : encodeWith({});
    let truncated = false;
    if (enc === undefined || !fits(enc)) {
      const where = { file: record.__file, line: record.__line, field };
      const empty = field === undefined ? enc! : encodeWith({ [field]: '' });
      if (field === undefined || !fits(empty)) {
        const n = empty.promptIds.length + longest(empty.candidates);
        const what = prefix === '' ? 'template alone' : 'template with its demonstrations';
        throw new DataError(
          `${what} is ${n} tokens (prompt ${empty.promptIds.length} + longest answer ${longest(empty.candidates)}${field === undefined ? '' : `, with "${field}" empty`}), ` +
            `longer than the context ${this.maxLength}; shorten the template or demonstrations, or use a model with a longer context`,
          where,
        );
      }
      const fieldIds = head?.ids ?? this.tokenizer.encode(template.fieldValue(record, field), { addSpecialTokens: false });
      const textOf = (k: number): string => (k === 0 ? '' : this.tokenizer.decode(fieldIds.slice(0, k)).replace(/\uFFFD+$/, ''));
      const encodeAt = (k: number): VerbalizedPrompt & { softAt?: number[] } => (k === 0 ? empty : encodeWith({ [field]: textOf(k) }));
      // The cut is searched with the prompt and only the label whose continuation is longest (with
      // the field empty): a prompt + label that does not fit means the example does not, so the
      // largest cut that fits with all labels is at most the one found. All labels are encoded
      // once, at that cut; if one of them is longer there after all, the cut steps down.
      const j = empty.candidates.reduce((b, c, i) => (c.length > empty.candidates[b]!.length ? i : b), 0);
      const label1 = verbalizer.labels[j]!;
      const one = new Verbalizer({ [label1]: verbalizer.continuation(label1) }, verbalizer.source);
      const lengthAt = (k: number): number => {
        const { text } = template.renderWithSlots(record, { [field]: textOf(k) });
        const v = one.encode(this.tokenizer, prefix + text);
        return v.promptIds.length + longest(v.candidates);
      };
      let k = searchCut(Math.min(fieldIds.length, cap), this.maxLength - (empty.promptIds.length + longest(empty.candidates)), (n) => lengthAt(n) - this.maxLength);
      enc = encodeAt(k);
      if (!fits(enc)) {
        const top = k;
        while (!fits(enc)) {
          k = Math.max(0, k - Math.max(1, enc.promptIds.length + longest(enc.candidates) - this.maxLength));
          enc = encodeAt(k);
        }
        while (k + 1 < top) {
          const next = encodeAt(k + 1);
          if (!fits(next)) break;
          k++;
          enc = next;
        }
      }
      truncated = true;
    }
    checkDistinctCandidates(verbalizer.labels, enc.candidates, verbalizer.source);
    const labelIndex = label === null ? -1 : verbalizer.labels.indexOf(label);
    return {
      promptIds: enc.promptIds,
      ...(enc.softAt ? { softAt: enc.softAt } : {}),
      ...(taskId !== undefined ? { taskId } : {}),
      ...(own ? { labels: verbalizer.labels } : {}),
      targetIds: labelIndex < 0 ? [] : [...enc.candidates[labelIndex]!],
      label,
      labelIndex,
      candidates: enc.candidates,
      truncated,
      line: record.__line,
      file: record.__file,
    };
  }

  /**
   * The first `cap` ids of a long field, from tokenizing only a head of it (growing until it
   * holds `cap` + 64 ids: tokens near the head's end may differ from the whole field's, those
   * before them do not), or all its ids when the head reaches the end (`whole`).
   */
  #headIds(text: string, cap: number): { ids: number[]; whole: boolean } {
    for (let chars = 4 * (cap + 64); ; chars *= 2) {
      if (chars >= text.length) return { ids: this.tokenizer.encode(text, { addSpecialTokens: false }), whole: true };
      const c = text.charCodeAt(chars);
      const end = c >= 0xdc00 && c <= 0xdfff ? chars + 1 : chars; // never split a surrogate pair
      const ids = this.tokenizer.encode(text.slice(0, end), { addSpecialTokens: false });
      if (ids.length >= cap + 64) return { ids: ids.slice(0, cap), whole: false };
    }
  }

  /**
   * Token index of each {soft:N} slot: a slot at character c goes where the tokenization of the
   * text before c stops agreeing with the whole prompt's (the same boundary rule as the
   * verbalizer's). The prompt's own tokens are exactly the hard prompt's; a merge across the slot
   * moves the merged token after it. A slot at the very start goes before BOS, as PEFT prepends.
   */
  #softPositions(full: string, slots: readonly { offset: number; count: number }[], shift: number, promptIds: readonly number[]): number[] {
    const at: number[] = [];
    for (const { offset, count } of slots) {
      const c = offset + shift;
      let k = 0;
      if (c > 0) {
        const head = this.tokenizer.encode(full.slice(0, c));
        while (k < head.length && k < promptIds.length && head[k] === promptIds[k]) k++;
      }
      for (let i = 0; i < count; i++) at.push(k);
    }
    return at;
  }

  /** Encodes a stream of records lazily. */
  async *encodeAll(records: AsyncIterable<DataRecord> | Iterable<DataRecord>): AsyncGenerator<EncodedExample> {
    for await (const r of records) yield this.encode(r);
  }
}

/**
 * The largest k in [0, max] with over(k) <= 0, given over(0) <= 0 and over non-decreasing (the
 * same k as a binary search). `guess` is where to look first; each probe then moves by how far
 * it was over or under (a field token is about a prompt token), so a few probes find the cut,
 * and bisection takes over if they do not.
 */
export function searchCut(max: number, guess: number, over: (k: number) => number): number {
  let lo = 0; // fits
  let hi = max + 1; // does not fit (or past the end)
  let k = guess;
  for (let probes = 0; hi - lo > 1; probes++) {
    k = probes < 4 ? Math.min(hi - 1, Math.max(lo + 1, k)) : Math.ceil((lo + hi) / 2);
    const x = over(k);
    if (x <= 0) {
      lo = k;
      k -= Math.min(x, -1);
    } else {
      hi = k;
      k -= x;
    }
  }
  return lo;
}

/** One-shot form of {@link ExampleEncoder.encode}. */
export function encodeExample(record: DataRecord, opts: ExampleEncoderOptions, prefix = ''): EncodedExample {
  return new ExampleEncoder(opts).encode(record, prefix);
}
