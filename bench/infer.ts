/**
 * KV-cached inference at a real model shape with random weights: prefill and decode tokens/s at
 * batch 1 and 8, without a task and with a 20-token task prefix, through infer/'s Generator (the
 * same step graph and host cache the engine uses). Runs with and without the adapter are
 * interleaved so drift in the machine's speed hits both alike.
 */
import type { ModelConfig } from '../src/formats/hf_config.ts';
import { memoryWeightStore } from '../src/formats/weights.ts';
import { Generator } from '../src/infer/generator.ts';
import { prefixFromTable } from '../src/infer/kv.ts';
import type { TaskPrefix } from '../src/infer/kv.ts';
import { tensor } from '../src/tensor.ts';
import { randomGpt2Weights } from './gpt2_weights.ts';
import { Rng } from './rng.ts';
import { log, median, now } from './util.ts';

export interface InferBenchOptions {
  config: ModelConfig;
  batches?: readonly number[];
  promptTokens?: number;
  newTokens?: number;
  numVirtualTokens?: number;
  runs?: number;
  threads?: number;
  seed?: number;
}

export interface InferCase {
  batch: number;
  adapter: boolean;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  prefillS: number;
  decodeStepMs: number;
  /** The fastest run's decode step (less exposed to other processes than the median). */
  bestDecodeStepMs: number;
}

export interface InferBenchResult {
  promptTokens: number;
  newTokens: number;
  numVirtualTokens: number;
  runs: number;
  compileS: number;
  cases: InferCase[];
}

export async function benchInference(opts: InferBenchOptions): Promise<InferBenchResult> {
  const { config, batches = [1, 8], promptTokens: T = 64, newTokens = 32, numVirtualTokens: n = 20, runs = 3, threads, seed = 4321 } = opts;
  const rng = new Rng(seed);
  const weights = memoryWeightStore(randomGpt2Weights(config, rng), '<random gpt2>');
  const tok = { decode: (ids: ArrayLike<number>) => Array.from(ids).join(' '), eosTokenId: undefined };
  let t0 = now();
  const gen = await Generator.create(config, weights, tok, threads !== undefined ? { intraOpThreads: threads } : {});
  const compileS = now() - t0;
  log(`infer: step graph built and compiled in ${compileS.toFixed(2)} s`);
  // A prefix-tuning table N(0, 1) as PEFT initialises it: 20 slots of every layer's keys and values.
  const width = 2 * config.numLayers * config.numKvHeads * config.headDim;
  const table = tensor('float32', [n, width], rng.fillNormal(new Float32Array(n * width), 1));
  const prefix: TaskPrefix = prefixFromTable(config, table);
  const cases: InferCase[] = [];
  try {
    for (const B of batches) {
      const prompts = Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(config.vocabSize)));
      const run = async (p: TaskPrefix | null) => {
        await gen.run(prompts.map((ids) => ({ promptIds: ids, prefix: p, options: { maxNewTokens: newTokens } })));
        return gen.lastStats!;
      };
      await run(null); // warm-up: ORT grows its arenas on the first runs
      await run(prefix);
      const times: Record<'base' | 'adapter', { prefill: number[]; decode: number[] }> = { base: { prefill: [], decode: [] }, adapter: { prefill: [], decode: [] } };
      for (let r = 0; r < runs; r++) {
        for (const which of r % 2 === 0 ? (['base', 'adapter'] as const) : (['adapter', 'base'] as const)) {
          const s = await run(which === 'adapter' ? prefix : null);
          if (s.decodeTokens !== B * (newTokens - 1)) throw new Error(`expected ${B * (newTokens - 1)} decoded tokens, got ${s.decodeTokens}`);
          times[which].prefill.push(s.prefillS);
          times[which].decode.push(s.decodeS / s.decodeSteps);
        }
      }
      for (const which of ['base', 'adapter'] as const) {
        const prefillS = median(times[which].prefill);
        const stepS = median(times[which].decode);
        const c: InferCase = { batch: B, adapter: which === 'adapter', prefillS, prefillTokensPerS: (B * T) / prefillS, decodeStepMs: stepS * 1e3, decodeTokensPerS: B / stepS, bestDecodeStepMs: Math.min(...times[which].decode) * 1e3 };
        cases.push(c);
        log(`infer: B=${B} ${which}: prefill ${c.prefillTokensPerS.toFixed(0)} tok/s (${prefillS.toFixed(3)} s), decode ${c.decodeTokensPerS.toFixed(1)} tok/s (${c.decodeStepMs.toFixed(1)} ms/step)`);
      }
    }
  } finally {
    await gen.release();
  }
  return { promptTokens: T, newTokens, numVirtualTokens: n, runs, compileS, cases };
}
