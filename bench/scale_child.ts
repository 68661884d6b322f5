/**
 * One scale-bench shape in a fresh process (so its peak memory is its own), the way one engine
 * would hold it: a prompt-tuning training step, a dev-set rank-scoring pass and KV-cached decode
 * at batch 1 and 8, all compiled from one model folder (one held copy of the weights, fed to every session).
 * Usage: node --import tsx bench/scale_child.ts <model folder> [steps]. Last stdout line: JSON.
 */
import { loadModelDir } from '../src/formats/model_dir.ts';
import type { ModelConfig } from '../src/formats/hf_config.ts';
import { RankScorer } from '../src/eval/rank.ts';
import { Generator } from '../src/infer/generator.ts';
import { batchFeeds } from '../src/methods/batch.ts';
import { buildProgram } from '../src/methods/program.ts';
import { promptTuning } from '../src/methods/prompt_tuning.ts';
import { defaultRecompute } from '../src/runtime/large.ts';
import type { RecomputeMode } from '../src/graph/autodiff.ts';
import { compileGraph } from '../src/runtime/session.ts';
import type { Tensor } from '../src/tensor.ts';
import { tensor } from '../src/tensor.ts';
import { AdamW, clipGradNorm } from '../src/train/adamw.ts';
import { Rng } from './rng.ts';
import { log, median, now, peakRssMb } from './util.ts';

/**
 * MatMul FLOPs of one prompt-tuning step on a Llama (as bench/train_prompt_tuning.ts counts
 * GPT-2): projections q, k, v, o (grouped k/v) and the SwiGLU MLP over R = B·(n+T) rows, full
 * S×S attention, the head at the B·T counted positions; backward = forward for projections and
 * head (no weight gradients), twice forward for attention.
 */
export function llamaStepFlops(c: ModelConfig, B: number, T: number, n: number): number {
  const { proj, attn, head } = llamaFlopParts(c, B, T, n);
  return 2 * (proj + head) + 3 * attn;
}

/**
 * The MatMul FLOPs a step actually runs with activation checkpointing: `full` runs the layers'
 * forward (projections + attention) once more, `selective` only the attention MatMuls.
 */
export function llamaExecutedStepFlops(c: ModelConfig, B: number, T: number, n: number, recompute: RecomputeMode): number {
  const { proj, attn } = llamaFlopParts(c, B, T, n);
  return llamaStepFlops(c, B, T, n) + (recompute === 'full' ? proj + attn : recompute === 'selective' ? attn : 0);
}

/** Forward MatMul FLOPs: projections and attention of all layers, and the head. */
function llamaFlopParts(c: ModelConfig, B: number, T: number, n: number): { proj: number; attn: number; head: number } {
  const d = c.hiddenSize;
  const qd = c.numHeads * c.headDim;
  const kvd = c.numKvHeads * c.headDim;
  const S = n + T;
  const R = B * S;
  const proj = 2 * R * (d * qd + 2 * d * kvd + qd * d + 3 * d * c.intermediateSize) * c.numLayers;
  const attn = 2 * 2 * B * S * S * qd * c.numLayers;
  const head = 2 * B * T * d * c.vocabSize;
  return { proj, attn, head };
}

async function main(): Promise<void> {
  const dir = process.argv[2]!;
  const steps = Number(process.argv[3] ?? 2);
  const [B, T, n] = [8, 128, 20];
  const rng = new Rng(7);
  const m = loadModelDir(dir);
  const { config, weights } = m;
  const method = promptTuning(config, { numVirtualTokens: n });
  let t0 = now();
  const program = buildProgram(config, weights, method);
  const session = await compileGraph(program.graph, { label: 'scale_train', heldWeights: true });
  const compileS = now() - t0;
  log(`scale: training graph built and compiled in ${compileS.toFixed(1)} s (at ${now().toFixed(1)} s)`);

  const ids = new BigInt64Array(B * T);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt(rng.int(Math.min(config.vocabSize, 512)));
  const inputIds = tensor('int64', [B, T], ids);
  const feeds: Record<string, Tensor> = batchFeeds(method, { inputIds, attentionMask: tensor('int64', [B, T], new BigInt64Array(B * T).fill(1n)), labels: inputIds });
  const prompt = tensor('float32', [n, config.hiddenSize], rng.fillNormal(new Float32Array(n * config.hiddenSize), 0.02));
  feeds['prompt_embeddings'] = prompt;
  const opt = new AdamW({ prompt_embeddings: prompt }, { lr: 3e-2, weightDecay: 0.01 });
  const step = async (): Promise<number> => {
    const s0 = now();
    const out = await session.run(feeds, ['loss', 'grad.prompt_embeddings']);
    const grad = out['grad.prompt_embeddings'] as Tensor<'float32'>;
    clipGradNorm({ prompt_embeddings: grad }, 1.0);
    opt.step({ prompt_embeddings: grad });
    return now() - s0;
  };
  const first = await step();
  const firstStepS = now(); // seconds since the process started
  log(`scale: first step ${first.toFixed(1)} s, done ${firstStepS.toFixed(1)} s after start`);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    times.push(await step());
    log(`scale: step ${i + 1}/${steps}: ${times.at(-1)!.toFixed(2)} s`);
  }
  const stepS = median(times);

  // A dev-set scoring pass: 64 examples of ~100 tokens, two one-token candidates, packed.
  t0 = now();
  const scorer = await RankScorer.create(config, weights, method, { padId: 0, params: { prompt_embeddings: prompt } });
  const examples = Array.from({ length: 64 }, () => ({
    promptIds: Array.from({ length: 96 + rng.int(8) }, () => rng.int(Math.min(config.vocabSize, 512))),
    candidates: [[rng.int(512)], [rng.int(512)]],
  }));
  await scorer.score(examples);
  const scoreS = now() - t0;
  log(`scale: scoring pass (compile + 64 examples) ${scoreS.toFixed(1)} s`);

  const tok = { decode: (x: ArrayLike<number>) => Array.from(x).join(' '), eosTokenId: undefined };
  const gen = await Generator.create(config, weights, tok);
  const decode: Record<string, number> = {};
  for (const b of [1, 8]) {
    const prompts = Array.from({ length: b }, () => Array.from({ length: 64 }, () => rng.int(512)));
    const rows = prompts.map((p) => ({ promptIds: p, prefix: null, options: { maxNewTokens: 17 } }));
    await gen.run(rows); // warm-up
    await gen.run(rows);
    const s = gen.lastStats!;
    decode[`b${b}`] = s.decodeTokens / s.decodeS;
    log(`scale: decode b${b}: ${decode[`b${b}`]!.toFixed(1)} tok/s`);
  }
  await gen.release();
  const flops = llamaStepFlops(config, B, T, n);
  const executed = llamaExecutedStepFlops(config, B, T, n, defaultRecompute(weights));
  process.stdout.write(`${JSON.stringify({
    params: weights.names().reduce((s, k) => s + weights.info(k).shape.reduce((a, b) => a * b, 1), 0),
    compile_s: compileS, first_step_s: firstStepS, first_step_run_s: first, step_s: stepS, step_times: times,
    tokens_per_s: (B * T) / stepS, gflop_per_step: flops / 1e9, achieved_gflops: flops / stepS / 1e9,
    recompute: defaultRecompute(weights), executed_gflop_per_step: executed / 1e9, executed_gflops: executed / stepS / 1e9,
    score_pass_s: scoreS, decode_b1: decode['b1'], decode_b8: decode['b8'], self_peak_rss_mb: peakRssMb(),
  })}\n`);
}

main().catch((e: unknown) => {
  log(`failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exit(1);
});
