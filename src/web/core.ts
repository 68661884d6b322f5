/**
 * What the browser's worker trains with: the library's training run (train/run.ts, the CLI's
 * `softprompt train`) on paths. In the browser they name files of the in-memory file system
 * (shims/fs.ts) that the worker filled from fetch/File/ArrayBuffer; on Node they are real files.
 * Same encoder, shuffling, init, trainer, defaults (TRAIN_DEFAULTS) and adapter files, so the
 * losses equal the CLI's for the same flags and seed.
 */
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import type { PeftType } from '../methods/factory.ts';
import { METHOD_FLAGS, runTraining } from '../train/run.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import type { TrainEvent } from '../train/events.ts';
import type { WebMethod, WebTrainOptions } from './protocol.ts';

export class WebError extends SoftpromptError {}

export class AbortError extends WebError {
  constructor(step: number) {
    super(`training aborted after update ${step}`);
    this.name = 'AbortError';
  }
}

function peftTypeOf(method: WebMethod | undefined): PeftType | undefined {
  if (method === undefined) return undefined;
  const t = (Object.keys(METHOD_FLAGS) as PeftType[]).find((k) => METHOD_FLAGS[k] === method && k !== 'MULTITASK_PROMPT_TUNING');
  if (t === undefined) throw new WebError(`method "${String(method)}": the page trains prompt-tuning, p-tuning or prefix-tuning`);
  return t;
}

/**
 * Trains an adapter into `opts.out` (PEFT files + softprompt.json), emitting the trainer's events.
 * An abort stops it after the current update (the trainer writes the last adapter) and rejects with AbortError.
 */
export async function trainAdapter(model: LoadedModel, opts: WebTrainOptions, onEvent?: (e: TrainEvent) => void, signal?: AbortSignal): Promise<{ steps: number; lastLoss: number | null; elapsedSeconds: number }> {
  const { result } = await runTraining({
    model,
    train: opts.train,
    out: opts.out,
    template: new Template(opts.template, { source: 'template' }),
    verbalizer: new Verbalizer(opts.verbalizer, 'verbalizer'),
    method: peftTypeOf(opts.method),
    numVirtualTokens: opts.virtualTokens,
    init: opts.init,
    labelField: opts.labelField,
    lr: opts.lr,
    steps: opts.steps,
    epochs: opts.epochs,
    batchSize: opts.batchSize,
    seed: opts.seed,
    schedule: opts.schedule,
    warmupSteps: opts.warmupSteps,
    weightDecay: opts.weightDecay,
    maxGradNorm: opts.maxGradNorm,
    maxTrainExamples: opts.maxTrainExamples,
    onEvent,
    onWarning: (m) => console.warn(m),
    signal,
  });
  if (result.interrupted) throw new AbortError(result.steps);
  return { steps: result.steps, lastLoss: result.lastLoss, elapsedSeconds: result.elapsedSeconds };
}
