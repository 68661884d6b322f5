/**
 * Per-task templates and verbalizers for multitask prompt tuning: tasks with different inputs and
 * label sets share one run, each with its own template and verbalizer (the CLI reads them from
 * JSON objects keyed by task name, see cli/task_flags.ts).
 */
import type { TaskPrompt } from './encode.ts';
import type { Template } from './template.ts';
import { verbalizerEntries } from './verbalizer.ts';
import type { Verbalizer } from './verbalizer.ts';
import { SoftpromptError } from '../errors.ts';

export interface TaskPromptSet {
  /** The prompt of the first task (what a record of an unlisted task would get; never used when all are listed). */
  readonly template: Template;
  readonly verbalizer: Verbalizer;
  /** Per task, its own template/verbalizer. */
  readonly byTask: ReadonlyMap<string, TaskPrompt>;
  /** Every label of every task, in task order (the label set of the metrics). */
  readonly labels: readonly string[];
}

/** Refuses a per-task value for a name that is not one of `tasks` (`whose`: e.g. "the tasks", "a task of DIR"). */
export function checkTaskNames(flag: string, byTask: ReadonlyMap<string, unknown> | null, tasks: readonly string[], whose = 'one of the tasks'): void {
  for (const name of byTask?.keys() ?? []) {
    if (!tasks.includes(name)) throw new SoftpromptError(`${flag} names task "${name}", which is not ${whose}: ${tasks.join(', ')}`);
  }
}

/** Every label of `tasks` in task order: each task's own verbalizer's, else the shared one's. */
export function unionLabels(tasks: readonly string[], byTask: ReadonlyMap<string, TaskPrompt>, shared: Verbalizer): string[] {
  const labels: string[] = [];
  for (const t of tasks) for (const l of (byTask.get(t)?.verbalizer ?? shared).labels) if (!labels.includes(l)) labels.push(l);
  return labels;
}

/**
 * Checks per-task templates/verbalizers against the run's tasks (each task gets one, no unknown
 * names) and builds what the encoder takes. `shared*` is used for whichever of the two is not per task.
 */
export function taskPromptSet(
  tasks: readonly string[],
  templates: ReadonlyMap<string, Template> | null,
  verbalizers: ReadonlyMap<string, Verbalizer> | null,
  shared: { template?: Template; verbalizer?: Verbalizer },
): TaskPromptSet {
  for (const [what, m] of [['template', templates], ['verbalizer', verbalizers]] as const) {
    if (!m) continue;
    checkTaskNames(`--${what}`, m, tasks);
    const missing = tasks.filter((t) => !m.has(t));
    if (missing.length > 0) throw new SoftpromptError(`--${what} is given per task but not for ${missing.map((t) => `"${t}"`).join(', ')}; give every task one`);
  }
  const byTask = new Map<string, TaskPrompt>();
  for (const t of tasks) {
    const template = templates?.get(t);
    const verbalizer = verbalizers?.get(t);
    byTask.set(t, { ...(template ? { template } : {}), ...(verbalizer ? { verbalizer } : {}) });
  }
  const template = templates?.get(tasks[0]!) ?? shared.template;
  const verbalizer = verbalizers?.get(tasks[0]!) ?? shared.verbalizer;
  if (!template || !verbalizer) throw new SoftpromptError('internal: a task prompt set needs a shared template or verbalizer for what is not per task');
  return { template, verbalizer, byTask, labels: unionLabels(tasks, byTask, verbalizer) };
}

/** softprompt.json's task_prompts: per task, its template source and verbalizer entries. */
export function taskPromptsJson(set: TaskPromptSet): Record<string, { template?: { source: string; instruction?: string }; verbalizer?: Record<string, string> }> {
  const out: Record<string, { template?: { source: string; instruction?: string }; verbalizer?: Record<string, string> }> = {};
  for (const [t, p] of set.byTask) {
    out[t] = {
      ...(p.template ? { template: { source: p.template.source, ...(p.template.instruction !== undefined ? { instruction: p.template.instruction } : {}) } } : {}),
      ...(p.verbalizer ? { verbalizer: verbalizerEntries(p.verbalizer) } : {}),
    };
  }
  return out;
}
