/**
 * A labelled split encoded for rank classification: what turns a record into a scored prompt
 * (PromptSpec), few-shot demonstrations, and fitting each example into the context.
 */
import { SoftpromptError } from '../errors.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { DemoSelector } from './demos.ts';
import type { DemoStrategy } from './demos.ts';
import { ExampleEncoder } from './encode.ts';
import type { EncodedExample, TaskPrompt } from './encode.ts';
import { DataError } from './errors.ts';
import type { DataRecord } from './readers.ts';
import type { Template } from './template.ts';
import type { Verbalizer } from './verbalizer.ts';

/** What turns a record into a scored prompt. */
export interface PromptSpec {
  readonly template: Template;
  readonly verbalizer: Verbalizer;
  readonly labelField: string;
  /** The field cut when an example is too long. Default: the template's longest field over the data. */
  readonly truncateField?: string | undefined;
  /** Multitask adapters: the task names (id order), the field naming each record's task, or one task for all. */
  readonly tasks?:
    | { readonly names: readonly string[]; readonly field?: string; readonly only?: string; readonly fallback?: string; readonly prompts?: ReadonlyMap<string, TaskPrompt> }
    | undefined;
  /** Every label scored (with per-task verbalizers, the union in task order). Default: the verbalizer's. */
  readonly labels?: readonly string[];
}

/** How many demonstrations to put before each query, and how to choose them. */
export interface ShotSetting {
  readonly k: number;
  readonly strategy: DemoStrategy;
  readonly seed: number;
}

/** The template field with the most text over `records` (the one worth cutting). */
export function longestField(template: Template, records: readonly DataRecord[]): string | undefined {
  if (template.fields.length <= 1) return template.fields[0];
  const total = new Map(template.fields.map((f) => [f, 0]));
  for (const r of records) for (const f of template.fields) total.set(f, total.get(f)! + template.fieldValue(r, f).length);
  return [...total.entries()].reduce((best, e) => (e[1] > best[1] ? e : best))[0];
}

export interface EncodedSplit {
  readonly examples: EncodedExample[];
  /** The field cut to fit (undefined for a template without slots). */
  readonly truncateField: string | undefined;
  /** Examples whose input field was cut. */
  readonly truncated: number;
  /** Demonstrations dropped because, with the template, they did not fit the context. */
  readonly demosDropped: number;
  /** Examples that lost at least one demonstration. */
  readonly examplesWithDemosDropped: number;
}

/**
 * Encodes `records` for rank classification within `maxLength` tokens. Only the input field is
 * cut; when the demonstrations and the template alone do not fit, demonstrations are dropped
 * (the last first) for that example until they do. A demonstration is never cut.
 */
export function encodeSplit(
  records: readonly DataRecord[],
  prompt: PromptSpec,
  shot: ShotSetting,
  pool: readonly DataRecord[] | undefined,
  tokenizer: Tokenizer,
  maxLength: number,
): EncodedSplit {
  const truncateField = prompt.truncateField ?? longestField(prompt.template, records);
  const encoder = new ExampleEncoder({
    template: prompt.template,
    verbalizer: prompt.verbalizer,
    tokenizer,
    maxLength,
    labelField: prompt.labelField,
    ...(truncateField !== undefined ? { truncateField } : {}),
    ...taskOptions(prompt.tasks),
  });
  if (shot.k > 0 && prompt.template.softTokens > 0) {
    throw new SoftpromptError(`${shot.k}-shot with a {soft:N} template: demonstrations would each repeat the virtual tokens; evaluate the adapter 0-shot`);
  }
  if (shot.k > 0 && pool === undefined) throw new SoftpromptError(`${shot.k}-shot needs demonstrations: pass --demos-from FILE`);
  const selector =
    shot.k > 0
      ? new DemoSelector(pool!, {
          k: shot.k,
          strategy: shot.strategy,
          seed: shot.seed,
          template: prompt.template,
          verbalizer: prompt.verbalizer,
          tokenizer,
          labelField: prompt.labelField,
        })
      : undefined;
  // Would this prefix overflow even with the input field empty? (Then the encoder cannot help.)
  const overflows = (record: DataRecord, prefix: string): boolean => {
    const text = prefix + prompt.template.renderWithSlots(record, truncateField === undefined ? {} : { [truncateField]: '' }).text;
    const v = prompt.verbalizer.encode(tokenizer, text);
    return v.promptIds.length + Math.max(...v.candidates.map((c) => c.length)) > maxLength;
  };
  const examples: EncodedExample[] = [];
  let truncated = 0;
  let demosDropped = 0;
  let examplesWithDemosDropped = 0;
  for (const record of records) {
    let demos = selector?.select(record) ?? [];
    const before = demos.length;
    for (;;) {
      const prefix = selector && demos.length > 0 ? selector.format(demos) : '';
      try {
        const e = encoder.encode(record, prefix);
        if (e.truncated) truncated++;
        examples.push(e);
        break;
      } catch (err) {
        if (!(err instanceof DataError) || demos.length === 0 || !overflows(record, prefix)) throw err;
        demos = demos.slice(0, -1);
      }
    }
    if (demos.length < before) {
      demosDropped += before - demos.length;
      examplesWithDemosDropped++;
    }
  }
  return { examples, truncateField, truncated, demosDropped, examplesWithDemosDropped };
}

/** ExampleEncoder options for a PromptSpec's tasks: one task for every record, or each record's field (else `fallback`). */
export function taskOptions(tasks: PromptSpec['tasks']): { tasks?: readonly string[]; taskField?: string; defaultTask?: string; taskPrompts?: ReadonlyMap<string, TaskPrompt> } {
  if (!tasks) return {};
  const prompts = tasks.prompts ? { taskPrompts: tasks.prompts } : {};
  if (tasks.only !== undefined) return { tasks: tasks.names, defaultTask: tasks.only, ...prompts };
  return { tasks: tasks.names, taskField: tasks.field ?? 'task', ...(tasks.fallback !== undefined ? { defaultTask: tasks.fallback } : {}), ...prompts };
}
