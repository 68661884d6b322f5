/**
 * `softprompt train`: a dataset and a frozen model in, a PEFT adapter out (best on the dev
 * split, plus last/ and resumable checkpoints/), with metrics.jsonl beside it.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { Template } from '../data/template.ts';
import { SoftpromptError } from '../errors.ts';
import { formatTable, percent } from '../inspect/table.ts';
import type { PeftType } from '../methods/factory.ts';
import { P_TUNING_ENCODER_TYPES } from '../methods/p_tuning.ts';
import type { PTuningEncoderType } from '../methods/p_tuning.ts';
import { writeRunReport } from '../report/report.ts';
import { REPARAMS, TRAIN_DEFAULTS } from '../train/defaults.ts';
import type { Reparam } from '../train/defaults.ts';
import { DEV_FRACTION } from '../train/restarts.ts';
import { METHOD_FLAGS, runTraining } from '../train/run.ts';
import type { TrainRun } from '../train/run.ts';
import { SCHEDULES } from '../train/schedule.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import type { DevMetric, TrainResult } from '../train/trainer.ts';
import { intArg, required, textArg, verbalizerArg } from './args.ts';
import { exitCodeOf, onInterrupt } from './interrupt.ts';
import { withConfigFile } from './config.ts';
import { parseMemory } from '../models/memory.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';
import { trainProgress } from './progress.ts';
import { perTaskTemplates, perTaskVerbalizers } from './task_flags.ts';

export type MethodFlag = 'prompt-tuning' | 'p-tuning' | 'prefix-tuning' | 'multitask-prompt-tuning';

/** --method value → PEFT type. */
const PEFT_TYPE_OF = Object.fromEntries(Object.entries(METHOD_FLAGS).map(([t, f]) => [f, t])) as Record<MethodFlag, PeftType>;

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
  reparam: Reparam;
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
  restarts?: number;
  restartEpochs?: number;
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
  allowDataChange?: boolean;
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

export interface TrainOutcome {
  result: TrainResult;
  json: Record<string, unknown>;
}

/** Runs `softprompt train` with parsed flags: flags → typed options → runTraining → printing. */
export async function runTrain(flags: TrainFlags, io: Io = processIo, fromCli: (key: keyof TrainFlags) => boolean = () => true): Promise<TrainOutcome> {
  const trainPath = required(flags.train, '--train', 'the labelled training split (JSONL, CSV, TSV or Parquet)');
  const out = resolve(required(flags.out, '--out', 'the folder to write the adapter, checkpoints and metrics.jsonl to'));
  const templateRaw = required(flags.template, '--template', `the prompt template, e.g. '{text}\\nThe story is about a'`);
  // Multitask runs may give each task its own template and verbalizer (JSON objects keyed by task).
  const taskTemplateTexts = perTaskTemplates(templateRaw);
  const taskVerbalizers = perTaskVerbalizers(required(flags.verbalizer, '--verbalizer', `label -> continuation JSON, e.g. '{"girl": " girl", "boy": " boy"}'`));
  const templateArg = taskTemplateTexts ? { text: [...taskTemplateTexts.values()][0]!, origin: '--template' } : textArg(templateRaw, '--template', fromCli('template'));
  const instruction = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : undefined;
  const template = new Template(templateArg.text, { source: templateArg.origin, ...(instruction !== undefined ? { instruction } : {}) });
  const verbalizer = taskVerbalizers ? [...taskVerbalizers.values()][0]! : verbalizerArg(flags.verbalizer!);
  // Prompt tuning's rate is the library's default (PEFT's recipe); the other methods need one said.
  const lr = flags.method === 'prompt-tuning' && flags.lr === undefined ? TRAIN_DEFAULTS.lr : required(flags.lr, '--lr', 'the peak learning rate (prompt tuning often uses 0.3; p-tuning 1e-3 to 1e-2)');
  if (flags.epochs === undefined && flags.steps === undefined) throw new SoftpromptError('missing run length: pass --epochs N or --steps N');
  if (flags.epochs !== undefined && flags.steps !== undefined) {
    // One of them typed on the command line beats the other from a config file.
    if (fromCli('steps') && !fromCli('epochs')) flags = { ...flags, epochs: undefined };
    else if (fromCli('epochs') && !fromCli('steps')) flags = { ...flags, steps: undefined };
    else throw new SoftpromptError('pass --epochs N or --steps N, not both');
  }
  const multitask = flags.method === 'multitask-prompt-tuning';
  // Multitask-only flags count when typed (an error for other methods) or when the run is multitask.
  const given = (key: 'tasks' | 'taskField' | 'numRanks'): boolean => multitask || fromCli(key);
  const progress = trainProgress();
  const interrupt = onInterrupt((sig) => {
    io.err(`\nsoftprompt: ${sig}: finishing the current update, then writing a checkpoint (send ${sig} again to exit at once, losing it)`);
  });
  let run: TrainRun;
  try {
    run = await runTraining({
      model: flags.model,
      train: trainPath,
      validation: flags.validation,
      template,
      taskTemplates: taskTemplateTexts,
      instruction,
      verbalizer,
      taskVerbalizers,
      labelField: flags.labelField,
      truncateField: flags.truncateField,
      method: PEFT_TYPE_OF[flags.method],
      // The template's {soft:N} slots set the count unless --virtual-tokens is typed (then they must agree).
      numVirtualTokens: template.softTokens > 0 && !fromCli('virtualTokens') ? undefined : flags.virtualTokens,
      init: flags.init,
      initFrom: flags.initFrom,
      encoderHiddenSize: flags.encoderHiddenSize,
      encoderType: flags.encoderType,
      prefixProjection: flags.prefixProjection,
      reparam: flags.reparam,
      tasks: given('tasks') ? flags.tasks : undefined,
      taskField: given('taskField') ? flags.taskField : undefined,
      numRanks: given('numRanks') ? flags.numRanks : undefined,
      lr,
      schedule: flags.schedule,
      warmupSteps: flags.warmupSteps,
      weightDecay: flags.weightDecay,
      beta1: flags.beta1,
      beta2: flags.beta2,
      adamEps: flags.adamEps,
      maxGradNorm: flags.maxGradNorm,
      epochs: flags.epochs,
      steps: flags.steps,
      restarts: flags.restarts,
      restartEpochs: flags.restartEpochs,
      batchSize: flags.batchSize,
      gradAccum: flags.gradAccum,
      seed: flags.seed,
      out,
      maxTrainExamples: flags.maxTrainExamples,
      maxEvalExamples: flags.maxEvalExamples,
      evalEvery: flags.evalEvery,
      patience: flags.patience,
      metric: flags.metric,
      saveEvery: flags.saveEvery,
      bucket: flags.bucket,
      shuffleBuffer: flags.shuffleBuffer,
      lengthNormalize: flags.lengthNormalize,
      resume: flags.resume,
      allowDataChange: flags.allowDataChange,
      signal: interrupt.signal,
      onEvent: (e) => {
        // --resume on a folder without checkpoints starts afresh: say so rather than silently.
        if (e.kind === 'start' && flags.resume === true && !e.resumed) io.err(`softprompt: --resume: ${out} holds no checkpoint; starting a fresh run`);
        progress.onEvent(e);
      },
      onWarning: (m) => io.err(`softprompt: warning: ${m}`),
      maxMemory: flags.maxMemory,
    });
  } finally {
    progress.stop();
    interrupt.dispose();
  }
  const { result, model } = run;
  const sig = interrupt.received();
  if (result.interrupted && sig !== null) {
    io.err(
      `softprompt: ${sig}: stopped after update ${result.steps}; checkpoint in ${resolve(out, 'checkpoints')}, last adapter in ${result.lastDir}; ` +
        'continue with the same command plus --resume',
    );
    process.exitCode = exitCodeOf(sig);
    return { result, json: { adapter: out, last: result.lastDir, steps: result.steps, stop_reason: result.stopReason, interrupted: sig } };
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

Schedules follow HF transformers after --warmup-steps: constant (PEFT's), linear and cosine decay to
0, and wsd (the default): constant for two thirds of the updates, then linear decay to 0. Gradients are averaged over --grad-accum micro-batches.

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
  const D = TRAIN_DEFAULTS;
  const cmd = new Command('train')
    .description('train a soft prompt (prompt tuning, p-tuning, prefix tuning or multitask prompt tuning) on a frozen model and save it as a PEFT adapter')
    .option('--model <dir>', 'Hugging Face model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--train <file>', 'labelled training split (.jsonl, .csv, .tsv, .parquet); streamed, never loaded whole')
    .option('--validation <file>', 'labelled dev split: evaluated by rank classification for the best checkpoint and early stopping')
    .option('--template <text>', 'prompt template with {field} slots (\\n is a newline; @FILE reads a file)')
    .option('--instruction <text>', 'text put before the template')
    .option('--verbalizer <json|file>', 'label -> continuation text, e.g. \'{"girl": " girl", "boy": " boy"}\'')
    .option('--label-field <name>', 'field holding the gold label', D.labelField)
    .option('--truncate-field <name>', "field cut when an example is longer than the context (default: the template's longest)")
    .addOption(new Option('--method <name>', 'prompt-learning method').choices(Object.values(METHOD_FLAGS)).default(METHOD_FLAGS[D.method]))
    .option('--virtual-tokens <n>', 'number of virtual tokens', intArg(1), D.numVirtualTokens)
    .option('--init <how>', 'prompt-tuning init: random | vocab | labels | text:"…"; multitask, with --init-from: average-source-tasks | exact-source-task:TASK | only-source-shared', D.init)
    .option('--init-from <dir>', "prompt transfer: start from this adapter's trainable tensors (same method and shapes), e.g. a library task")
    .option('--encoder-hidden-size <n>', "p-tuning encoder (MLP or LSTM) hidden size (default: the model hidden size); prefix projection's hidden size (default: its token_dim); --reparam residual's bottleneck (default: the model hidden size)", intArg(1))
    .addOption(new Option('--reparam <how>', 'prompt tuning: residual trains the prompt through a residual MLP (Razdaibiedina et al. 2023) and saves its output, a plain PEFT prompt').choices([...REPARAMS]).default(D.reparam))
    .addOption(new Option('--encoder-type <type>', 'p-tuning encoder, as PEFT: mlp, or lstm (bidirectional, 2 layers, then an MLP head)').choices([...P_TUNING_ENCODER_TYPES]).default(D.encoderType))
    .option('--tasks <names>', 'multitask prompt tuning: task names in id order, comma-separated (default: the task field\'s values in --train, in order of first appearance)')
    .option('--task-field <name>', "multitask prompt tuning: the field naming each record's task", D.taskField)
    .option('--num-ranks <n>', "multitask prompt tuning: rank of each task's factors (PEFT num_ranks)", intArg(1), D.numRanks)
    .option('--prefix-projection', "prefix tuning: train PEFT's Embedding → Linear → Tanh → Linear prefix encoder instead of the table")
    .option('--lr <x>', `peak learning rate (prompt tuning: default ${D.lr})`, floatArg(0, false))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices([...SCHEDULES]).default(D.schedule))
    .option('--warmup-steps <n>', 'linear warmup updates', intArg(0), D.warmupSteps)
    .option('--weight-decay <x>', 'AdamW decoupled weight decay', floatArg(0), D.weightDecay)
    .option('--beta1 <x>', 'AdamW beta1', floatArg(0), D.beta1)
    .option('--beta2 <x>', 'AdamW beta2', floatArg(0), D.beta2)
    .option('--adam-eps <x>', 'AdamW epsilon', floatArg(0), D.adamEps)
    .option('--max-grad-norm <x>', 'clip the gradient norm (0: no clipping)', floatArg(0), D.maxGradNorm)
    .option('--epochs <n>', 'passes over the training split', intArg(1))
    .option('--steps <n>', 'optimizer updates (instead of --epochs)', intArg(1))
    .option('--restarts <n>', `an --epochs run trains N trajectories for 2/3 of the epochs, continues the best on the dev split (--validation, else ${DEV_FRACTION * 100}% carved from --train) and keeps the best; 1 trains once (default ${D.restarts})`, intArg(1))
    .option('--restart-epochs <n>', 'epochs each restart trains before the best on the dev split continues alone (default: two thirds of --epochs, rounded up; = --epochs: the best of full runs)', intArg(1))
    .option('--batch-size <n>', 'examples per micro-batch', intArg(1), D.batchSize)
    .option('--grad-accum <n>', 'micro-batches per optimizer update', intArg(1), D.gradAccum)
    .option('--seed <n>', 'seed for init and shuffling', intArg(0), D.seed)
    .option('--out <dir>', 'output folder')
    .option('--max-train-examples <n>', 'use only the first N training records', intArg(1))
    .option('--max-eval-examples <n>', 'evaluate only the first N validation records', intArg(1))
    .option('--eval-every <n>', 'evaluate every N updates (default: each epoch)', intArg(1))
    .option('--patience <n>', 'stop after N evaluations without improvement', intArg(1))
    .addOption(new Option('--metric <name>', 'dev metric for the best checkpoint').choices(['accuracy', 'macro_f1']).default(D.metric))
    .option('--save-every <n>', 'checkpoint every N updates (also after each evaluation and epoch)', intArg(1), D.saveEvery)
    .option('--bucket', 'batch similar lengths together (faster, less random)')
    .option('--shuffle-buffer <n>', 'shuffle-buffer size in examples; larger files are shuffled through it', intArg(1), D.shuffleBuffer)
    .option('--max-memory <size>', 'memory budget for the check before loading (e.g. 12GB, 800MB; default: the cgroup limit or free memory)', parseMemory)
    .option('--length-normalize', 'rank labels by mean log-probability per token when evaluating')
    .option('--resume', 'continue the run in --out from its last checkpoint')
    .option('--allow-data-change', 'with --resume: continue even though the training file changed since the run started')
    .option('--json', 'print one JSON object as the last line of stdout');
  withConfigFile(cmd, { structured: ['verbalizer', 'template'] });
  cmd.addHelpText('after', TRAIN_HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    await runTrain(self.opts<TrainFlags>(), processIo, (key) => self.getOptionValueSource(key) === 'cli');
  });
  return cmd;
}
