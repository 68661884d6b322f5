/**
 * What the browser's worker runs, on paths: in the browser they name files of the in-memory
 * file system (shims/fs.ts) that the worker filled from fetch/File/ArrayBuffer; on Node they are
 * real files, which is how tests compare a page's run with the same run in Node.
 *
 * Training is `softprompt train` without a validation split: the same encoder, shuffling, init,
 * trainer and adapter files, so the losses equal the CLI's for the same flags and seed.
 */
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { saveAdapter } from '../adapter/save.ts';
import { padIdOf } from '../data/collate.ts';
import { ExampleEncoder } from '../data/encode.ts';
import { readRecords, take } from '../data/readers.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import { loadModelDir } from '../formats/model_dir.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { formatInit, initParams, parseInit } from '../methods/init.ts';
import { pTuning } from '../methods/p_tuning.ts';
import { prefixTuning } from '../methods/prefix_tuning.ts';
import { promptTuning } from '../methods/prompt_tuning.ts';
import type { PromptMethod } from '../methods/types.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { ScheduleKind } from '../train/schedule.ts';
import { TRAIN_DEFAULTS } from '../train/defaults.ts';
import { TrainSource } from '../train/source.ts';
import { train } from '../train/trainer.ts';
import type { Params, TrainEvent } from '../train/trainer.ts';

export class WebError extends SoftpromptError {}

/** A model opened from a folder (a memory-file-system folder in the browser). */
export interface WebModel {
  readonly dir: string;
  /** How the folder was named (the CLI's ResolvedSource): always given directly here. */
  readonly source: 'flag';
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  readonly tokenizer: Tokenizer;
}

export async function openModel(dir: string): Promise<WebModel> {
  const m = loadModelDir(dir);
  return { dir: m.dir, source: 'flag', config: m.config, weights: m.weights, tokenizer: await loadTokenizer(m.dir) };
}

export type WebMethod = 'prompt-tuning' | 'p-tuning' | 'prefix-tuning';

/** The `softprompt train` flags the page offers; defaults are the CLI's. */
export interface WebTrainOptions {
  train: string;
  template: string;
  verbalizer: Readonly<Record<string, string>>;
  out: string;
  lr: number;
  steps?: number;
  epochs?: number;
  method?: WebMethod;
  virtualTokens?: number;
  init?: string;
  labelField?: string;
  batchSize?: number;
  seed?: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  maxTrainExamples?: number;
}

export const WEB_TRAIN_DEFAULTS = {
  method: 'prompt-tuning',
  virtualTokens: 20,
  init: 'random',
  labelField: 'label',
  batchSize: 16,
  seed: 0,
  // The CLI's optimizer defaults (restarts, which need a file-backed dev split, are CLI/library only).
  schedule: TRAIN_DEFAULTS.schedule,
  warmupSteps: 0,
  weightDecay: TRAIN_DEFAULTS.weightDecay,
  maxGradNorm: 0,
} as const satisfies Partial<WebTrainOptions>;

function makeMethod(kind: WebMethod, n: number, config: ModelConfig): PromptMethod {
  switch (kind) {
    case 'prompt-tuning': return promptTuning(config, { numVirtualTokens: n });
    case 'p-tuning': return pTuning(config, { numVirtualTokens: n, encoderHiddenSize: config.hiddenSize, encoderType: 'mlp' });
    case 'prefix-tuning': return prefixTuning(config, { numVirtualTokens: n, projection: false });
  }
}

export class AbortError extends WebError {
  constructor(step: number) {
    super(`training aborted after update ${step}`);
    this.name = 'AbortError';
  }
}

/** Trains an adapter into `opts.out` (PEFT files + softprompt.json); events as the CLI's trainer emits them. */
export async function trainAdapter(model: WebModel, opts: WebTrainOptions, onEvent?: (e: TrainEvent) => void, signal?: AbortSignal): Promise<{ steps: number; lastLoss: number | null; elapsedSeconds: number }> {
  const o = { ...WEB_TRAIN_DEFAULTS, ...opts };
  if (o.steps === undefined && o.epochs === undefined) throw new WebError('give the run length: steps or epochs');
  const template = new Template(o.template, { source: 'template' });
  if (template.softTokens > 0) throw new WebError('the web trainer takes templates without {soft:N} slots');
  const verbalizer = new Verbalizer(o.verbalizer, 'verbalizer');
  const method = makeMethod(o.method, o.virtualTokens, model.config);
  const maxLength = model.config.maxPositions - method.numVirtualTokens;
  if (maxLength < 2) throw new WebError(`virtualTokens ${method.numVirtualTokens} leaves no room in the model's ${model.config.maxPositions} positions`);
  // The CLI's truncation field: the template's longest, judged on the first records.
  let truncateField = template.fields[0];
  if (template.fields.length > 1) {
    const sample = await take(readRecords(o.train), 1000);
    const total = new Map(template.fields.map((f) => [f, 0]));
    for (const r of sample) for (const f of template.fields) total.set(f, total.get(f)! + template.fieldValue(r, f).length);
    truncateField = [...total.entries()].reduce((best, e) => (e[1] > best[1] ? e : best))[0];
  }
  const encoder = new ExampleEncoder({ template, verbalizer, tokenizer: model.tokenizer, maxLength, labelField: o.labelField, ...(truncateField !== undefined ? { truncateField } : {}) });
  const source = new TrainSource({ file: o.train, encoder, batchSize: o.batchSize, seed: o.seed, ...(o.maxTrainExamples !== undefined ? { maxExamples: o.maxTrainExamples } : {}) });
  const init = parseInit(o.init);
  const initValues = initParams(model.config, method, {
    seed: o.seed,
    init,
    weights: model.weights,
    tokenizer: model.tokenizer,
    verbalizer,
    labelPrompt: template.renderWithSlots(Object.fromEntries(template.fields.map((f) => [f, '']))).text,
  });
  const fingerprint = fingerprintModel(model, model.dir);
  const verbalizerJson = Object.fromEntries(verbalizer.labels.map((l) => [l, verbalizer.continuation(l)]));
  const recipe: Record<string, unknown> = {
    base_model: fingerprint.sha256, train: o.train, template: template.source, verbalizer: verbalizerJson, label_field: o.labelField,
    method: o.method, virtual_tokens: method.numVirtualTokens, init: formatInit(init), lr: o.lr, schedule: o.schedule,
    warmup_steps: o.warmupSteps, weight_decay: o.weightDecay, max_grad_norm: o.maxGradNorm, epochs: o.epochs ?? null,
    steps: o.steps ?? null, batch_size: o.batchSize, seed: o.seed, trained_in: 'softprompt/web',
  };
  const save = (dir: string, params: Params, metrics: Record<string, unknown> | null): void => {
    saveAdapter(dir, {
      method,
      trainable: params,
      config: model.config,
      fingerprint,
      baseModelPath: model.dir,
      meta: { template: { source: template.source }, verbalizer: verbalizerJson, label_field: o.labelField, training: recipe, ...(metrics ? { metrics } : {}), init },
    });
  };
  let step = 0;
  const result = await train({
    config: model.config,
    weights: model.weights,
    method,
    padId: padIdOf(model.tokenizer),
    init: initValues,
    source,
    labels: verbalizer.labels,
    outDir: o.out,
    lr: o.lr,
    schedule: o.schedule,
    warmupSteps: o.warmupSteps,
    weightDecay: o.weightDecay,
    maxGradNorm: o.maxGradNorm,
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.epochs !== undefined ? { epochs: o.epochs } : {}),
    recipe,
    saveAdapter: save,
    // The trainer takes no signal: an abort surfaces at the next event (each update emits one).
    onEvent: (e) => {
      if (e.kind === 'step') step = e.step;
      onEvent?.(e);
      if (signal?.aborted) throw new AbortError(step);
    },
  });
  return { steps: result.steps, lastLoss: result.lastLoss, elapsedSeconds: result.elapsedSeconds };
}
