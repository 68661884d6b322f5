/**
 * The training loop: AdamW on a method's few trainable tensors over a frozen model, with a
 * learning-rate schedule, clipping, gradient accumulation, periodic evaluation by rank
 * classification, early stopping on the dev metric, best/last adapters and checkpoints that
 * resume exactly. The loop knows nothing of file formats for adapters: `saveAdapter` writes them.
 */
import { host } from '../host.ts';
import { acquireRunLock } from './run_lock.ts';
import type { EncodedExample } from '../data/encode.ts';
import { collateTrain } from '../data/collate.ts';
import { SoftpromptError } from '../errors.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { accuracy, macroF1 } from '../eval/metrics.ts';
import { RankScorer } from '../eval/rank.ts';
import { batchFeeds } from '../methods/batch.ts';
import { buildProgram } from '../methods/program.ts';
import { checkMemory } from '../models/memory.ts';
import type { PromptMethod } from '../methods/types.ts';
import type { CompiledSession } from '../runtime/backend.ts';
import { compileGraph } from '../runtime/session.ts';
import { tensor } from '../tensor.ts';
import type { Tensor } from '../tensor.ts';
import { AdamW, clipGradNorm } from './adamw.ts';
import { TRAIN_DEFAULTS } from './defaults.ts';
import type { BestRecord, TrainerState } from './checkpoint.ts';
import { CHECKPOINTS_DIR, loadLatestCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { writeSafetensors } from '../formats/safetensors.ts';
import { MetricsLog } from './metrics_log.ts';
import type { ScheduleKind } from './schedule.ts';
import { makeSchedule } from './schedule.ts';
import type { TrainSource } from './source.ts';

export class TrainingError extends SoftpromptError {}

export type DevMetric = 'accuracy' | 'macro_f1';
export type Params = Record<string, Tensor<'float32'>>;

export interface TrainerOptions {
  config: ModelConfig;
  weights: WeightStore;
  method: PromptMethod;
  padId: number;
  /** Initial values of `method.params` (a fresh run). */
  init: Params;
  source: TrainSource;
  /** Dev examples for evaluation, early stopping and the best checkpoint. */
  validation?: readonly EncodedExample[];
  /** Every label (the union over tasks with their own verbalizers), for macro-F1. */
  labels: readonly string[];
  outDir: string;
  lr: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
  /** Clip the global gradient norm to this (0 or undefined: no clipping). */
  maxGradNorm?: number;
  gradAccum?: number;
  /** Run length: epochs, or optimizer updates (steps wins when both are given). */
  epochs?: number;
  steps?: number;
  /** Evaluate every N updates (default: at the end of each epoch). */
  evalEvery?: number;
  /**
   * Without evalEvery, evaluate at the end of this epoch (1-based) and of each after it (default 1).
   * Restarts pass their pause epoch: scored earlier, they would be ranked by noise, at a dev pass each.
   */
  evalFromEpoch?: number;
  /** Stop after this many evaluations without improvement. */
  patience?: number;
  metric?: DevMetric;
  /** Write a checkpoint every N updates (also after each evaluation and epoch). Default 50. */
  saveEvery?: number;
  resume?: boolean;
  /**
   * Stop at the end of this epoch (before the run's last): a checkpoint is written and the result
   * says `paused`; a later call with `resume` and no pause continues the same run (same schedule
   * and total) to its end. Restarts use it to continue only the best (restarts.ts).
   */
  pauseAtEpoch?: number;
  /**
   * After these updates the prompt is also written to `snapshots/step-NNNNNNNN.safetensors`, before
   * that update's checkpoint (so a resume past it finds the file, and one before it rewrites the
   * same values). Restarts average the leader's last ones (restarts.ts).
   */
  snapshotSteps?: readonly number[];
  /**
   * Aborted (e.g. on SIGINT/SIGTERM): the current update finishes, a checkpoint and the last
   * adapter are written, and train() returns with `interrupted` set.
   */
  signal?: AbortSignal;
  /** sha256 of the training file; a resume whose file has another hash is refused unless allowDataChange. */
  dataSha256?: string;
  allowDataChange?: boolean;
  /** Non-fatal notes (a data change allowed on resume). */
  onWarning?: (message: string) => void;
  /** What defines the run; a resume with a different recipe is refused. */
  recipe: Record<string, unknown>;
  /** Writes an adapter (PEFT files + softprompt.json) for `params` into `dir`. */
  saveAdapter: (dir: string, params: Params, metrics: Record<string, unknown> | null) => void;
  onEvent?: (e: TrainEvent) => void;
  lengthNormalize?: boolean;
  /** The template has {soft:N} slots: virtual tokens go where each example's softAt says. */
  softSlots?: boolean;
  /** Rows per evaluation batch. */
  evalBatchRows?: number;
  /** Memory budget in bytes (--max-memory), replacing the measured free memory in the check before loading. */
  maxMemory?: number;
}

import type { TrainEvent } from './events.ts';
export type { TrainEvent } from './events.ts';

export interface TrainResult {
  steps: number;
  epochs: number;
  stopReason: string;
  best: BestRecord | null;
  lastLoss: number | null;
  elapsedSeconds: number;
  /** Where the final adapter (best, or last without validation) is. */
  adapterDir: string;
  lastDir: string;
  /** True when `signal` stopped the run early (a checkpoint and the last adapter were written). */
  interrupted: boolean;
  /** True when the run stopped at `pauseAtEpoch` (resume continues it). */
  paused?: boolean;
}

export const SNAPSHOTS_DIR = 'snapshots';
export const snapshotFile = (outDir: string, step: number): string => host().path.join(outDir, SNAPSHOTS_DIR, `step-${String(step).padStart(8, '0')}.safetensors`);

/** Dev metrics of `params` by rank classification (an example with its task's own verbalizer ranks that task's labels). */
export async function devMetrics(scorer: RankScorer, val: readonly EncodedExample[], params: Params, labels: readonly string[]): Promise<{ accuracy: number; macro_f1: number; n: number }> {
  const r = await scorer.score(val, params);
  const gold = val.map((e) => e.label ?? '');
  const pred = r.predictions.map((i, k) => (val[k]!.labels ?? labels)[i]!);
  return { accuracy: accuracy(gold, pred), macro_f1: macroF1(gold, pred, labels), n: val.length };
}

const clone = (p: Params): Params => Object.fromEntries(Object.entries(p).map(([k, t]) => [k, tensor('float32', t.shape, t.data.slice())]));

function diffRecipe(saved: Record<string, unknown>, now: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(saved), ...Object.keys(now)]);
  return [...keys].filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(now[k])).map((k) => `${k}: ${JSON.stringify(saved[k])} → ${JSON.stringify(now[k])}`);
}

export async function train(opts: TrainerOptions): Promise<TrainResult> {
  const { method, outDir } = opts;
  const accum = opts.gradAccum ?? TRAIN_DEFAULTS.gradAccum;
  if (!(Number.isInteger(accum) && accum >= 1)) throw new TrainingError(`gradient accumulation must be an integer >= 1, got ${accum}`);
  const metric = opts.metric ?? TRAIN_DEFAULTS.metric;
  const saveEvery = opts.saveEvery ?? TRAIN_DEFAULTS.saveEvery;
  const hasVal = (opts.validation?.length ?? 0) > 0;
  if (opts.patience !== undefined && !hasVal) throw new TrainingError('--patience needs a validation split (--validation FILE) to measure improvement');
  if (opts.evalEvery !== undefined && !hasVal) throw new TrainingError('--eval-every needs a validation split (--validation FILE)');

  const stats = await opts.source.stats();
  const updatesPerEpoch = Math.ceil(stats.batchesPerEpoch / accum);
  if (opts.steps === undefined && opts.epochs === undefined) throw new TrainingError('give the run length: --epochs N or --steps N');
  const totalSteps = opts.steps ?? updatesPerEpoch * opts.epochs!;
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) throw new TrainingError(`the run must have at least one update (epochs × ${updatesPerEpoch} updates per epoch, or --steps), got ${totalSteps}`);
  const pauseAt = opts.pauseAtEpoch !== undefined && updatesPerEpoch * opts.pauseAtEpoch < totalSteps ? updatesPerEpoch * opts.pauseAtEpoch : undefined;
  const lrAt = makeSchedule({ kind: opts.schedule ?? TRAIN_DEFAULTS.schedule, lr: opts.lr, warmupSteps: opts.warmupSteps ?? TRAIN_DEFAULTS.warmupSteps, totalSteps });

  host().fs.mkdirSync(outDir, { recursive: true });
  const releaseLock = acquireRunLock(outDir);
  try {
    return await trainLocked(opts, { accum, metric, saveEvery, hasVal, stats, totalSteps, lrAt, pauseAt });
  } finally {
    releaseLock();
  }
}

async function trainLocked(
  opts: TrainerOptions,
  pre: { accum: number; metric: NonNullable<TrainerOptions['metric']>; saveEvery: number; hasVal: boolean; stats: Awaited<ReturnType<TrainerOptions['source']['stats']>>; totalSteps: number; lrAt: (step: number) => number; pauseAt: number | undefined },
): Promise<TrainResult> {
  const { method, outDir } = opts;
  const { accum, metric, saveEvery, hasVal, stats, totalSteps, lrAt, pauseAt } = pre;
  const log = new MetricsLog(host().path.join(outDir, 'metrics.jsonl'));
  const lastDir = host().path.join(outDir, 'last');

  // Fresh state or the latest checkpoint.
  const ck = opts.resume ? loadLatestCheckpoint(outDir) : null;
  if (!opts.resume && host().fs.existsSync(host().path.join(outDir, CHECKPOINTS_DIR, 'latest.json'))) {
    throw new TrainingError(`${outDir} already holds a training run (checkpoints/); pass --resume to continue it, or choose another --out`);
  }
  let state: TrainerState;
  let params: Params;
  let bestParams: Params | null;
  if (ck) {
    const diff = diffRecipe(ck.state.recipe, opts.recipe);
    if (diff.length) throw new TrainingError(`cannot resume ${outDir}: the run was started with other settings (${diff.join('; ')}); use the original flags or a new --out`);
    const saved = ck.state.dataSha256;
    if (saved !== undefined && opts.dataSha256 !== undefined && saved !== opts.dataSha256) {
      const what = `the training file ${String(opts.recipe['train'] ?? '')} changed since the run started (sha256 ${saved.slice(0, 12)}… → ${opts.dataSha256.slice(0, 12)}…)`;
      if (!opts.allowDataChange) throw new TrainingError(`cannot resume ${outDir}: ${what}; restore the file, or pass --allow-data-change to continue on the new data (the losses will differ from an uninterrupted run)`);
      opts.onWarning?.(`${what}; continuing on the new data (--allow-data-change)`);
    }
    state = { ...ck.state, ...(opts.dataSha256 !== undefined ? { dataSha256: opts.dataSha256 } : {}) };
    params = ck.params;
    bestParams = ck.bestParams;
  } else {
    state = {
      version: 1, step: 0, epoch: 0, batchInEpoch: 0, examplesSeen: 0, best: null, evalsSinceBest: 0, elapsedSeconds: 0, recipe: opts.recipe,
      ...(opts.dataSha256 !== undefined ? { dataSha256: opts.dataSha256 } : {}),
    };
    params = clone(opts.init);
    bestParams = null;
  }
  for (const p of method.params) {
    const t = params[p.name];
    if (!t || t.data.length !== p.shape.reduce((a, b) => a * b, 1)) throw new TrainingError(`${method.kind}: initial value of "${p.name}" is missing or not [${p.shape.join(', ')}]`);
  }
  const opt = new AdamW(params, { lr: opts.lr, ...(opts.betas ? { betas: opts.betas } : {}), ...(opts.eps !== undefined ? { eps: opts.eps } : {}), weightDecay: opts.weightDecay ?? TRAIN_DEFAULTS.weightDecay });
  if (ck) opt.importState(ck.optimizer);
  if (ck) log.truncateAfter(state.step);
  else log.reset();

  const started = Date.now();
  const before = state.elapsedSeconds; // time spent by earlier processes of this run
  const elapsed = (): number => before + (Date.now() - started) / 1000;
  const checkpoint = (): void => {
    const dir = saveCheckpoint(outDir, { state: { ...state, elapsedSeconds: elapsed() }, params, optimizer: opt.exportState(), bestParams });
    opts.onEvent?.({ kind: 'checkpoint', step: state.step, dir });
  };
  log.write({ event: ck ? 'resume' : 'start', step: state.step, total_steps: totalSteps, examples: stats.examples, batches_per_epoch: stats.batchesPerEpoch, truncated: stats.truncated, time: new Date().toISOString() });
  opts.onEvent?.({ kind: 'start', totalSteps, startStep: state.step, examples: stats.examples, batchesPerEpoch: stats.batchesPerEpoch, resumed: ck !== null, truncated: stats.truncated });
  if (!ck) checkpoint(); // step 0: a good checkpoint always exists

  // Refuse a model that cannot fit before any weight is read (MemoryError names need and budget).
  checkMemory({
    config: opts.config, weights: opts.weights, batch: opts.source.opts.batchSize, seq: stats.longest + method.numVirtualTokens,
    training: true, maxMemory: opts.maxMemory, what: 'training',
  });
  const program = buildProgram(opts.config, opts.weights, method, { softSlots: opts.softSlots ?? false });
  const session: CompiledSession = await compileGraph(program.graph, { label: `${program.graph.name}_train`, heldWeights: true });
  // The dev-set scorer is compiled at the first evaluation, so the first update comes sooner.
  let scorer: RankScorer | null = null;
  const devScorer = async (): Promise<RankScorer> =>
    (scorer ??= await RankScorer.create(opts.config, opts.weights, method, {
      padId: opts.padId,
      lengthNormalize: opts.lengthNormalize ?? false,
      batchRows: opts.evalBatchRows ?? 32,
      softSlots: opts.softSlots ?? false,
    }));

  const evaluate = async (): Promise<boolean> => {
    const metrics = await devMetrics(await devScorer(), opts.validation!, params, opts.labels);
    const value = metrics[metric];
    const improved = state.best === null || value > state.best.value;
    if (improved) {
      state.best = { value, step: state.step, epoch: state.epoch, metrics };
      state.evalsSinceBest = 0;
      bestParams = clone(params);
      opts.saveAdapter(outDir, bestParams, { ...metrics, step: state.step, epoch: state.epoch, metric });
    } else state.evalsSinceBest++;
    log.write({ event: 'eval', step: state.step, epoch: state.epoch, ...metrics, best: improved });
    opts.onEvent?.({ kind: 'eval', step: state.step, epoch: state.epoch, metrics, best: improved });
    return improved;
  };

  let stopReason = '';
  let interrupted = false;
  const pauseReason = `paused after update ${pauseAt} of ${totalSteps}`;
  const snapshots = new Set(opts.snapshotSteps ?? []);
  let lastLoss: number | null = null;
  const names = method.params.map((p) => p.name);
  const grads: Record<string, Float32Array> = Object.fromEntries(names.map((n) => [n, new Float32Array(params[n]!.data.length)]));
  let lossSum = 0;
  let micro = 0;
  let tokens = 0;
  if (ck && bestParams && state.best) opts.saveAdapter(outDir, bestParams, { ...state.best.metrics, step: state.best.step, epoch: state.best.epoch, metric });
  if (state.step >= totalSteps) stopReason = `finished ${totalSteps} updates`;
  else if (pauseAt !== undefined && state.step >= pauseAt) stopReason = pauseReason;
  else if (opts.patience !== undefined && state.evalsSinceBest >= opts.patience) stopReason = `early stopping: no improvement of ${metric} in ${opts.patience} evaluations`;
  try {
    while (!stopReason) {
      const epoch = state.epoch;
      for await (const batch of opts.source.batches(epoch, state.batchInEpoch)) {
        // Aborted before the first update (or between updates on an epoch edge): stop here.
        if (opts.signal?.aborted && micro === 0) {
          interrupted = true;
          stopReason = `interrupted after update ${state.step} of ${totalSteps}`;
          checkpoint();
          break;
        }
        const feeds = batchFeeds(method, collateTrain(batch, { padId: opts.padId }));
        for (const n of names) feeds[n] = params[n]!;
        const out = await session.run(feeds);
        const loss = out['loss']!.data[0] as number;
        if (micro === 0) for (const n of names) grads[n]!.fill(0);
        for (const n of names) {
          const g = out[`grad.${n}`]!.data as Float32Array;
          const acc = grads[n]!;
          for (let i = 0; i < g.length; i++) acc[i]! += g[i]!;
        }
        lossSum += loss;
        micro++;
        tokens += batch.reduce((s, e) => s + e.targetIds.length, 0);
        state.batchInEpoch++;
        state.examplesSeen += batch.length;
        const epochEnd = state.batchInEpoch === stats.batchesPerEpoch;
        if (micro < accum && !epochEnd) continue;

        // One optimizer update over `micro` micro-batches (their mean gradient, as HF's loss/accum).
        const meanLoss = lossSum / micro;
        if (micro > 1) for (const n of names) grads[n]!.forEach((_, i, a) => (a[i] = a[i]! / micro));
        let finite = Number.isFinite(meanLoss);
        const gradNorm = clipGradNorm(grads, opts.maxGradNorm && opts.maxGradNorm > 0 ? opts.maxGradNorm : Infinity);
        finite &&= Number.isFinite(gradNorm);
        if (!finite) {
          const what = Number.isFinite(meanLoss) ? `gradient norm is ${gradNorm}` : `loss is ${meanLoss}`;
          log.write({ event: 'error', step: state.step + 1, epoch: state.epoch, error: `non-finite ${what}` });
          opts.saveAdapter(lastDir, params, { step: state.step, note: 'last params before the non-finite loss' });
          throw new TrainingError(
            `training stopped at update ${state.step + 1} (epoch ${state.epoch + 1}): ${what}. ` +
              `The params before it are kept in ${lastDir} and the last checkpoint in ${host().path.join(outDir, CHECKPOINTS_DIR)}; ` +
              `lower --lr (now ${opts.lr}), or clip gradients with --max-grad-norm`,
          );
        }
        const lr = lrAt(state.step);
        opt.step(grads, lr);
        state.step++;
        lastLoss = meanLoss;
        log.write({ event: 'step', step: state.step, epoch: state.epoch, loss: meanLoss, lr, grad_norm: gradNorm, examples: state.examplesSeen, tokens, elapsed_s: Number(elapsed().toFixed(3)) });
        opts.onEvent?.({ kind: 'step', step: state.step, totalSteps, epoch: state.epoch, loss: meanLoss, lr, gradNorm });
        lossSum = 0;
        micro = 0;
        tokens = 0;
        if (epochEnd) {
          state.epoch++;
          state.batchInEpoch = 0;
        }
        const finished = state.step >= totalSteps;
        const evalNow = hasVal && (opts.evalEvery ? state.step % opts.evalEvery === 0 || finished : (epochEnd && state.epoch >= (opts.evalFromEpoch ?? 1)) || finished);
        if (evalNow) {
          await evaluate();
          if (opts.patience !== undefined && state.evalsSinceBest >= opts.patience) {
            stopReason = `early stopping: no improvement of ${metric} in ${opts.patience} evaluations (best ${state.best!.value.toFixed(4)} at update ${state.best!.step})`;
          }
        }
        if (snapshots.has(state.step)) {
          host().fs.mkdirSync(host().path.join(outDir, SNAPSHOTS_DIR), { recursive: true });
          writeSafetensors(snapshotFile(outDir, state.step), params, { format: 'pt' });
        }
        if (finished && !stopReason) stopReason = `finished ${totalSteps} updates`;
        if (!stopReason && pauseAt !== undefined && state.step >= pauseAt) stopReason = pauseReason;
        if (!stopReason && opts.signal?.aborted) {
          interrupted = true;
          stopReason = `interrupted after update ${state.step} of ${totalSteps}`;
        }
        if (stopReason || evalNow || epochEnd || state.step % saveEvery === 0) checkpoint();
        if (stopReason) break;
      }
    }
  } finally {
    await session.release();
    await (scorer as RankScorer | null)?.release();
  }

  opts.saveAdapter(lastDir, params, { step: state.step, epoch: state.epoch, loss: lastLoss });
  if (!hasVal) opts.saveAdapter(outDir, params, { step: state.step, epoch: state.epoch, loss: lastLoss });
  log.write({ event: 'stop', step: state.step, reason: stopReason, best: state.best, elapsed_s: Number(elapsed().toFixed(3)) });
  opts.onEvent?.({ kind: 'stop', step: state.step, reason: stopReason });
  return {
    steps: state.step, epochs: state.epoch, stopReason, best: state.best, lastLoss, elapsedSeconds: elapsed(), adapterDir: outDir, lastDir, interrupted,
    ...(stopReason === pauseReason ? { paused: true } : {}),
  };
}
