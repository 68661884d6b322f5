/**
 * Per-task templates and verbalizers for multitask prompt tuning: `--template` and `--verbalizer`
 * may map each task name to its own value (inline JSON, or a mapping in a config file), so tasks
 * with different inputs and label sets share one run:
 *
 *   --template '{"gender": "{text}\nThe story is about a", "sentiment": "{text}\nIt was"}'
 *   --verbalizer '{"gender": {"girl": " girl", "boy": " boy"}, "sentiment": {"negative": " bad", "positive": " good"}}'
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { TaskPrompt } from '../data/encode.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';

type Json = Record<string, unknown>;

function jsonObject(value: string): Json | null {
  const text = value.trim();
  if (!text.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

/** `--template` as a map task → template text, or null when it is one template for every task. */
export function perTaskTemplates(value: string): Map<string, string> | null {
  const o = jsonObject(value);
  if (!o || Object.keys(o).length === 0 || !Object.values(o).every((v) => typeof v === 'string')) return null;
  return new Map(Object.entries(o as Record<string, string>));
}

/** `--verbalizer` (inline JSON or a JSON file) as a map task → verbalizer, or null when it is one verbalizer. */
export function perTaskVerbalizers(value: string, flag = '--verbalizer'): Map<string, Verbalizer> | null {
  let o = jsonObject(value);
  let source = flag;
  if (!o && existsSync(value) && statSync(value).isFile()) {
    o = jsonObject(readFileSync(value, 'utf8'));
    source = value;
  }
  if (!o || Object.keys(o).length === 0) return null;
  const values = Object.values(o);
  if (!values.some((v) => v !== null && typeof v === 'object')) return null;
  const out = new Map<string, Verbalizer>();
  for (const [task, v] of Object.entries(o)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new SoftpromptError(`${source}: per-task verbalizer for "${task}" must be an object of label -> text (every value of a per-task verbalizer is one task's verbalizer)`);
    }
    out.set(task, new Verbalizer(v as Record<string, string>, `${source} (task ${task})`));
  }
  return out;
}

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
      ...(p.verbalizer ? { verbalizer: Object.fromEntries(p.verbalizer.labels.map((l) => [l, p.verbalizer!.continuation(l)])) } : {}),
    };
  }
  return out;
}
