/**
 * `softprompt train`: a dataset and a frozen model in, a PEFT adapter out (best on the dev
 * split, plus last/ and resumable checkpoints/), with metrics.jsonl beside it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { saveAdapter } from '../adapter/save.ts';
import { SOFTPROMPT_FILE } from '../adapter/types.ts';
import type { MultitaskSourceInit, PromptInit } from '../adapter/types.ts';
import { multitaskPromptTuning } from '../methods/multitask.ts';
import { initMultitaskParams } from '../methods/multitask_init.ts';
import { padIdOf } from '../data/collate.ts';
import { ExampleEncoder } from '../data/encode.ts';
import { readRecords, take } from '../data/readers.ts';
import { Template } from '../data/template.ts';
import { SoftpromptError } from '../errors.ts';
import { formatInit, initParams, parseInit } from '../methods/init.ts';
import { P_TUNING_ENCODER_TYPES, pTuning } from '../methods/p_tuning.ts';
import type { PTuningEncoderType } from '../methods/p_tuning.ts';
import { prefixTuning } from '../methods/prefix_tuning.ts';
import { promptTuning } from '../methods/prompt_tuning.ts';
import type { PromptMethod } from '../methods/types.ts';
import { SCHEDULES } from '../train/schedule.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { TrainSource } from '../train/source.ts';
import { train } from '../train/trainer.ts';
import type { DevMetric, Params, TrainResult } from '../train/trainer.ts';
import { intArg, required, textArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { parseMemory } from '../models/memory.ts';
import { encodeSplit, loadModel, longestField, readSplit, verbalizerEntries } from './eval.ts';
import type { LoadedModel } from './eval.ts';
import { formatTable, percent, processIo } from './output.ts';
import type { Io } from './output.ts';
import { trainProgress } from './progress.ts';
import { perTaskTemplates, perTaskVerbalizers, taskPromptSet, taskPromptsJson } from './task_prompts.ts';
import { writeRunReport } from '../report/report.ts';
import { initFromAdapter } from '../library/transfer.ts';

export const METHODS = {
  'prompt-tuning': 'prompt_tuning',
  'p-tuning': 'p_tuning',
  'prefix-tuning': 'prefix_tuning',
  'multitask-prompt-tuning': 'multitask_prompt_tuning',
} as const;
export type MethodFlag = keyof typeof METHODS;

/** Flags of `softprompt train` after config-file merging. */
export interface TrainFlags {
  model?: string;
  train?: string;
  validation?: string;
  template?: string;
  instruction?: string;
  verbalizer?: string;
  labelField: string;
  truncateField?: string;
  method: MethodFlag;
  virtualTokens: number;
  init: string;
  initFrom?: string;
  encoderHiddenSize?: number;
  encoderType?: PTuningEncoderType;
  prefixProjection?: boolean;
  /** Multitask prompt tuning: task names (comma list; default: the task field's values in the train file). */
  tasks?: string;
  taskField: string;
  numRanks: number;
  lr?: number;
  schedule: ScheduleKind;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  adamEps: number;
  maxGradNorm: number;
  epochs?: number;
  steps?: number;
  batchSize: number;
  gradAccum: number;
  seed: number;
  out?: string;
  maxTrainExamples?: number;
  maxEvalExamples?: number;
  evalEvery?: number;
  patience?: number;
  metric: DevMetric;
  saveEvery: number;
  bucket?: boolean;
  shuffleBuffer: number;
  /** Memory budget in bytes (parsed from --max-memory). */
  maxMemory?: number;
  lengthNormalize?: boolean;
  resume?: boolean;
  json?: boolean;
}

function floatArg(min: number, inclusive = true): (value: string) => number {
  return (value) => {
    const x = Number(value);
    if (value.trim() === '' || !Number.isFinite(x) || (inclusive ? x < min : x <= min)) {
      throw new InvalidArgumentError(`expected a number ${inclusive ? '>=' : '>'} ${min}, got "${value}"`);
    }
    return x;
  };
}

export function makeMethod(
  flags: Pick<TrainFlags, 'method' | 'virtualTokens' | 'encoderHiddenSize' | 'encoderType' | 'prefixProjection'> & { numRanks?: number; numTasks?: number },
  model: LoadedModel,
): PromptMethod {
  const n = flags.virtualTokens;
  if (flags.encoderType === 'lstm' && flags.method !== 'p-tuning') throw new SoftpromptError(`--encoder-type lstm applies to --method p-tuning only (got --method ${flags.method})`);
  if (flags.prefixProjection && flags.method !== 'prefix-tuning') throw new SoftpromptError(`--prefix-projection applies to --method prefix-tuning only (got --method ${flags.method})`);
  switch (flags.method) {
    case 'prompt-tuning':
      return promptTuning(model.config, { numVirtualTokens: n });
    case 'p-tuning':
      return pTuning(model.config, { numVirtualTokens: n, encoderHiddenSize: flags.encoderHiddenSize ?? model.config.hiddenSize, encoderType: flags.encoderType ?? 'mlp' });
    case 'prefix-tuning':
      return prefixTuning(model.config, { numVirtualTokens: n, projection: flags.prefixProjection === true, ...(flags.encoderHiddenSize !== undefined ? { encoderHiddenSize: flags.encoderHiddenSize } : {}) });
    case 'multitask-prompt-tuning':
      return multitaskPromptTuning(model.config, { numVirtualTokens: n, numTasks: flags.numTasks ?? 1, numRanks: flags.numRanks ?? 1 });
  }
}

/** PEFT's MultitaskPromptTuningInit source modes, as --init values. */
const SOURCE_INITS = { 'average-source-tasks': 'average_source_tasks', 'exact-source-task': 'exact_source_task', 'only-source-shared': 'only_source_shared' } as const;

/** `--init average-source-tasks | exact-source-task[:TASK] | only-source-shared` with --init-from, else null. */
function parseSourceInit(flags: Pick<TrainFlags, 'init' | 'initFrom' | 'method'>): MultitaskSourceInit | null {
  const m = new RegExp(`^(${Object.keys(SOURCE_INITS).join('|')})(?::(.+))?$`).exec(flags.init.trim());
  if (!m) return null;
  if (flags.method !== 'multitask-prompt-tuning') throw new SoftpromptError(`--init ${flags.init} applies to --method multitask-prompt-tuning only`);
  if (flags.initFrom === undefined) throw new SoftpromptError(`--init ${flags.init} starts from a source multitask adapter: pass --init-from DIR`);
  const kind = SOURCE_INITS[m[1] as keyof typeof SOURCE_INITS];
  if (m[2] !== undefined && kind !== 'exact_source_task') throw new SoftpromptError(`--init ${flags.init}: only exact-source-task takes a task (exact-source-task:NAME or :ID)`);
  if (kind !== 'exact_source_task') return { kind, path: resolve(flags.initFrom) };
  const spec = m[2] ?? '0';
  if (/^\d+$/.test(spec)) return { kind, path: resolve(flags.initFrom), task: Number(spec) };
  // A task name: the source's softprompt.json says which id it has.
  const metaFile = join(flags.initFrom, SOFTPROMPT_FILE);
  const tasks = existsSync(metaFile) ? (JSON.parse(readFileSync(metaFile, 'utf8')) as { tasks?: unknown }).tasks : undefined;
  const id = Array.isArray(tasks) ? tasks.indexOf(spec) : -1;
  if (id < 0) {
    throw new SoftpromptError(`--init ${flags.init}: the source ${flags.initFrom} has no task named "${spec}"${Array.isArray(tasks) ? `; its tasks are: ${tasks.join(', ')}` : ' (no task names in its softprompt.json; give the task id)'}`);
  }
  return { kind, path: resolve(flags.initFrom), task: id };
}

/** The task names of a multitask run: --tasks, else the task field's values in the train file, in order of first appearance. */
async function taskNames(flags: Pick<TrainFlags, 'tasks' | 'taskField'>, trainPath: string): Promise<string[]> {
  if (flags.tasks !== undefined) {
    const names = flags.tasks.split(',').map((t) => t.trim());
    if (names.some((t) => t === '')) throw new SoftpromptError(`--tasks ${JSON.stringify(flags.tasks)}: empty task name`);
    const dup = names.find((t, i) => names.indexOf(t) !== i);
    if (dup !== undefined) throw new SoftpromptError(`--tasks ${JSON.stringify(flags.tasks)}: task "${dup}" is listed twice`);
    return names;
  }
  const seen: string[] = [];
  for await (const r of readRecords(trainPath)) {
    const v = r[flags.taskField];
    if (typeof v === 'string' || typeof v === 'number') {
      if (!seen.includes(String(v))) seen.push(String(v));
    } else {
      throw new SoftpromptError(
        `${r.__file ?? trainPath}:${r.__line}: record has no task field "${flags.taskField}" (multitask prompt tuning needs each record's task; set --task-field, or --tasks NAME for a one-task run)`,
      );
    }
  }
  return seen;
}

export interface TrainOutcome {
  result: TrainResult;
  json: Record<string, unknown>;
}

/** Runs `softprompt train` with parsed flags. */
export async function runTrain(flags: TrainFlags, io: Io = processIo, fromCli: (key: keyof TrainFlags) => boolean = () => true): Promise<TrainOutcome> {
  const trainPath = required(flags.train, '--train', 'the labelled training split (JSONL, CSV, TSV or Parquet)');
  const out = resolve(required(flags.out, '--out', 'the folder to write the adapter, checkpoints and metrics.jsonl to'));
  const templateRaw = required(flags.template, '--template', `the prompt template, e.g. '{text}\\nThe story is about a'`);
  // Multitask runs may give each task its own template and verbalizer (JSON objects keyed by task).
  const taskTemplateTexts = perTaskTemplates(templateRaw);
  const taskVerbalizers = perTaskVerbalizers(required(flags.verbalizer, '--verbalizer', `label -> continuation JSON, e.g. '{"girl": " girl", "boy": " boy"}'`));
  if ((taskTemplateTexts || taskVerbalizers) && flags.method !== 'multitask-prompt-tuning') {
    throw new SoftpromptError(`a per-task ${taskTemplateTexts ? '--template' : '--verbalizer'} (a JSON object keyed by task name) needs --method multitask-prompt-tuning`);
  }
  const templateArg = taskTemplateTexts ? { text: [...taskTemplateTexts.values()][0]!, origin: '--template' } : textArg(templateRaw, '--template', fromCli('template'));
  const instruction = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : undefined;
  const template = new Template(templateArg.text, { source: templateArg.origin, ...(instruction !== undefined ? { instruction } : {}) });
  const verbalizer = taskVerbalizers ? [...taskVerbalizers.values()][0]! : verbalizerArg(flags.verbalizer!);
  const lr = required(flags.lr, '--lr', 'the peak learning rate (prompt tuning often uses 0.3; p-tuning 1e-3 to 1e-2)');
  if (flags.epochs === undefined && flags.steps === undefined) throw new SoftpromptError('missing run length: pass --epochs N or --steps N');
  if (flags.epochs !== undefined && flags.steps !== undefined) {
    // One of them typed on the command line beats the other from a config file.
    if (fromCli('steps') && !fromCli('epochs')) flags = { ...flags, epochs: undefined };
    else if (fromCli('epochs') && !fromCli('steps')) flags = { ...flags, steps: undefined };
    else throw new SoftpromptError('pass --epochs N or --steps N, not both');
  }
  if (!existsSync(trainPath)) throw new SoftpromptError(`--train ${trainPath}: no such file`);
  if (flags.validation !== undefined && !existsSync(flags.validation)) throw new SoftpromptError(`--validation ${flags.validation}: no such file`);
  // A multitask source init replaces the shared prompt's init (fresh factors stay random).
  const sourceInit = parseSourceInit(flags);
  const init: PromptInit = sourceInit ? { kind: 'random' } : parseInit(flags.init);

  const model = await loadModel(flags.model);
  const softSlots = template.softTokens > 0;
  if (softSlots) {
    // The slots fix the number of virtual tokens; a different --virtual-tokens is a contradiction.
    if (fromCli('virtualTokens') && flags.virtualTokens !== template.softTokens) {
      throw new SoftpromptError(`--virtual-tokens ${flags.virtualTokens} disagrees with the template's {soft:N} slots, which hold ${template.softTokens}; drop --virtual-tokens or change the slots`);
    }
    if (flags.method === 'prefix-tuning') {
      throw new SoftpromptError("the template has {soft:N} slots but --method prefix-tuning puts its prefix into every layer's keys/values, not into the input; use prompt-tuning or p-tuning, or drop the slots");
    }
    flags = { ...flags, virtualTokens: template.softTokens };
  }
  const multitask = flags.method === 'multitask-prompt-tuning';
  if (!multitask && (fromCli('tasks') || fromCli('taskField') || fromCli('numRanks'))) {
    throw new SoftpromptError('--tasks, --task-field and --num-ranks apply to --method multitask-prompt-tuning only');
  }
  const tasks = multitask ? await taskNames(flags, trainPath) : undefined;
  const prompts = tasks && (taskTemplateTexts || taskVerbalizers)
    ? taskPromptSet(
        tasks,
        taskTemplateTexts
          ? new Map([...taskTemplateTexts].map(([t, text]) => [t, new Template(text, { source: `--template (task ${t})`, ...(instruction !== undefined ? { instruction } : {}) })]))
          : null,
        taskVerbalizers,
        { template, verbalizer },
      )
    : null;
  if (prompts && new Set([...prompts.byTask.values()].map((p) => (p.template ?? template).softTokens)).size > 1) {
    throw new SoftpromptError('the per-task templates hold different numbers of {soft:N} virtual tokens; every task places the same adapter tokens, so give each the same total');
  }
  const method = makeMethod({ ...flags, ...(tasks ? { numTasks: tasks.length } : {}) }, model);
  const maxLength = model.config.maxPositions - method.numVirtualTokens;
  if (maxLength < 2) throw new SoftpromptError(`--virtual-tokens ${method.numVirtualTokens} leaves no room in the model's ${model.config.maxPositions} positions`);
  const padId = padIdOf(model.tokenizer);

  // The field cut when an input is too long: the template's longest, judged on the first records.
  const sample = await take(readRecords(trainPath), 1000);
  const truncateField = flags.truncateField ?? longestField(template, sample);
  if (truncateField !== undefined && !template.fields.includes(truncateField)) {
    throw new SoftpromptError(`--truncate-field "${truncateField}" is not a slot of the template (slots: ${template.fields.join(', ') || 'none'})`);
  }
  const encoder = new ExampleEncoder({
    template,
    verbalizer,
    tokenizer: model.tokenizer,
    maxLength,
    labelField: flags.labelField,
    ...(truncateField !== undefined ? { truncateField } : {}),
    // A one-task run (e.g. a target task started from a source adapter) needs no task field.
    ...(tasks ? { tasks, taskField: flags.taskField, ...(tasks.length === 1 ? { defaultTask: tasks[0]! } : {}) } : {}),
    ...(prompts ? { taskPrompts: prompts.byTask } : {}),
  });
  const source = new TrainSource({
    file: trainPath,
    encoder,
    batchSize: flags.batchSize,
    seed: flags.seed,
    shuffleBuffer: flags.shuffleBuffer,
    ...(flags.maxTrainExamples !== undefined ? { maxExamples: flags.maxTrainExamples } : {}),
    ...(flags.bucket ? { bucket: true } : {}),
  });
  let validation;
  if (flags.validation !== undefined) {
    const records = await readSplit(flags.validation, flags.maxEvalExamples);
    const prompt = { template, verbalizer, labelField: flags.labelField, truncateField, ...(tasks ? { tasks: { names: tasks, field: flags.taskField, ...(tasks.length === 1 ? { fallback: tasks[0]! } : {}), ...(prompts ? { prompts: prompts.byTask } : {}) } } : {}) };
    const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, maxLength);
    if (split.truncated > 0) io.err(`softprompt: warning: validation: ${split.truncated} of ${records.length} inputs were cut to fit the context (${maxLength} tokens)`);
    validation = split.examples;
  }

  const fingerprint = fingerprintModel(model, model.dir);
  if (flags.initFrom !== undefined && flags.init !== 'random' && !sourceInit) throw new SoftpromptError(`pass --init ${flags.init} or --init-from, not both`);
  if (multitask && flags.initFrom !== undefined && !sourceInit) {
    throw new SoftpromptError('--init-from with multitask prompt tuning: say how to use the source with --init average-source-tasks | exact-source-task:TASK | only-source-shared');
  }
  const initOptions = {
    seed: flags.seed,
    init,
    weights: model.weights,
    tokenizer: model.tokenizer,
    verbalizer,
    labelPrompt: template.renderWithSlots(Object.fromEntries(template.fields.map((f) => [f, '']))).text,
  };
  const initValues = multitask
    ? initMultitaskParams(model.config, method, { ...initOptions, ...(sourceInit ? { source: sourceInit } : {}) })
    : flags.initFrom !== undefined
      ? initFromAdapter(flags.initFrom, method, model, (m) => io.err(`softprompt: warning: ${m}`))
      : initParams(model.config, method, initOptions);
  // What defines the run: a resume must match it exactly (or its losses would not).
  const recipe: Record<string, unknown> = {
    base_model: fingerprint.sha256,
    train: resolve(trainPath),
    max_train_examples: flags.maxTrainExamples ?? null,
    template: prompts && taskTemplateTexts ? Object.fromEntries(taskTemplateTexts) : template.source,
    instruction: instruction ?? null,
    verbalizer: taskVerbalizers ? Object.fromEntries([...taskVerbalizers].map(([t, v]) => [t, verbalizerEntries(v)])) : verbalizerEntries(verbalizer),
    label_field: flags.labelField,
    truncate_field: truncateField ?? null,
    method: flags.method,
    virtual_tokens: method.numVirtualTokens,
    encoder_hidden_size: method.encoder?.hiddenSize ?? null,
    // Only when not the default, so checkpoints written before these flags still resume.
    ...(method.encoder?.type === 'lstm' ? { encoder_type: 'lstm' } : {}),
    ...(method.encoder?.type === 'prefix_projection' ? { prefix_projection: true } : {}),
    init: sourceInit ? flags.init.trim() : formatInit(init),
    ...(flags.initFrom !== undefined ? { init_from: resolve(flags.initFrom) } : {}),
    ...(tasks ? { tasks, task_field: flags.taskField, num_ranks: flags.numRanks } : {}),
    lr,
    schedule: flags.schedule,
    warmup_steps: flags.warmupSteps,
    weight_decay: flags.weightDecay,
    betas: [flags.beta1, flags.beta2],
    eps: flags.adamEps,
    max_grad_norm: flags.maxGradNorm,
    epochs: flags.epochs ?? null,
    steps: flags.steps ?? null,
    batch_size: flags.batchSize,
    grad_accum: flags.gradAccum,
    seed: flags.seed,
    bucket: flags.bucket ?? false,
    shuffle_buffer: flags.shuffleBuffer,
  };
  const training = {
    ...recipe,
    validation: flags.validation ? resolve(flags.validation) : null,
    max_eval_examples: flags.maxEvalExamples ?? null,
    length_normalize: flags.lengthNormalize === true,
    eval_every: flags.evalEvery ?? null,
    patience: flags.patience ?? null,
    metric: flags.metric,
  };
  const save = (dir: string, params: Params, metrics: Record<string, unknown> | null): void => {
    saveAdapter(dir, {
      method,
      trainable: params,
      config: model.config,
      fingerprint,
      baseModelPath: model.dir,
      meta: {
        template: { source: template.source, ...(instruction !== undefined ? { instruction } : {}) },
        verbalizer: verbalizerEntries(verbalizer),
        ...(prompts ? { task_prompts: taskPromptsJson(prompts) } : {}),
        label_field: flags.labelField,
        training,
        ...(metrics ? { metrics } : {}),
        init,
        ...(tasks ? { tasks } : {}),
        ...(sourceInit ? { source_init: sourceInit } : {}),
      },
    });
  };

  const progress = trainProgress();
  let result: TrainResult;
  try {
    result = await train({
      config: model.config,
      weights: model.weights,
      method,
      padId,
      init: initValues,
      source,
      ...(validation ? { validation } : {}),
      labels: prompts?.labels ?? verbalizer.labels,
      outDir: out,
      lr,
      schedule: flags.schedule,
      warmupSteps: flags.warmupSteps,
      weightDecay: flags.weightDecay,
      betas: [flags.beta1, flags.beta2],
      eps: flags.adamEps,
      maxGradNorm: flags.maxGradNorm,
      gradAccum: flags.gradAccum,
      ...(flags.epochs !== undefined ? { epochs: flags.epochs } : {}),
      ...(flags.steps !== undefined ? { steps: flags.steps } : {}),
      ...(flags.evalEvery !== undefined ? { evalEvery: flags.evalEvery } : {}),
      ...(flags.patience !== undefined ? { patience: flags.patience } : {}),
      metric: flags.metric,
      saveEvery: flags.saveEvery,
      resume: flags.resume === true,
      recipe,
      saveAdapter: save,
      onEvent: (e) => progress.onEvent(e),
      lengthNormalize: flags.lengthNormalize === true,
      ...(flags.maxMemory !== undefined ? { maxMemory: flags.maxMemory } : {}),
      softSlots,
    });
  } finally {
    progress.stop();
  }
  const best = result.best;
  // The picture of the run; a failure here must not cost the trained adapter.
  let report: string | null = null;
  try {
    report = await writeRunReport(out, { model });
    io.err(`report: ${report}`);
  } catch (e) {
    io.err(`softprompt: warning: could not write ${resolve(out, 'report.html')}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const json = {
    adapter: out,
    last: result.lastDir,
    metrics_log: resolve(out, 'metrics.jsonl'),
    report,
    steps: result.steps,
    stop_reason: result.stopReason,
    last_loss: result.lastLoss,
    elapsed_s: Number(result.elapsedSeconds.toFixed(2)),
    best: best ? { step: best.step, epoch: best.epoch, ...best.metrics } : null,
    ...(best ? { accuracy: best.metrics['accuracy'], macro_f1: best.metrics['macro_f1'], n: best.metrics['n'] } : {}),
  };
  if (flags.json) io.out(JSON.stringify(json));
  else {
    const rows: string[][] = [['adapter', out], ['updates', String(result.steps)], ['stopped', result.stopReason], ['time', `${result.elapsedSeconds.toFixed(1)} s`]];
    if (best) rows.push(['best', `update ${best.step}: accuracy ${percent(best.metrics['accuracy']!)}, macro-F1 ${percent(best.metrics['macro_f1']!)} on ${best.metrics['n']} examples`]);
    else rows.push(['saved', 'the last params (no --validation, so no best)']);
    for (const l of formatTable(['', ''], rows)) io.out(l);
  }
  return { result, json };
}

const TRAIN_HELP = `
Output (--out DIR): the adapter in PEFT's format (adapter_config.json, adapter_model.safetensors) plus
softprompt.json (template, verbalizer, training arguments, metrics, base-model fingerprint). With
--validation it is the best evaluation's params; DIR/last/ holds the last. DIR/checkpoints/ lets
--resume continue a killed run with exactly the losses it would have had; DIR/metrics.jsonl logs
every update and evaluation.

Schedules follow HF transformers: linear (default) and cosine decay to 0 after --warmup-steps,
or constant. Gradients are averaged over --grad-accum micro-batches.

Examples:
  softprompt train --model ../shared/models/stories260K \\
    --train ../shared/datasets/story_gender/train.jsonl --validation ../shared/datasets/story_gender/validation.jsonl \\
    --template '{text}\\nThe story is about a' --verbalizer '{"girl": " girl", "boy": " boy"}' \\
    --method prompt-tuning --virtual-tokens 20 --init text:"Is the story about a girl or a boy?" \\
    --lr 0.3 --epochs 3 --batch-size 16 --seed 1 --out runs/story_gender
  softprompt train --config train.yaml --resume
  softprompt train --model DIR --train sst2/train.jsonl --template '{text} It was' \\
    --verbalizer '{"negative": " bad", "positive": " good"}' --method p-tuning --virtual-tokens 10 \\
    --lr 0.003 --steps 2000 --batch-size 32 --grad-accum 2 --out runs/sst2 --seed 0
  # virtual tokens inside the template: {soft:N} slots (they set --virtual-tokens)
  softprompt train --config examples/story_gender/train.yaml --template '{soft:10}{text}\\nThe story is about{soft:10} a' --out runs/slots
  # multitask prompt tuning: a "task" field per record, and each task's own template and verbalizer
  softprompt train --model DIR --train mixed.jsonl --method multitask-prompt-tuning \\
    --template '{"gender": "{text}\\nThe story is about a", "sentiment": "{text}\\nIt was"}' \\
    --verbalizer '{"gender": {"girl": " girl", "boy": " boy"}, "sentiment": {"negative": " bad", "positive": " good"}}' \\
    --lr 0.3 --epochs 3 --out runs/mpt
  # a new task started from a multitask source (PEFT's EXACT_SOURCE_TASK)
  softprompt train --config examples/story_gender/train.yaml --method multitask-prompt-tuning --tasks gender \\
    --init exact-source-task:gender --init-from runs/mpt --epochs 1 --out runs/mpt-gender
`;

/** `softprompt train`. */
export function trainCommand(): Command {
  const cmd = new Command('train')
    .description('train a soft prompt (prompt tuning, p-tuning, prefix tuning or multitask prompt tuning) on a frozen model and save it as a PEFT adapter')
    .option('--model <dir>', 'Hugging Face model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--train <file>', 'labelled training split (.jsonl, .csv, .tsv, .parquet); streamed, never loaded whole')
    .option('--validation <file>', 'labelled dev split: evaluated by rank classification for the best checkpoint and early stopping')
    .option('--template <text>', 'prompt template with {field} slots (\\n is a newline; @FILE reads a file)')
    .option('--instruction <text>', 'text put before the template')
    .option('--verbalizer <json|file>', 'label -> continuation text, e.g. \'{"girl": " girl", "boy": " boy"}\'')
    .option('--label-field <name>', 'field holding the gold label', 'label')
    .option('--truncate-field <name>', "field cut when an example is longer than the context (default: the template's longest)")
    .addOption(new Option('--method <name>', 'prompt-learning method').choices(Object.keys(METHODS)).default('prompt-tuning'))
    .option('--virtual-tokens <n>', 'number of virtual tokens', intArg(1), 20)
    .option('--init <how>', 'prompt-tuning init: random | vocab | labels | text:"…"; multitask, with --init-from: average-source-tasks | exact-source-task:TASK | only-source-shared', 'random')
    .option('--init-from <dir>', "prompt transfer: start from this adapter's trainable tensors (same method and shapes), e.g. a library task")
    .option('--encoder-hidden-size <n>', "p-tuning encoder (MLP or LSTM) hidden size (default: the model hidden size); prefix projection's hidden size (default: its token_dim)", intArg(1))
    .addOption(new Option('--encoder-type <type>', 'p-tuning encoder, as PEFT: mlp, or lstm (bidirectional, 2 layers, then an MLP head)').choices([...P_TUNING_ENCODER_TYPES]).default('mlp'))
    .option('--tasks <names>', 'multitask prompt tuning: task names in id order, comma-separated (default: the task field\'s values in --train, in order of first appearance)')
    .option('--task-field <name>', "multitask prompt tuning: the field naming each record's task", 'task')
    .option('--num-ranks <n>', "multitask prompt tuning: rank of each task's factors (PEFT num_ranks)", intArg(1), 1)
    .option('--prefix-projection', "prefix tuning: train PEFT's Embedding → Linear → Tanh → Linear prefix encoder instead of the table")
    .option('--lr <x>', 'peak learning rate', floatArg(0, false))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices([...SCHEDULES]).default('linear'))
    .option('--warmup-steps <n>', 'linear warmup updates', intArg(0), 0)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', floatArg(0), 0.01)
    .option('--beta1 <x>', 'AdamW beta1', floatArg(0), 0.9)
    .option('--beta2 <x>', 'AdamW beta2', floatArg(0), 0.999)
    .option('--adam-eps <x>', 'AdamW epsilon', floatArg(0), 1e-8)
    .option('--max-grad-norm <x>', 'clip the gradient norm (0: no clipping)', floatArg(0), 0)
    .option('--epochs <n>', 'passes over the training split', intArg(1))
    .option('--steps <n>', 'optimizer updates (instead of --epochs)', intArg(1))
    .option('--batch-size <n>', 'examples per micro-batch', intArg(1), 16)
    .option('--grad-accum <n>', 'micro-batches per optimizer update', intArg(1), 1)
    .option('--seed <n>', 'seed for init and shuffling', intArg(0), 0)
    .option('--out <dir>', 'output folder')
    .option('--max-train-examples <n>', 'use only the first N training records', intArg(1))
    .option('--max-eval-examples <n>', 'evaluate only the first N validation records', intArg(1))
    .option('--eval-every <n>', 'evaluate every N updates (default: each epoch)', intArg(1))
    .option('--patience <n>', 'stop after N evaluations without improvement', intArg(1))
    .addOption(new Option('--metric <name>', 'dev metric for the best checkpoint').choices(['accuracy', 'macro_f1']).default('accuracy'))
    .option('--save-every <n>', 'checkpoint every N updates (also after each evaluation and epoch)', intArg(1), 50)
    .option('--bucket', 'batch similar lengths together (faster, less random)')
    .option('--shuffle-buffer <n>', 'shuffle-buffer size in examples; larger files are shuffled through it', intArg(1), 16384)
    .option('--max-memory <size>', 'memory budget for the check before loading (e.g. 12GB, 800MB; default: the cgroup limit or free memory)', parseMemory)
    .option('--length-normalize', 'rank labels by mean log-probability per token when evaluating')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--json', 'print one JSON object as the last line of stdout');
  withConfigFile(cmd, { structured: ['verbalizer', 'template'] });
  cmd.addHelpText('after', TRAIN_HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    await runTrain(self.opts<TrainFlags>(), processIo, (key) => self.getOptionValueSource(key) === 'cli');
  });
  return cmd;
}
