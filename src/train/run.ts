/**
 * A training run: a dataset and a frozen model in, a PEFT adapter out (best on the dev split,
 * plus last/ and resumable checkpoints/), with metrics.jsonl beside it. The CLI's `train` and the
 * library's `train()` both come here with typed options; option names follow the CLI flags, and
 * so do the messages (`--virtual-tokens` is numVirtualTokens).
 */
import { host } from '../host.ts';
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { saveAdapter } from '../adapter/save.ts';
import { SOFTPROMPT_FILE } from '../adapter/types.ts';
import { padIdOf } from '../data/collate.ts';
import { ExampleEncoder } from '../data/encode.ts';
import type { EncodedExample } from '../data/encode.ts';
import { readRecords, readSplit, take } from '../data/readers.ts';
import { sha256File } from '../data/file_hash.ts';
import { encodeSplit, longestField } from '../data/split.ts';
import { taskPromptSet, taskPromptsJson } from '../data/task_prompts.ts';
import { Template } from '../data/template.ts';
import { verbalizerEntries } from '../data/verbalizer.ts';
import type { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import { initFromAdapter } from '../library/transfer.ts';
import { createMethod } from '../methods/factory.ts';
import type { PeftType } from '../methods/factory.ts';
import { formatInit, initParams, parseInit } from '../methods/init.ts';
import type { PromptInit } from '../methods/init.ts';
import { initMultitaskParams } from '../methods/multitask_init.ts';
import type { MultitaskSourceInit } from '../methods/multitask_init.ts';
import type { PTuningEncoderType } from '../methods/p_tuning.ts';
import { loadModel } from '../pretrained/model.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { REPARAMS, TRAIN_DEFAULTS } from './defaults.ts';
import type { Reparam } from './defaults.ts';
import type { ScheduleKind } from './schedule.ts';
import { TrainSource } from './source.ts';
import { carveDev, copyAdapterFiles, DEV_MIN, meanParams, mergeRestartLogs, readRestartResult, restartDir, restartEpochs, restartSeed, selectRestart, tailSteps, writeRestartResult } from './restarts.ts';
import { readSafetensors } from '../formats/safetensors.ts';
import { RankScorer } from '../eval/rank.ts';
import type { CarvedDev } from './restarts.ts';
import { devMetrics, snapshotFile, train } from './trainer.ts';
import type { DevMetric, Params, TrainEvent, TrainResult } from './trainer.ts';

/** The CLI's --method values, by PEFT type (recipes and messages use them). */
export const METHOD_FLAGS: Readonly<Record<PeftType, string>> = {
  PROMPT_TUNING: 'prompt-tuning',
  P_TUNING: 'p-tuning',
  PREFIX_TUNING: 'prefix-tuning',
  MULTITASK_PROMPT_TUNING: 'multitask-prompt-tuning',
};

export interface TrainRunOptions {
  /** A loaded model, or a folder / hub id (undefined: the usual resolution), loaded after the options are checked. */
  model?: LoadedModel | string | undefined;
  train: string;
  validation?: string | undefined;
  /** The template (its instruction inside); with per-task templates, the first task's. */
  template: Template;
  /** Multitask: each task's template text (each gets `instruction`). */
  taskTemplates?: ReadonlyMap<string, string> | null | undefined;
  instruction?: string | undefined;
  verbalizer: Verbalizer;
  /** Multitask: each task's verbalizer. */
  taskVerbalizers?: ReadonlyMap<string, Verbalizer> | null | undefined;
  labelField?: string | undefined;
  truncateField?: string | undefined;
  method?: PeftType | undefined;
  /** Undefined: the template's {soft:N} slots, else the default. */
  numVirtualTokens?: number | undefined;
  init?: string | undefined;
  initFrom?: string | undefined;
  encoderHiddenSize?: number | undefined;
  encoderType?: PTuningEncoderType | undefined;
  prefixProjection?: boolean | undefined;
  /** Prompt tuning: `residual` trains the prompt through a residual MLP (methods/prompt_tuning.ts); `none` trains it directly. */
  reparam?: Reparam | undefined;
  /** Multitask only (an error otherwise): task names as a comma list (default: the task field's values in the train file). */
  tasks?: string | undefined;
  taskField?: string | undefined;
  numRanks?: number | undefined;
  lr?: number | undefined;
  schedule?: ScheduleKind | undefined;
  warmupSteps?: number | undefined;
  weightDecay?: number | undefined;
  beta1?: number | undefined;
  beta2?: number | undefined;
  adamEps?: number | undefined;
  maxGradNorm?: number | undefined;
  /**
   * Trajectories an epoch run trains for two thirds of its epochs; the best on the dev split
   * (--validation, else one carved from the training file; restarts.ts) continues to the end, and
   * the best evaluation of all is kept. Default 5; 1 trains once. A --steps run is one trajectory
   * of exactly that many updates.
   */
  restarts?: number | undefined;
  /** Epochs each restart trains before the best continues (default: restartEpochs(epochs), two thirds; epochs: no continuation, the best of full runs). */
  restartEpochs?: number | undefined;
  /** One of epochs and steps (neither: the default epochs). */
  epochs?: number | undefined;
  steps?: number | undefined;
  batchSize?: number | undefined;
  gradAccum?: number | undefined;
  seed?: number | undefined;
  out: string;
  maxTrainExamples?: number | undefined;
  maxEvalExamples?: number | undefined;
  evalEvery?: number | undefined;
  patience?: number | undefined;
  metric?: DevMetric | undefined;
  saveEvery?: number | undefined;
  bucket?: boolean | undefined;
  shuffleBuffer?: number | undefined;
  lengthNormalize?: boolean | undefined;
  resume?: boolean | undefined;
  /** With resume: continue although the training file changed since the run started (its sha256 differs). */
  allowDataChange?: boolean | undefined;
  /** Memory budget in bytes for the check before the graphs are built (default: the cgroup limit or free memory). */
  maxMemory?: number | undefined;
  onEvent?: ((e: TrainEvent) => void) | undefined;
  /** Problems that do not stop the run. Default: process.emitWarning. */
  onWarning?: ((message: string) => void) | undefined;
  /** Stops the run after the current update: a checkpoint and the last adapter are written, and the result says `interrupted`. */
  signal?: AbortSignal | undefined;
}

export interface TrainRun {
  readonly result: TrainResult;
  /** The absolute output folder (the adapter). */
  readonly out: string;
  readonly model: LoadedModel;
}

/** PEFT's MultitaskPromptTuningInit source modes, as --init values. */
const SOURCE_INITS = { 'average-source-tasks': 'average_source_tasks', 'exact-source-task': 'exact_source_task', 'only-source-shared': 'only_source_shared' } as const;

/** `--init average-source-tasks | exact-source-task[:TASK] | only-source-shared` with --init-from, else null. */
function parseSourceInit(init: string, initFrom: string | undefined, method: PeftType): MultitaskSourceInit | null {
  const m = new RegExp(`^(${Object.keys(SOURCE_INITS).join('|')})(?::(.+))?$`).exec(init.trim());
  if (!m) return null;
  if (method !== 'MULTITASK_PROMPT_TUNING') throw new SoftpromptError(`--init ${init} applies to --method multitask-prompt-tuning only`);
  if (initFrom === undefined) throw new SoftpromptError(`--init ${init} starts from a source multitask adapter: pass --init-from DIR`);
  const kind = SOURCE_INITS[m[1] as keyof typeof SOURCE_INITS];
  if (m[2] !== undefined && kind !== 'exact_source_task') throw new SoftpromptError(`--init ${init}: only exact-source-task takes a task (exact-source-task:NAME or :ID)`);
  if (kind !== 'exact_source_task') return { kind, path: host().path.resolve(initFrom) };
  const spec = m[2] ?? '0';
  if (/^\d+$/.test(spec)) return { kind, path: host().path.resolve(initFrom), task: Number(spec) };
  // A task name: the source's softprompt.json says which id it has.
  const metaFile = host().path.join(initFrom, SOFTPROMPT_FILE);
  const tasks = host().fs.existsSync(metaFile) ? (JSON.parse(host().fs.readFileSync(metaFile, 'utf8')) as { tasks?: unknown }).tasks : undefined;
  const id = Array.isArray(tasks) ? tasks.indexOf(spec) : -1;
  if (id < 0) {
    throw new SoftpromptError(`--init ${init}: the source ${initFrom} has no task named "${spec}"${Array.isArray(tasks) ? `; its tasks are: ${tasks.join(', ')}` : ' (no task names in its softprompt.json; give the task id)'}`);
  }
  return { kind, path: host().path.resolve(initFrom), task: id };
}

/** The task names of a multitask run: `tasks`, else the task field's values in the train file, in order of first appearance. */
async function taskNames(tasks: string | undefined, taskField: string, trainPath: string): Promise<string[]> {
  if (tasks !== undefined) {
    const names = tasks.split(',').map((t) => t.trim());
    if (names.some((t) => t === '')) throw new SoftpromptError(`--tasks ${JSON.stringify(tasks)}: empty task name`);
    const dup = names.find((t, i) => names.indexOf(t) !== i);
    if (dup !== undefined) throw new SoftpromptError(`--tasks ${JSON.stringify(tasks)}: task "${dup}" is listed twice`);
    return names;
  }
  const seen: string[] = [];
  for await (const r of readRecords(trainPath)) {
    const v = r[taskField];
    if (typeof v === 'string' || typeof v === 'number') {
      if (!seen.includes(String(v))) seen.push(String(v));
    } else {
      throw new SoftpromptError(
        `${r.__file ?? trainPath}:${r.__line}: record has no task field "${taskField}" (multitask prompt tuning needs each record's task; set --task-field, or --tasks NAME for a one-task run)`,
      );
    }
  }
  return seen;
}

/** Runs training to the end (or the signal); the adapter is in `out`. */
export async function runTraining(opts: TrainRunOptions): Promise<TrainRun> {
  const D = TRAIN_DEFAULTS;
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
  const trainPath = opts.train;
  const out = host().path.resolve(opts.out);
  const methodType = opts.method ?? D.method;
  const methodFlag = METHOD_FLAGS[methodType];
  const { template, verbalizer, instruction } = opts;
  const taskTemplateTexts = opts.taskTemplates ?? null;
  const taskVerbalizers = opts.taskVerbalizers ?? null;
  if ((taskTemplateTexts || taskVerbalizers) && methodType !== 'MULTITASK_PROMPT_TUNING') {
    throw new SoftpromptError(`a per-task ${taskTemplateTexts ? '--template' : '--verbalizer'} (a JSON object keyed by task name) needs --method multitask-prompt-tuning`);
  }
  const lr = opts.lr ?? D.lr;
  if (opts.epochs !== undefined && opts.steps !== undefined) throw new SoftpromptError('pass --epochs N or --steps N, not both');
  const epochs = opts.steps === undefined ? (opts.epochs ?? D.epochs) : undefined;
  if (!host().fs.existsSync(trainPath)) throw new SoftpromptError(`--train ${trainPath}: no such file`);
  if (opts.validation !== undefined && !host().fs.existsSync(opts.validation)) throw new SoftpromptError(`--validation ${opts.validation}: no such file`);
  const initSpec = opts.init ?? D.init;
  // A multitask source init replaces the shared prompt's init (fresh factors stay random).
  const sourceInit = parseSourceInit(initSpec, opts.initFrom, methodType);
  const init: PromptInit = sourceInit ? { kind: 'random' } : parseInit(initSpec);
  if (opts.encoderType === 'lstm' && methodType !== 'P_TUNING') throw new SoftpromptError(`--encoder-type lstm applies to --method p-tuning only (got --method ${methodFlag})`);
  const reparam = opts.reparam ?? D.reparam;
  if (!(REPARAMS as readonly string[]).includes(reparam)) throw new SoftpromptError(`--reparam: unknown value ${JSON.stringify(reparam)}; use one of ${REPARAMS.join(', ')}`);
  if (reparam === 'residual' && methodType !== 'PROMPT_TUNING') throw new SoftpromptError(`--reparam residual applies to --method prompt-tuning only (got --method ${methodFlag})`);
  if (opts.prefixProjection && methodType !== 'PREFIX_TUNING') throw new SoftpromptError(`--prefix-projection applies to --method prefix-tuning only (got --method ${methodFlag})`);

  const model = opts.model !== undefined && typeof opts.model !== 'string' ? opts.model : await loadModel(opts.model);
  const softSlots = template.softTokens > 0;
  let numVirtualTokens = opts.numVirtualTokens ?? D.numVirtualTokens;
  if (softSlots) {
    // The slots fix the number of virtual tokens; a different --virtual-tokens is a contradiction.
    if (opts.numVirtualTokens !== undefined && opts.numVirtualTokens !== template.softTokens) {
      throw new SoftpromptError(`--virtual-tokens ${opts.numVirtualTokens} disagrees with the template's {soft:N} slots, which hold ${template.softTokens}; drop --virtual-tokens or change the slots`);
    }
    if (methodType === 'PREFIX_TUNING') {
      throw new SoftpromptError("the template has {soft:N} slots but --method prefix-tuning puts its prefix into every layer's keys/values, not into the input; use prompt-tuning or p-tuning, or drop the slots");
    }
    numVirtualTokens = template.softTokens;
  }
  const multitask = methodType === 'MULTITASK_PROMPT_TUNING';
  if (!multitask && (opts.tasks !== undefined || opts.taskField !== undefined || opts.numRanks !== undefined)) {
    throw new SoftpromptError('--tasks, --task-field and --num-ranks apply to --method multitask-prompt-tuning only');
  }
  const taskField = opts.taskField ?? D.taskField;
  const numRanks = opts.numRanks ?? D.numRanks;
  const labelField = opts.labelField ?? D.labelField;
  const tasks = multitask ? await taskNames(opts.tasks, taskField, trainPath) : undefined;
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
  const method = createMethod(model.config, {
    peftType: methodType,
    numVirtualTokens,
    encoderHiddenSize: opts.encoderHiddenSize,
    residualHiddenSize: reparam === 'residual' ? (opts.encoderHiddenSize ?? model.config.hiddenSize) : undefined,
    encoderType: opts.encoderType,
    prefixProjection: opts.prefixProjection,
    numTasks: tasks?.length,
    numRanks,
  });
  const maxLength = model.config.maxPositions - method.numVirtualTokens;
  if (maxLength < 2) throw new SoftpromptError(`--virtual-tokens ${method.numVirtualTokens} leaves no room in the model's ${model.config.maxPositions} positions`);
  const padId = padIdOf(model.tokenizer);

  // The field cut when an input is too long: the template's longest, judged on the first records.
  const sample = await take(readRecords(trainPath), 1000);
  const truncateField = opts.truncateField ?? longestField(template, sample);
  if (truncateField !== undefined && !template.fields.includes(truncateField)) {
    throw new SoftpromptError(`--truncate-field "${truncateField}" is not a slot of the template (slots: ${template.fields.join(', ') || 'none'})`);
  }
  const batchSize = opts.batchSize ?? D.batchSize;
  const seed = opts.seed ?? D.seed;
  const shuffleBuffer = opts.shuffleBuffer ?? D.shuffleBuffer;
  const encoder = new ExampleEncoder({
    template,
    verbalizer,
    tokenizer: model.tokenizer,
    maxLength,
    labelField,
    ...(truncateField !== undefined ? { truncateField } : {}),
    // A one-task run (e.g. a target task started from a source adapter) needs no task field.
    ...(tasks ? { tasks, taskField, ...(tasks.length === 1 ? { defaultTask: tasks[0]! } : {}) } : {}),
    ...(prompts ? { taskPrompts: prompts.byTask } : {}),
  });
  if (opts.restarts !== undefined && !(Number.isInteger(opts.restarts) && opts.restarts >= 1)) throw new SoftpromptError(`--restarts must be an integer >= 1, got ${opts.restarts}`);
  if (opts.restarts !== undefined && opts.restarts > 1 && opts.steps !== undefined) {
    throw new SoftpromptError(`--restarts ${opts.restarts} applies to --epochs runs; a --steps run is one trajectory of exactly that many updates`);
  }
  let restarts = opts.steps !== undefined ? 1 : (opts.restarts ?? D.restarts);
  if (opts.restartEpochs !== undefined && opts.steps !== undefined) throw new SoftpromptError('--restart-epochs applies to --epochs runs; a --steps run is one trajectory of exactly that many updates');
  const segmentEpochs = opts.restartEpochs ?? (epochs !== undefined ? restartEpochs(epochs) : 1);
  if (!(Number.isInteger(segmentEpochs) && segmentEpochs >= 1 && (epochs === undefined || segmentEpochs <= epochs))) {
    throw new SoftpromptError(`--restart-epochs must be an integer from 1 to --epochs (${epochs}), got ${segmentEpochs}`);
  }
  // Without --validation the restarts are told apart on a dev split carved from the training file.
  let dev: CarvedDev | null = null;
  if (restarts > 1 && opts.validation === undefined) {
    dev = await carveDev(trainPath, seed, opts.maxTrainExamples);
    if (dev.records.length < DEV_MIN) {
      warn(`--train ${trainPath}: ${dev.pool} records are too few to hold out a dev split for choosing among ${restarts} restarts; training once on all of them (--restarts 1)`);
      dev = null;
      restarts = 1;
    }
  }
  const sourceFor = (runSeed: number): TrainSource =>
    new TrainSource({
      file: trainPath,
      encoder,
      batchSize,
      seed: runSeed,
      shuffleBuffer,
      ...(opts.maxTrainExamples !== undefined ? { maxExamples: opts.maxTrainExamples - (dev?.records.length ?? 0) } : {}),
      ...(dev ? { exclude: dev.indices } : {}),
      ...(opts.bucket ? { bucket: true } : {}),
    });
  let validation: EncodedExample[] | undefined;
  const devRecords = opts.validation !== undefined ? await readSplit(opts.validation, opts.maxEvalExamples) : dev?.records;
  if (devRecords !== undefined) {
    const prompt = { template, verbalizer, labelField, truncateField, ...(tasks ? { tasks: { names: tasks, field: taskField, ...(tasks.length === 1 ? { fallback: tasks[0]! } : {}), ...(prompts ? { prompts: prompts.byTask } : {}) } } : {}) };
    const split = encodeSplit(devRecords, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, maxLength);
    if (split.truncated > 0) warn(`${dev ? 'dev split' : 'validation'}: ${split.truncated} of ${devRecords.length} inputs were cut to fit the context (${maxLength} tokens)`);
    validation = split.examples;
  }

  const fingerprint = fingerprintModel(model, model.dir);
  if (opts.initFrom !== undefined && initSpec !== 'random' && !sourceInit) throw new SoftpromptError(`pass --init ${initSpec} or --init-from, not both`);
  if (multitask && opts.initFrom !== undefined && !sourceInit) {
    throw new SoftpromptError('--init-from with multitask prompt tuning: say how to use the source with --init average-source-tasks | exact-source-task:TASK | only-source-shared');
  }
  const initOptions = {
    init,
    weights: model.weights,
    tokenizer: model.tokenizer,
    verbalizer,
    labelPrompt: template.renderWithSlots(Object.fromEntries(template.fields.map((f) => [f, '']))).text,
  };
  const initFor = (runSeed: number): Params => multitask
    ? initMultitaskParams(model.config, method, { ...initOptions, seed: runSeed, ...(sourceInit ? { source: sourceInit } : {}) })
    : opts.initFrom !== undefined
      ? initFromAdapter(opts.initFrom, method, model, warn)
      : initParams(model.config, method, { ...initOptions, seed: runSeed });
  const h = {
    schedule: opts.schedule ?? D.schedule,
    warmupSteps: opts.warmupSteps ?? D.warmupSteps,
    weightDecay: opts.weightDecay ?? D.weightDecay,
    betas: [opts.beta1 ?? D.beta1, opts.beta2 ?? D.beta2] as [number, number],
    eps: opts.adamEps ?? D.adamEps,
    maxGradNorm: opts.maxGradNorm ?? D.maxGradNorm,
    gradAccum: opts.gradAccum ?? D.gradAccum,
    metric: opts.metric ?? D.metric,
  };
  // What defines the run: a resume must match it exactly (or its losses would not).
  const recipe: Record<string, unknown> = {
    base_model: fingerprint.sha256,
    train: host().path.resolve(trainPath),
    max_train_examples: opts.maxTrainExamples ?? null,
    template: prompts && taskTemplateTexts ? Object.fromEntries(taskTemplateTexts) : template.source,
    instruction: instruction ?? null,
    verbalizer: taskVerbalizers ? Object.fromEntries([...taskVerbalizers].map(([t, v]) => [t, verbalizerEntries(v)])) : verbalizerEntries(verbalizer),
    label_field: labelField,
    truncate_field: truncateField ?? null,
    method: methodFlag,
    virtual_tokens: method.numVirtualTokens,
    encoder_hidden_size: method.encoder?.hiddenSize ?? null,
    // Only when not the default, so checkpoints written before these flags still resume.
    ...(method.encoder?.type === 'lstm' ? { encoder_type: 'lstm' } : {}),
    ...(method.encoder?.type === 'prefix_projection' ? { prefix_projection: true } : {}),
    ...(method.encoder?.type === 'residual' ? { reparam: 'residual' } : {}),
    init: sourceInit ? initSpec.trim() : formatInit(init),
    ...(opts.initFrom !== undefined ? { init_from: host().path.resolve(opts.initFrom) } : {}),
    ...(tasks ? { tasks, task_field: taskField, num_ranks: numRanks } : {}),
    lr,
    schedule: h.schedule,
    warmup_steps: h.warmupSteps,
    weight_decay: h.weightDecay,
    betas: h.betas,
    eps: h.eps,
    max_grad_norm: h.maxGradNorm,
    epochs: epochs ?? null,
    steps: opts.steps ?? null,
    batch_size: batchSize,
    grad_accum: h.gradAccum,
    seed,
    bucket: opts.bucket ?? false,
    shuffle_buffer: shuffleBuffer,
    // Only when restarting, so checkpoints written before restarts still resume.
    ...(restarts > 1 ? { restarts, restart_epochs: segmentEpochs, dev: dev ? { carved: dev.records.length, of: dev.pool } : 'validation' } : {}),
  };
  const training = {
    ...recipe,
    validation: opts.validation ? host().path.resolve(opts.validation) : null,
    max_eval_examples: opts.maxEvalExamples ?? null,
    length_normalize: opts.lengthNormalize === true,
    eval_every: opts.evalEvery ?? null,
    patience: opts.patience ?? null,
    metric: h.metric,
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
        label_field: labelField,
        training,
        ...(metrics ? { metrics } : {}),
        init,
        ...(tasks ? { tasks } : {}),
        ...(sourceInit ? { source_init: sourceInit } : {}),
      },
    });
  };

  const dataSha256 = await sha256File(host().path.resolve(trainPath));
  const trainOnce = (dir: string, runSeed: number, runRecipe: Record<string, unknown>, resume: boolean, pauseAtEpoch?: number, snapshotSteps?: number[]): Promise<TrainResult> => train({
    dataSha256,
    allowDataChange: opts.allowDataChange === true,
    onWarning: warn,
    config: model.config,
    weights: model.weights,
    method,
    padId,
    init: initFor(runSeed),
    source: sourceFor(runSeed),
    ...(validation ? { validation } : {}),
    labels: prompts?.labels ?? verbalizer.labels,
    outDir: dir,
    lr,
    schedule: h.schedule,
    warmupSteps: h.warmupSteps,
    weightDecay: h.weightDecay,
    betas: h.betas,
    eps: h.eps,
    maxGradNorm: h.maxGradNorm,
    gradAccum: h.gradAccum,
    ...(epochs !== undefined ? { epochs } : {}),
    ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
    ...(pauseAtEpoch !== undefined ? { pauseAtEpoch } : {}),
    ...(snapshotSteps !== undefined ? { snapshotSteps } : {}),
    ...(opts.evalEvery !== undefined ? { evalEvery: opts.evalEvery } : {}),
    // Restarts are compared when they pause (restarts.ts): not after earlier epochs.
    ...(restarts > 1 && epochs !== undefined ? { evalFromEpoch: segmentEpochs } : {}),
    ...(opts.patience !== undefined ? { patience: opts.patience } : {}),
    metric: h.metric,
    saveEvery: opts.saveEvery ?? D.saveEvery,
    resume,
    recipe: runRecipe,
    saveAdapter: save,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    lengthNormalize: opts.lengthNormalize === true,
    ...(opts.maxMemory !== undefined ? { maxMemory: opts.maxMemory } : {}),
    softSlots,
  });
  if (restarts === 1) return { result: await trainOnce(out, seed, recipe, opts.resume === true), out, model };

  // Restarts (restarts.ts): each an ordinary run in restarts/rN that pauses after restartEpochs
  // epochs; the best on dev then continues to the end. Finished ones are kept on resume.
  const results: TrainResult[] = [];
  const interrupted = (res: TrainResult, r: number, logged: number): TrainRun => {
    mergeRestartLogs(out, logged, null);
    return { result: { ...res, adapterDir: out, lastDir: host().path.join(out, 'last'), stopReason: `${res.stopReason} (restart ${r + 1} of ${restarts})` }, out, model };
  };
  const recipeOf = (r: number): Record<string, unknown> => ({ ...recipe, restart: r, seed: restartSeed(seed, r) });
  for (let r = 0; r < restarts; r++) {
    const dir = restartDir(out, r);
    const done = opts.resume ? readRestartResult(dir) : null;
    if (done) {
      results.push(done);
      continue;
    }
    const resumeThis = opts.resume === true && host().fs.existsSync(host().path.join(dir, 'checkpoints', 'latest.json'));
    const res = await trainOnce(dir, restartSeed(seed, r), recipeOf(r), resumeThis, segmentEpochs);
    if (res.interrupted) return interrupted(res, r, r + 1);
    writeRestartResult(dir, res);
    results.push(res);
  }
  // The leader continues. Its best can only rise, so on a resume after it finished it still leads.
  const lead = selectRestart(results);
  // Every restart has the same updates per epoch; a paused one says how many (none paused: no continuation).
  const paused = results.find((x) => x.paused);
  const tail = paused ? tailSteps(paused.steps / segmentEpochs, epochs!) : [];
  if (results[lead]!.paused) {
    const res = await trainOnce(restartDir(out, lead), restartSeed(seed, lead), recipeOf(lead), true, undefined, tail);
    if (res.interrupted) return interrupted(res, lead, restarts);
    writeRestartResult(restartDir(out, lead), res);
    results[lead] = res;
  }
  // The leader's last epoch averaged (restarts.ts): kept when it beats every evaluation on dev.
  const files = tail.map((s) => snapshotFile(restartDir(out, lead), s));
  let mean: { params: Params; metrics: { accuracy: number; macro_f1: number; n: number } } | null = null;
  if (validation && files.length > 0 && !results[lead]!.paused && files.every((f) => host().fs.existsSync(f))) {
    const params = meanParams(files.map((f) => Object.fromEntries(readSafetensors(f)) as Params));
    const scorer = await RankScorer.create(model.config, model.weights, method, { padId, lengthNormalize: opts.lengthNormalize === true, batchRows: 32, softSlots });
    try {
      mean = { params, metrics: await devMetrics(scorer, validation, params, prompts?.labels ?? verbalizer.labels) };
    } finally {
      await scorer.release();
    }
  }
  const win = selectRestart(results);
  const meanWins = mean !== null && mean.metrics[h.metric] > (results[win]!.best?.value ?? -Infinity);
  const chosen: TrainResult = mean && meanWins
    ? { ...results[lead]!, best: { value: mean.metrics[h.metric], step: tail.at(-1)!, epoch: epochs!, metrics: mean.metrics } }
    : results[win]!;
  copyAdapterFiles(restartDir(out, meanWins ? lead : win), out);
  copyAdapterFiles(host().path.join(restartDir(out, meanWins ? lead : win), 'last'), host().path.join(out, 'last'));
  if (mean && meanWins) save(out, mean.params, { ...mean.metrics, steps: tail, restart: lead, mean_of: tail.length, metric: h.metric });
  const select = {
    restart: meanWins ? lead : win, seed: restartSeed(seed, meanWins ? lead : win), metric: h.metric, dev: dev ? 'carved' : 'validation', values: results.map((x) => x.best?.value ?? null), best: chosen.best,
    ...(mean ? { mean: { restart: lead, steps: tail, value: mean.metrics[h.metric], kept: meanWins } } : {}),
  };
  mergeRestartLogs(out, restarts, select);
  const elapsedSeconds = results.reduce((t, x) => t + x.elapsedSeconds, 0);
  return {
    result: {
      ...chosen, elapsedSeconds, adapterDir: out, lastDir: host().path.join(out, 'last'),
      stopReason: `${chosen.stopReason}; kept ${meanWins ? `the mean of restart ${lead + 1}'s last ${tail.length} prompts` : `restart ${win + 1}`} of ${restarts} (best ${h.metric} on the ${dev ? 'dev split carved from --train' : 'validation split'})`,
    },
    out,
    model,
  };
}

