/**
 * `softprompt eval`: rank classification of a labelled split under a hard prompt (zero- or
 * k-shot, several shot counts in one run) or a trained adapter, with accuracy, macro-F1 and
 * per-class counts.
 *
 * The pieces (loading the model, encoding a split with demonstrations, scoring, reporting) are
 * exported for rank-templates and the demo.
 */
import { Command, Option } from 'commander';
import { loadAdapter } from '../adapter/load.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { DemoSelector } from '../data/demos.ts';
import type { DemoStrategy } from '../data/demos.ts';
import { ExampleEncoder } from '../data/encode.ts';
import type { EncodedExample, TaskPrompt } from '../data/encode.ts';
import { DataError } from '../data/errors.ts';
import { padIdOf } from '../data/collate.ts';
import { readAllRecords, readRecords, requireNonEmpty, take } from '../data/readers.ts';
import type { DataRecord } from '../data/readers.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import { classificationReport } from '../eval/metrics.ts';
import type { ClassificationReport } from '../eval/metrics.ts';
import { RankScorer } from '../eval/rank.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import { loadModelDir } from '../formats/model_dir.ts';
import type { WeightStore } from '../formats/model_dir.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { intArg, parseShots, required, textArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { checkTaskNames, perTaskTemplates, perTaskVerbalizers, unionLabels } from './task_prompts.ts';
import { formatTable, oneLine, percent, processIo, Progress } from './output.ts';
import type { Io } from './output.ts';
import { resolveModel } from './resolve.ts';
import type { ResolvedSource } from './resolve.ts';

// ---------------------------------------------------------------------------------------------
// Model and adapter

/** A frozen model ready to score: config, weights and tokenizer of one folder. */
export interface LoadedModel {
  readonly dir: string;
  readonly source: ResolvedSource;
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  readonly tokenizer: Tokenizer;
}

/** Loads the model named by `--model` (or found by {@link resolveModel}). */
export async function loadModel(flag?: string): Promise<LoadedModel> {
  const { path, source } = await resolveModel(flag);
  const m = loadModelDir(path);
  return { dir: m.dir, source, config: m.config, weights: m.weights, tokenizer: await loadTokenizer(m.dir) };
}

/** The one place the CLI loads an adapter: checked against the model, warnings passed to `onWarning`. */
export function loadAdapterDir(dir: string, model: LoadedModel, onWarning: (message: string) => void): LoadedAdapter {
  return loadAdapter(dir, { config: model.config, weights: model.weights }, { onWarning });
}

// ---------------------------------------------------------------------------------------------
// Data and prompts

/** Reads a labelled split (its first `maxExamples` records when given); an empty one is a DataError naming the file. */
export async function readSplit(path: string, maxExamples?: number): Promise<DataRecord[]> {
  if (maxExamples === undefined) return readAllRecords(path);
  return requireNonEmpty(await take(readRecords(path), maxExamples), path);
}

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

// ---------------------------------------------------------------------------------------------
// Scoring

export interface ScorerOptions {
  /** Examples per forward pass (each is one row, its labels packed after the prompt). Default 16. */
  batchSize?: number;
  /** Most labels any verbalizer used with this scorer has (batchRows counts candidates). Default 2. */
  maxLabels?: number;
  lengthNormalize?: boolean;
  /** The template has {soft:N} slots (see {@link checkSoftSlots}). */
  softSlots?: boolean;
}

/** ExampleEncoder options for a PromptSpec's tasks: one task for every record, or each record's field (else `fallback`). */
export function taskOptions(tasks: PromptSpec['tasks']): { tasks?: readonly string[]; taskField?: string; defaultTask?: string; taskPrompts?: ReadonlyMap<string, TaskPrompt> } {
  if (!tasks) return {};
  const prompts = tasks.prompts ? { taskPrompts: tasks.prompts } : {};
  if (tasks.only !== undefined) return { tasks: tasks.names, defaultTask: tasks.only, ...prompts };
  return { tasks: tasks.names, taskField: tasks.field ?? 'task', ...(tasks.fallback !== undefined ? { defaultTask: tasks.fallback } : {}), ...prompts };
}

/**
 * Checks a template's {soft:N} slots against the adapter: they must add up to its virtual tokens,
 * and only methods that place embeddings can fill them. Returns whether the scorer needs softSlots.
 */
export function checkSoftSlots(template: Template, adapter: LoadedAdapter | undefined, warn: (m: string) => void): boolean {
  const slots = template.softTokens;
  const where = template.origin ? ` (${template.origin})` : '';
  if (slots === 0) {
    if (adapter?.meta?.template && new Template(adapter.meta.template.source).softTokens > 0) {
      warn(`the adapter ${adapter.dir} was trained with its virtual tokens at {soft:N} slots of its template; this template has none, so they go before the input`);
    }
    return false;
  }
  if (!adapter) throw new SoftpromptError(`the template${where} has {soft:N} slots (${slots} virtual tokens); a hard prompt has nothing to fill them with: pass --adapter DIR`);
  const n = adapter.method.numVirtualTokens;
  if (adapter.method.kind === 'prefix_tuning') {
    throw new SoftpromptError(`the template${where} has {soft:N} slots but ${adapter.dir} is a prefix-tuning adapter (its prefix lives in every layer's keys/values, not in the input); drop the slots`);
  }
  if (slots !== n) {
    throw new SoftpromptError(
      `the template${where} has {soft:N} slots for ${slots} virtual tokens but the adapter ${adapter.dir} has ${n} (adapter_config.json num_virtual_tokens); the slots must add up to ${n}`,
    );
  }
  return true;
}

/** One compiled scorer for the model (and adapter), reused for every setting and template. */
export function createScorer(model: LoadedModel, adapter: LoadedAdapter | undefined, opts: ScorerOptions = {}): Promise<RankScorer> {
  return RankScorer.create(model.config, model.weights, adapter?.method ?? null, {
    batchRows: (opts.batchSize ?? 16) * Math.max(1, opts.maxLabels ?? 2),
    padId: padIdOf(model.tokenizer),
    lengthNormalize: opts.lengthNormalize ?? false,
    softSlots: opts.softSlots ?? false,
    ...(adapter ? { params: adapter.params } : {}),
  });
}

/** Scores encoded examples and reports against the verbalizer's label set (in chunks, for the progress line). */
export async function scoreSplit(
  scorer: RankScorer,
  examples: readonly EncodedExample[],
  labels: readonly string[],
  progress?: { bar: Progress; label: string },
): Promise<ClassificationReport> {
  const predictions: number[] = [];
  const chunk = Math.max(64, scorer.options.batchRows * 4);
  for (let start = 0; start < examples.length; start += chunk) {
    progress?.bar.update(progress.label, start, examples.length);
    const result = await scorer.score(examples.slice(start, start + chunk));
    predictions.push(...result.predictions);
  }
  progress?.bar.update(progress.label, examples.length, examples.length);
  progress?.bar.end();
  return classificationReport(
    examples.map((e) => e.label!),
    predictions.map((p, i) => (examples[i]!.labels ?? labels)[p]!),
    labels,
  );
}

// ---------------------------------------------------------------------------------------------
// Reporting

/** The verbalizer as a plain object, label -> continuation. */
export function verbalizerEntries(v: Verbalizer): Record<string, string> {
  return Object.fromEntries(v.labels.map((l) => [l, v.continuation(l)]));
}

/** `girl=" girl", boy=" boy"` */
export function describeVerbalizer(v: Verbalizer): string {
  return v.labels.map((l) => `${l}=${JSON.stringify(v.continuation(l))}`).join(', ');
}

/** A report as snake_case JSON fields. */
export function reportJson(r: ClassificationReport): Record<string, unknown> {
  return {
    n: r.n,
    accuracy: r.accuracy,
    macro_f1: r.macroF1,
    per_class: r.perClass.map((c) => ({
      label: c.label,
      gold: c.gold,
      predicted: c.predicted,
      correct: c.correct,
      precision: c.precision,
      recall: c.recall,
      f1: c.f1,
    })),
    confusion: { labels: r.confusion.labels, matrix: r.confusion.matrix },
  };
}

/** Warns (stderr) about cut inputs and dropped demonstrations of one setting. */
export function warnEncoding(io: Io, split: EncodedSplit, what: string, context: string): void {
  const n = split.examples.length;
  if (split.truncated > 0) {
    io.err(
      `softprompt: warning: ${what}: ${split.truncated} of ${n} examples did not fit the context (${context}); ` +
        `their "${split.truncateField}" field was cut to fit`,
    );
  }
  if (split.demosDropped > 0) {
    io.err(
      `softprompt: warning: ${what}: for ${split.examplesWithDemosDropped} of ${n} examples the template with its demonstrations overflowed ` +
        `the context (${context}); dropped ${split.demosDropped} demonstration${split.demosDropped === 1 ? '' : 's'} (the last first) so they fit`,
    );
  }
}

/** The context an example must fit: the model's positions minus the adapter's virtual tokens. */
export function contextOf(model: LoadedModel, adapter: LoadedAdapter | undefined): { maxLength: number; text: string } {
  const virtual = adapter?.method.numVirtualTokens ?? 0;
  const maxLength = model.config.maxPositions - virtual;
  if (maxLength < 2) throw new SoftpromptError(`the adapter's ${virtual} virtual tokens leave no room in the model's ${model.config.maxPositions} positions`);
  return { maxLength, text: virtual > 0 ? `${maxLength} tokens = ${model.config.maxPositions} positions - ${virtual} virtual tokens` : `${maxLength} tokens` };
}

// ---------------------------------------------------------------------------------------------
// The command

/** The flags {@link addPromptOptions} adds, shared by eval and rank-templates. */
export interface PromptOptionFlags {
  model?: string;
  data?: string;
  instruction?: string;
  labelField?: string;
  truncateField?: string;
  demosFrom?: string;
  demoSelection: DemoStrategy;
  seed: number;
  maxExamples?: number;
  lengthNormalize?: boolean;
  batchSize: number;
  json?: boolean;
}

/** Flags of `softprompt eval`, after config-file merging and commander's parsing. */
export interface EvalFlags extends PromptOptionFlags {
  adapter?: string;
  template?: string;
  verbalizer?: string;
  shots?: number[];
  task?: string;
  taskField?: string;
}

export interface EvalRun {
  readonly setting: string;
  readonly shots: number;
  readonly report: ClassificationReport;
  readonly split: EncodedSplit;
}

export interface EvalResult {
  readonly runs: EvalRun[];
  /** The --json object (also returned for programmatic use). */
  readonly json: Record<string, unknown>;
}

/** Template, verbalizer and label field from the flags, else the adapter's softprompt.json. */
function promptFrom(flags: EvalFlags, fromCli: (key: keyof EvalFlags) => boolean, adapter: LoadedAdapter | undefined): PromptSpec {
  const meta = adapter?.meta ?? null;
  const metaFile = adapter ? `${adapter.dir}/softprompt.json` : undefined;
  const flagTemplates = flags.template !== undefined ? perTaskTemplates(flags.template) : null;
  const flagVerbalizers = flags.verbalizer !== undefined ? perTaskVerbalizers(flags.verbalizer) : null;
  let template: Template;
  if (flagTemplates) {
    template = new Template([...flagTemplates.values()][0]!, { source: '--template' });
  } else if (flags.template !== undefined) {
    const t = textArg(flags.template, '--template', fromCli('template'));
    const ins = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : undefined;
    template = new Template(t.text, { source: t.origin, ...(ins !== undefined ? { instruction: ins } : {}) });
  } else if (meta?.template) {
    const ins = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : meta.template.instruction;
    template = new Template(meta.template.source, { source: metaFile, ...(ins !== undefined ? { instruction: ins } : {}) });
  } else {
    throw new SoftpromptError(
      adapter
        ? `no template: the adapter ${adapter.dir} has none in softprompt.json; pass --template TEXT (e.g. '{text}\\nThe story is about a')`
        : `no template: pass --template TEXT (e.g. '{text}\\nThe story is about a'; \\n is a newline, @FILE reads it from a file)`,
    );
  }
  let verbalizer: Verbalizer;
  if (flagVerbalizers) verbalizer = [...flagVerbalizers.values()][0]!;
  else if (flags.verbalizer !== undefined) verbalizer = verbalizerArg(flags.verbalizer);
  else if (meta?.verbalizer) verbalizer = new Verbalizer(meta.verbalizer, metaFile);
  else {
    throw new SoftpromptError(
      adapter
        ? `no verbalizer: the adapter ${adapter.dir} has none in softprompt.json; pass --verbalizer JSON (e.g. '{"girl": " girl", "boy": " boy"}')`
        : `no verbalizer: pass --verbalizer JSON or FILE (e.g. '{"girl": " girl", "boy": " boy"}')`,
    );
  }
  const tasks = tasksFrom(flags, adapter);
  if ((flagTemplates || flagVerbalizers) && !tasks) {
    throw new SoftpromptError('a per-task --template or --verbalizer (a JSON object keyed by task name) needs a multitask prompt tuning --adapter');
  }
  const base = { template, verbalizer, labelField: flags.labelField ?? meta?.label_field ?? 'label', truncateField: flags.truncateField };
  if (!tasks) return base;
  // Each task's own template/verbalizer: from per-task flags, else softprompt.json's task_prompts,
  // unless a plain flag overrides that part for every task.
  const recorded = meta?.task_prompts ?? {};
  const byTask = new Map<string, TaskPrompt>();
  for (const t of tasks.names) {
    const tt = flagTemplates?.get(t) ?? (flags.template === undefined ? recorded[t]?.template?.source : undefined);
    const vv = flagVerbalizers?.get(t) ?? (flags.verbalizer === undefined && recorded[t]?.verbalizer ? new Verbalizer(recorded[t]!.verbalizer!, `${metaFile} task_prompts.${t}`) : undefined);
    const ins = recorded[t]?.template?.instruction;
    const own: TaskPrompt = {
      ...(tt !== undefined ? { template: new Template(tt, { source: flagTemplates ? `--template (task ${t})` : `${metaFile} task_prompts.${t}`, ...(ins !== undefined && !flagTemplates ? { instruction: ins } : {}) }) } : {}),
      ...(vv ? { verbalizer: vv } : {}),
    };
    if (own.template || own.verbalizer) byTask.set(t, own);
  }
  checkTaskNames('--template', flagTemplates, tasks.names, `a task of ${adapter!.dir}; its tasks are`);
  checkTaskNames('--verbalizer', flagVerbalizers, tasks.names, `a task of ${adapter!.dir}; its tasks are`);
  if (byTask.size === 0) return { ...base, tasks };
  const scored = tasks.only !== undefined ? [tasks.only] : tasks.names;
  const labels = unionLabels(scored, byTask, verbalizer);
  const first = byTask.get(scored[0]!);
  return { ...base, template: first?.template ?? template, verbalizer: first?.verbalizer ?? verbalizer, tasks: { ...tasks, prompts: byTask }, labels };
}



/** The task setting of a multitask adapter: --task for every record, else each record's --task-field. */
function tasksFrom(flags: Pick<EvalFlags, 'task' | 'taskField'>, adapter: LoadedAdapter | undefined): PromptSpec['tasks'] {
  const numTasks = adapter?.method.numTasks;
  if (numTasks === undefined) {
    if (flags.task !== undefined || flags.taskField !== undefined) {
      throw new SoftpromptError(`--task/--task-field apply to multitask prompt tuning adapters only${adapter ? `; ${adapter.dir} is ${adapter.peftType}` : ''}`);
    }
    return undefined;
  }
  const names = adapter!.tasks ?? Array.from({ length: numTasks }, (_, i) => String(i));
  if (flags.task !== undefined) {
    if (!names.includes(flags.task)) throw new SoftpromptError(`--task ${JSON.stringify(flags.task)} is not a task of ${adapter!.dir}; its tasks are: ${names.join(', ')}`);
    return { names, only: flags.task };
  }
  const trained = adapter!.meta?.training?.['task_field'];
  return { names, field: flags.taskField ?? (typeof trained === 'string' ? trained : 'task'), ...(names.length === 1 ? { fallback: names[0]! } : {}) };
}

/** Runs `softprompt eval` with parsed flags; prints the table (or JSON) to `io`. */
export async function runEval(flags: EvalFlags, io: Io = processIo, fromCli: (key: keyof EvalFlags) => boolean = () => true): Promise<EvalResult> {
  const shots = flags.shots ?? [0];
  const dataPath = required(flags.data, '--data', 'the labelled split to evaluate (JSONL, CSV, TSV or Parquet)');
  if (shots.some((k) => k > 0) && flags.demosFrom === undefined) {
    throw new SoftpromptError(`--shots ${shots.join(',')} needs demonstrations: pass --demos-from FILE (a labelled split, e.g. the train file)`);
  }
  const model = await loadModel(flags.model);
  const adapter = flags.adapter !== undefined ? loadAdapterDir(flags.adapter, model, (m) => io.err(`softprompt: warning: ${m}`)) : undefined;
  const prompt = promptFrom(flags, fromCli, adapter);
  const records = await readSplit(dataPath, flags.maxExamples);
  const pool = flags.demosFrom !== undefined && shots.some((k) => k > 0) ? await readAllRecords(flags.demosFrom) : undefined;
  const context = contextOf(model, adapter);
  const labels = prompt.labels ?? prompt.verbalizer.labels;

  const softSlots = checkSoftSlots(prompt.template, adapter, (m) => io.err(`softprompt: warning: ${m}`));
  const scorer = await createScorer(model, adapter, { batchSize: flags.batchSize, maxLabels: labels.length, lengthNormalize: flags.lengthNormalize ?? false, softSlots });
  const runs: EvalRun[] = [];
  const bar = new Progress(io);
  try {
    for (const k of shots) {
      const setting = `${adapter ? 'adapter ' : ''}${k}-shot${k > 0 ? ` ${flags.demoSelection}` : ''}`;
      const split = encodeSplit(records, prompt, { k, strategy: flags.demoSelection, seed: flags.seed }, pool, model.tokenizer, context.maxLength);
      warnEncoding(io, split, setting, context.text);
      const report = await scoreSplit(scorer, split.examples, labels, { bar, label: setting });
      runs.push({ setting, shots: k, report, split });
    }
  } finally {
    await scorer.release();
  }

  const runJson = (r: EvalRun): Record<string, unknown> => ({
    setting: r.setting,
    shots: r.shots,
    ...reportJson(r.report),
    truncated: r.split.truncated,
    demos_dropped: r.split.demosDropped,
  });
  const last = runs.at(-1)!;
  const json: Record<string, unknown> = {
    command: 'eval',
    model: model.dir,
    adapter: adapter?.dir ?? null,
    method: adapter?.method.kind ?? null,
    peft_type: adapter?.peftType ?? null,
    virtual_tokens: adapter?.method.numVirtualTokens ?? 0,
    data: dataPath,
    template: prompt.template.source,
    instruction: prompt.template.instruction ?? null,
    verbalizer: verbalizerEntries(prompt.verbalizer),
    label_field: prompt.labelField,
    truncate_field: last.split.truncateField ?? null,
    length_normalize: flags.lengthNormalize ?? false,
    demos_from: flags.demosFrom ?? null,
    demo_selection: flags.demoSelection,
    seed: flags.seed,
    ...runJson(last),
    ...(runs.length > 1 ? { runs: runs.map(runJson) } : {}),
  };

  if (flags.json) {
    io.out(JSON.stringify(json));
  } else {
    io.out(`model       ${model.dir}${model.source === 'flag' ? '' : ` (from ${model.source})`}`);
    if (adapter) io.out(`adapter     ${adapter.dir} (${adapter.peftType}, ${adapter.method.numVirtualTokens} virtual tokens)`);
    io.out(`data        ${dataPath} (${records.length} examples)`);
    io.out(`template    ${oneLine(prompt.template.source)}${prompt.template.instruction !== undefined ? ` after instruction ${oneLine(prompt.template.instruction, 40)}` : ''}`);
    io.out(`verbalizer  ${describeVerbalizer(prompt.verbalizer)}`);
    io.out('');
    for (const line of resultTable(runs.map((r) => ({ name: r.setting, report: r.report })), labels)) io.out(line);
    io.out('');
    io.out(`per class: correct/gold and recall${flags.lengthNormalize ? '; scores are mean log-probability per token' : ''}`);
  }
  return { runs, json };
}

/** The human table: one row per setting with accuracy, macro-F1 and each class's correct/gold and recall. */
export function resultTable(rows: readonly { name: string; report: ClassificationReport }[], labels: readonly string[]): string[] {
  const header = ['setting', 'n', 'accuracy', 'macro-F1', ...labels];
  const body = rows.map(({ name, report }) => [
    name,
    String(report.n),
    percent(report.accuracy),
    percent(report.macroF1),
    ...labels.map((l) => {
      const c = report.perClass.find((p) => p.label === l)!;
      return `${c.correct}/${c.gold} ${percent(c.recall)}`;
    }),
  ]);
  return formatTable(header, body, ['left', 'right', 'right', 'right', ...labels.map(() => 'right' as const)]);
}

/** Options eval and rank-templates share, added in the same order with the same help. */
export function addPromptOptions(cmd: Command): Command {
  return cmd
    .option('--model <dir>', `Hugging Face model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)`)
    .option('--data <file>', 'labelled split to score (.jsonl, .csv, .tsv, .parquet)')
    .option('--instruction <text>', 'text put before the template (same escapes as --template)')
    .option('--label-field <name>', 'field holding the gold label (default: the adapter\'s, else "label")')
    .option('--truncate-field <name>', "field cut when an example is longer than the context (default: the template's longest field)")
    .option('--demos-from <file>', 'labelled split to draw demonstrations from (needed for --shots > 0)')
    .addOption(new Option('--demo-selection <how>', 'how demonstrations are chosen').choices(['random', 'balanced', 'similar']).default('random'))
    .option('--seed <n>', 'seed for choosing demonstrations', intArg(0), 0)
    .option('--max-examples <n>', 'score only the first N examples of --data', intArg(1))
    .option('--length-normalize', 'rank labels by mean log-probability per token instead of the sum')
    .option('--batch-size <n>', 'examples per forward pass', intArg(1), 16)
    .option('--json', 'print one JSON object as the last line of stdout');
}

const EVAL_HELP = `
Template text: {field} slots are filled from each record and the verbalizer's text follows the
template directly. {soft:N} slots place N of an adapter's virtual tokens at that point (they must
add up to its num_virtual_tokens); an adapter trained with slots records its template. On the command line, \\n in --template and --instruction is a newline (\\t a tab,
\\\\ a backslash); @FILE reads the text from a file as it is. Config files hold real newlines.

Config files: --config FILE (JSON or YAML) may set any flag, by its name without dashes
(max-examples: 40, or maxExamples: 40); flags on the command line override it. Example:
  model: ../shared/models/stories260K
  template: "{text}\\nThe story is about a"
  verbalizer: {girl: " girl", boy: " boy"}
  shots: [0, 1, 4]

With several --shots values the table has one row per setting; with --json, "runs" holds every
setting and the top-level fields (accuracy, macro_f1, n, ...) are those of the last one.

Examples:
  softprompt eval --model ../shared/models/stories260K --data ../shared/datasets/story_gender/validation.jsonl \\
    --template '{text}\\nThe story is about a' --verbalizer '{"girl": " girl", "boy": " boy"}'
  softprompt eval --model ../shared/models/stories260K --data ../shared/datasets/story_gender/validation.jsonl \\
    --template '{text}\\nThe story is about a' --verbalizer examples/story_gender/verbalizers.json \\
    --shots 0,1,4 --demos-from ../shared/datasets/story_gender/train.jsonl --demo-selection balanced --json
  softprompt eval --model ../shared/models/stories260K --adapter runs/story_gender --data ../shared/datasets/story_gender/validation.jsonl
  softprompt eval --config examples/story_gender/eval.yaml --max-examples 100
`;

/** `softprompt eval`. */
export function evalCommand(): Command {
  const cmd = new Command('eval').description(
    'score a labelled split by rank classification: a hard prompt (zero-, one- or k-shot) or a trained adapter; accuracy, macro-F1, per-class counts',
  );
  addPromptOptions(cmd)
    .option('--adapter <dir>', 'trained adapter folder (PEFT files + softprompt.json); its template, verbalizer and label field are the defaults')
    .option('--template <text>', 'prompt template with {field} slots, e.g. "{text}\\nThe story is about a" (or @FILE)')
    .option('--verbalizer <json|file>', 'label -> continuation text, inline JSON or a JSON file, e.g. \'{"girl": " girl", "boy": " boy"}\'')
    .option('--shots <k>', 'demonstrations per query: one count, or a comma list such as 0,1,4 (one row each; default 0)', parseShots)
    .option('--task <name>', "multitask adapters: score every record with this task's prompt")
    .option('--task-field <name>', "multitask adapters: the field naming each record's task (default: the one it was trained with, else \"task\")");
  withConfigFile(cmd, { structured: ['verbalizer', 'shots', 'template'] });
  cmd.addHelpText('after', EVAL_HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    const flags = self.opts<EvalFlags>();
    await runEval(flags, processIo, (key) => self.getOptionValueSource(key) === 'cli');
  });
  return cmd;
}
