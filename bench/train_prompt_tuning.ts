/**
 * One prompt-tuning training step at a real model shape, with random weights:
 * session.run (forward + pruned backward, fetching loss and the prompt's gradient),
 * gradient clipping and an AdamW update of prompt_embeddings.
 */
import type { ModelConfig } from '../src/formats/hf_config.ts';
import { memoryWeightStore } from '../src/formats/weights.ts';
import type { WeightStore } from '../src/formats/weights.ts';
import { toOnnx } from '../src/graph/onnx.ts';
import { batchFeeds } from '../src/methods/batch.ts';
import { buildProgram } from '../src/methods/program.ts';
import { promptTuning } from '../src/methods/prompt_tuning.ts';
import type { CompiledSession } from '../src/runtime/backend.ts';
import { compileGraph } from '../src/runtime/session.ts';
import type { Tensor } from '../src/tensor.ts';
import { tensor } from '../src/tensor.ts';
import { AdamW, clipGradNorm } from '../src/train/adamw.ts';
import { countParams, randomGpt2Weights } from './gpt2_weights.ts';
import { Rng } from './rng.ts';
import { log, median, now, peakRssMb } from './util.ts';

export interface TrainBenchOptions {
  config: ModelConfig;
  batch?: number;
  seq?: number;
  numVirtualTokens?: number;
  warmup?: number;
  steps?: number;
  threads?: number;
  seed?: number;
  /** Any family's weights (bench/random_weights.ts); default random GPT-2 weights for `config`. */
  randomWeights?: (rng: Rng) => { store: WeightStore; count: () => number };
}

export interface TrainBenchResult {
  batch: number;
  seq: number;
  numVirtualTokens: number;
  steps: number;
  params: number;
  stepS: number;
  stepTimes: number[];
  runS: number;
  updateS: number;
  warmupTimes: number[];
  tokensPerS: number;
  flopsPerStep: number;
  weightsInitS: number;
  buildS: number;
  serialiseS: number;
  compileS: number;
  onnxMb: number;
  peakRssAfterCompileMb: number;
  peakRssMb: number;
  losses: number[];
  gradNorms: number[];
}

/**
 * FLOPs of one prompt-tuning step (multiply-add = 2 FLOPs), counting MatMuls only:
 *  - forward, per layer over R = B·(n+T) rows: 2·R·(d·(H + 2·KV)·hd + H·hd·d + m·d·ff) for the
 *    projections (GPT-2: H·hd = d and KV = H, i.e. d·3d + d·d; m = 2 MLP matrices, or 3 for the
 *    gated MLPs of the RMSNorm decoders), and 2·2·B·S²·H·hd for QKᵀ and P·V (ORT computes the full
 *    S×S scores; the causal mask is additive);
 *  - the LM head only at the N = B·T counted positions: 2·N·d·V;
 *  - backward: no weight gradients (the model is frozen), so each projection and the head
 *    cost one MatMul (dX = dY·Wᵀ), i.e. the same as forward; attention needs dQ, dK (from dS)
 *    and dP, dV (from dO), twice the forward. Embedding gathers, norms, activations, softmax and
 *    elementwise ops are ignored (memory-bound, small in FLOPs).
 * Total ≈ 2·(projections + head) + 3·attention.
 */
export function promptTuningStepFlops(c: ModelConfig, B: number, T: number, n: number): number {
  const d = c.hiddenSize;
  const S = n + T;
  const R = B * S;
  const qo = c.numHeads * c.headDim;
  const mlpMatrices = c.decoder ? 3 : 2;
  const proj = 2 * R * (d * (qo + 2 * c.numKvHeads * c.headDim) + qo * d + mlpMatrices * d * c.intermediateSize) * c.numLayers;
  const attn = 2 * 2 * B * S * S * qo * c.numLayers;
  const head = 2 * B * T * d * c.vocabSize;
  return 2 * (proj + head) + 3 * attn;
}

export async function benchPromptTuning(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const { config, batch: B = 8, seq: T = 128, numVirtualTokens: n = 20, warmup = 2, steps = 5, threads, seed = 1234 } = opts;
  const rng = new Rng(seed);

  let t0 = now();
  const random = opts.randomWeights
    ? opts.randomWeights(rng)
    : ((w) => ({ store: memoryWeightStore(w, '<random gpt2>'), count: () => countParams(w) }))(randomGpt2Weights(config, rng));
  let weightsInitS = now() - t0;

  const method = promptTuning(config, { numVirtualTokens: n });
  t0 = now();
  const program = buildProgram(config, random.store, method);
  const buildS = now() - t0;
  const params = random.count();
  if (opts.randomWeights) weightsInitS = 0; // made on demand while building: counted in build_s
  log(`train: ${(params / 1e6).toFixed(1)}M random weights`);
  log(`train: graph built in ${buildS.toFixed(2)} s (${program.graph.nodes.length} nodes, outputs ${program.outputs.join(', ')})`);

  // The trainer's own compile path (trainer.ts): frozen weights held once and fed as graph
  // inputs, so the ONNX model carries the graph alone.
  t0 = now();
  const onnxMb = toOnnx(program.graph, { weightInputs: true }).length / 2 ** 20;
  const serialiseS = now() - t0;
  log(`train: serialised ${onnxMb.toFixed(1)} MiB of ONNX (weights held as inputs) in ${serialiseS.toFixed(2)} s`);

  t0 = now();
  const session: CompiledSession = await compileGraph(program.graph, { intraOpThreads: threads, label: program.graph.name, heldWeights: true });
  const compileS = now() - t0;
  const peakRssAfterCompileMb = peakRssMb();
  log(`train: compiled in ${compileS.toFixed(2)} s (peak RSS so far ${peakRssAfterCompileMb.toFixed(0)} MiB)`);

  try {
    const ids = new BigInt64Array(B * T);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rng.int(config.vocabSize));
    const inputIds = tensor('int64', [B, T], ids);
    const feeds: Record<string, Tensor> = batchFeeds(method, {
      inputIds,
      attentionMask: tensor('int64', [B, T], new BigInt64Array(B * T).fill(1n)),
      labels: inputIds, // every real token counted
    });
    const counted = feeds['loss_targets']!.shape[0]!;
    if (counted !== B * T) throw new Error(`expected ${B * T} counted targets, got ${counted}`);

    const prompt = tensor('float32', [n, config.hiddenSize], rng.fillNormal(new Float32Array(n * config.hiddenSize), 0.02));
    feeds['prompt_embeddings'] = prompt;
    const opt = new AdamW({ prompt_embeddings: prompt }, { lr: 3e-2, weightDecay: 0.01 });
    const fetches = ['loss', 'grad.prompt_embeddings'];

    const losses: number[] = [];
    const gradNorms: number[] = [];
    const step = async (): Promise<{ total: number; run: number; update: number }> => {
      const s0 = now();
      const out = await session.run(feeds, fetches);
      const s1 = now();
      const grad = out['grad.prompt_embeddings'] as Tensor<'float32'>;
      gradNorms.push(clipGradNorm({ prompt_embeddings: grad }, 1.0));
      opt.step({ prompt_embeddings: grad });
      const s2 = now();
      losses.push((out['loss']!.data as Float32Array)[0]!);
      return { total: s2 - s0, run: s1 - s0, update: s2 - s1 };
    };

    const warmupTimes: number[] = [];
    for (let i = 0; i < warmup; i++) {
      const r = await step();
      warmupTimes.push(r.total);
      log(`train: warm-up step ${i + 1}/${warmup}: ${r.total.toFixed(3)} s, loss ${losses.at(-1)!.toFixed(4)}`);
    }
    const stepTimes: number[] = [];
    const runTimes: number[] = [];
    const updateTimes: number[] = [];
    for (let i = 0; i < steps; i++) {
      const r = await step();
      stepTimes.push(r.total);
      runTimes.push(r.run);
      updateTimes.push(r.update);
      log(`train: step ${i + 1}/${steps}: ${r.total.toFixed(3)} s (run ${r.run.toFixed(3)} s, clip+AdamW ${(r.update * 1e3).toFixed(2)} ms), loss ${losses.at(-1)!.toFixed(4)}`);
    }
    const stepS = median(stepTimes);
    return {
      batch: B,
      seq: T,
      numVirtualTokens: n,
      steps,
      params,
      stepS,
      stepTimes,
      runS: median(runTimes),
      updateS: median(updateTimes),
      warmupTimes,
      tokensPerS: (B * T) / stepS,
      flopsPerStep: promptTuningStepFlops(config, B, T, n),
      weightsInitS,
      buildS,
      serialiseS,
      compileS,
      onnxMb,
      peakRssAfterCompileMb,
      peakRssMb: peakRssMb(),
      losses,
      gradNorms,
    };
  } finally {
    await session.release();
  }
}
