/**
 * The prompt an adapter carries in softprompt.json: template (with its instruction), verbalizer,
 * label field, the field training cut, and each task's own template/verbalizer (multitask). The
 * one reader of those fields: eval, inspect, the report, the inference engine and init_ref come here.
 */
import type { TaskPrompt } from '../data/encode.ts';
import type { PromptSpec } from '../data/split.ts';
import { unionLabels } from '../data/task_prompts.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SOFTPROMPT_FILE } from './types.ts';
import type { LoadedAdapter } from './types.ts';

export interface AdapterPrompt {
  /** softprompt.json's path (the origin named in messages). */
  readonly file: string;
  readonly template: Template | undefined;
  readonly verbalizer: Verbalizer | undefined;
  /** label_field, else "label". */
  readonly labelField: string;
  /** training.truncate_field when it is a slot of the template. */
  readonly truncateField: string | undefined;
  /** training.task_field (multitask). */
  readonly taskField: string | undefined;
  /** Per task, its own template and/or verbalizer (task_prompts). */
  readonly taskPrompts: ReadonlyMap<string, TaskPrompt>;
}

/** Reads `adapter`'s prompt; `instruction` replaces the recorded one of the top-level template. */
export function adapterPrompt(adapter: Pick<LoadedAdapter, 'dir' | 'meta'>, opts: { instruction?: string | undefined } = {}): AdapterPrompt {
  const meta = adapter.meta;
  const file = `${adapter.dir}/${SOFTPROMPT_FILE}`;
  const instruction = opts.instruction ?? meta?.template?.instruction;
  const template = meta?.template ? new Template(meta.template.source, { source: file, ...(instruction !== undefined ? { instruction } : {}) }) : undefined;
  const verbalizer = meta?.verbalizer ? new Verbalizer(meta.verbalizer, file) : undefined;
  const taskPrompts = new Map<string, TaskPrompt>();
  for (const [t, p] of Object.entries(meta?.task_prompts ?? {})) {
    const source = `${file} task_prompts.${t}`;
    const own: TaskPrompt = {
      ...(p.template ? { template: new Template(p.template.source, { source, ...(p.template.instruction !== undefined ? { instruction: p.template.instruction } : {}) }) } : {}),
      ...(p.verbalizer ? { verbalizer: new Verbalizer(p.verbalizer, source) } : {}),
    };
    if (own.template || own.verbalizer) taskPrompts.set(t, own);
  }
  const truncate = meta?.training?.['truncate_field'];
  const taskField = meta?.training?.['task_field'];
  return {
    file,
    template,
    verbalizer,
    labelField: meta?.label_field ?? 'label',
    truncateField: typeof truncate === 'string' && template?.fields.includes(truncate) ? truncate : undefined,
    taskField: typeof taskField === 'string' ? taskField : undefined,
    taskPrompts,
  };
}

/**
 * What scores a split under `adapter` with only its own softprompt.json: template, verbalizer,
 * label field, and for a multitask adapter its tasks (each record's task field) with their own
 * prompts. Null when softprompt.json has no template or no verbalizer.
 */
export function adapterPromptSpec(adapter: Pick<LoadedAdapter, 'dir' | 'meta' | 'method' | 'tasks'>): PromptSpec | null {
  const p = adapterPrompt(adapter);
  if (!p.template || !p.verbalizer) return null;
  const base = { template: p.template, verbalizer: p.verbalizer, labelField: p.labelField, truncateField: p.truncateField };
  const numTasks = adapter.method.numTasks;
  if (numTasks === undefined) return base;
  const names = adapter.tasks ?? Array.from({ length: numTasks }, (_, i) => String(i));
  const tasks = { names, field: p.taskField ?? 'task', ...(names.length === 1 ? { fallback: names[0]! } : {}) };
  if (p.taskPrompts.size === 0) return { ...base, tasks };
  const first = p.taskPrompts.get(names[0]!);
  return {
    ...base,
    template: first?.template ?? p.template,
    verbalizer: first?.verbalizer ?? p.verbalizer,
    tasks: { ...tasks, prompts: p.taskPrompts },
    labels: unionLabels(names, p.taskPrompts, p.verbalizer),
  };
}
