/**
 * `softprompt eval`: rank classification of a labelled split under a hard prompt (zero- or
 * k-shot, several shot counts in one run) or a trained adapter, with accuracy, macro-F1 and
 * per-class counts.
 *
 * Flags to a PromptSpec, then the library's pieces (pretrained/ loads the model, data/split.ts
 * encodes, eval/score.ts scores), then printing; the printing helpers are shared with rank-templates
 * and inspect.
 */
import { exitCodeOf, onInterrupt } from './interrupt.ts';
import { Command, Option } from 'commander';
import { loadAdapterDir } from '../adapter/load.ts';
import { adapterPrompt } from '../adapter/prompt.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import type { DemoStrategy } from '../data/demos.ts';
import type { TaskPrompt } from '../data/encode.ts';
import { readAllRecords, readSplit } from '../data/readers.ts';
import { encodeSplit } from '../data/split.ts';
import type { EncodedSplit, PromptSpec } from '../data/split.ts';
import { checkTaskNames, unionLabels } from '../data/task_prompts.ts';
import { Template } from '../data/template.ts';
import { Verbalizer, verbalizerEntries } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import type { ClassificationReport } from '../eval/metrics.ts';
import { checkSoftSlots, contextOf, createScorer, scoreSplit } from '../eval/score.ts';
import { formatTable, oneLine, percent } from '../inspect/table.ts';
import { loadModel } from '../pretrained/model.ts';
import { intArg, parseShots, required, textArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { processIo, Progress } from './output.ts';
import type { Io } from './output.ts';
import { perTaskTemplates, perTaskVerbalizers } from './task_flags.ts';

// ---------------------------------------------------------------------------------------------
// Reporting

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
  const instructionFlag = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : undefined;
  const recorded = adapter ? adapterPrompt(adapter, { instruction: instructionFlag }) : undefined;
  const flagTemplates = flags.template !== undefined ? perTaskTemplates(flags.template) : null;
  const flagVerbalizers = flags.verbalizer !== undefined ? perTaskVerbalizers(flags.verbalizer) : null;
  let template: Template;
  if (flagTemplates) {
    template = new Template([...flagTemplates.values()][0]!, { source: '--template' });
  } else if (flags.template !== undefined) {
    const t = textArg(flags.template, '--template', fromCli('template'));
    template = new Template(t.text, { source: t.origin, ...(instructionFlag !== undefined ? { instruction: instructionFlag } : {}) });
  } else if (recorded?.template) {
    template = recorded.template;
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
  else if (recorded?.verbalizer) verbalizer = recorded.verbalizer;
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
  const base = { template, verbalizer, labelField: flags.labelField ?? recorded?.labelField ?? 'label', truncateField: flags.truncateField };
  if (!tasks) return base;
  // Each task's own template/verbalizer: from per-task flags, else softprompt.json's task_prompts,
  // unless a plain flag overrides that part for every task.
  const byTask = new Map<string, TaskPrompt>();
  for (const t of tasks.names) {
    const own = recorded?.taskPrompts.get(t);
    const flagText = flagTemplates?.get(t);
    const tt = flagText !== undefined ? new Template(flagText, { source: `--template (task ${t})` }) : flags.template === undefined ? own?.template : undefined;
    const vv = flagVerbalizers?.get(t) ?? (flags.verbalizer === undefined ? own?.verbalizer : undefined);
    if (tt || vv) byTask.set(t, { ...(tt ? { template: tt } : {}), ...(vv ? { verbalizer: vv } : {}) });
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
  return { names, field: flags.taskField ?? adapterPrompt(adapter!).taskField ?? 'task', ...(names.length === 1 ? { fallback: names[0]! } : {}) };
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
  // Ctrl-C / SIGTERM: eval writes nothing before its end, so it stops at once (after the current
  // batch) with one line, exit 130/143; the handlers go with the first signal (interrupt.ts).
  const interrupt = onInterrupt((sig) => {
    io.err(`\nsoftprompt: ${sig}: evaluation interrupted; nothing was written`);
    process.exit(exitCodeOf(sig));
  });
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
    interrupt.dispose();
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
