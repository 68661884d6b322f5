/**
 * Rank classification at a real model shape with random weights: examples/s with the candidates
 * packed after one pass over the prompt (the default) against one row per candidate, for 2 and 4
 * candidates, with a 20-token prompt-tuning adapter. Packed and separate runs alternate so drift
 * in the machine's speed hits both alike. Scores of the two layouts are compared too.
 */
import type { ModelConfig } from '../src/formats/hf_config.ts';
import { memoryWeightStore } from '../src/formats/weights.ts';
import { RankScorer } from '../src/eval/rank.ts';
import type { RankExample } from '../src/eval/rank.ts';
import { promptTuning } from '../src/methods/prompt_tuning.ts';
import { tensor } from '../src/tensor.ts';
import { randomGpt2Weights } from './gpt2_weights.ts';
import { Rng } from './rng.ts';
import { log, median, now } from './util.ts';

export interface RankBenchOptions {
  config: ModelConfig;
  /** Candidate counts to measure (default 2 and 4). */
  labels?: readonly number[];
  examples?: number;
  promptTokens?: number;
  runs?: number;
  threads?: number;
  seed?: number;
}

export interface RankCase {
  labels: number;
  packedExamplesPerS: number;
  separateExamplesPerS: number;
  /** Largest |score difference| between the two layouts. */
  maxAbsDiff: number;
}

export interface RankBenchResult {
  examples: number;
  promptTokens: number;
  numVirtualTokens: number;
  runs: number;
  cases: RankCase[];
}

export async function benchRank(opts: RankBenchOptions): Promise<RankBenchResult> {
  const { config, labels = [2, 4], examples: N = 32, promptTokens: T = 64, runs = 3, threads, seed = 99 } = opts;
  const n = 20;
  const rng = new Rng(seed);
  const weights = memoryWeightStore(randomGpt2Weights(config, rng), '<random gpt2>');
  const method = promptTuning(config, { numVirtualTokens: n });
  const params = { prompt_embeddings: tensor('float32', [n, config.hiddenSize], rng.fillNormal(new Float32Array(n * config.hiddenSize), 0.02)) };
  const common = { params, batchRows: 32, ...(threads !== undefined ? { intraOpThreads: threads } : {}) };
  const packed = await RankScorer.create(config, weights, method, common);
  const separate = await RankScorer.create(config, weights, method, { ...common, packCandidates: false });
  const cases: RankCase[] = [];
  try {
    for (const K of labels) {
      // Prompts of T ± 25% tokens; candidates of 1–3 tokens (verbalizer words).
      const exs: RankExample[] = Array.from({ length: N }, () => ({
        promptIds: Array.from({ length: Math.round(T * (0.75 + rng.int(51) / 100)) }, () => rng.int(config.vocabSize)),
        candidates: Array.from({ length: K }, () => Array.from({ length: 1 + rng.int(3) }, () => rng.int(config.vocabSize))),
      }));
      const a = await packed.score(exs); // warm-up: ORT grows its arenas on the first runs
      const b = await separate.score(exs);
      let maxAbsDiff = 0;
      a.scores.forEach((r, i) => r.forEach((x, k) => (maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x - b.scores[i]![k]!)))));
      const times = { packed: [] as number[], separate: [] as number[] };
      for (let r = 0; r < runs; r++) {
        for (const which of r % 2 === 0 ? (['packed', 'separate'] as const) : (['separate', 'packed'] as const)) {
          const t0 = now();
          await (which === 'packed' ? packed : separate).score(exs);
          times[which].push(now() - t0);
        }
      }
      const c = { labels: K, packedExamplesPerS: N / median(times.packed), separateExamplesPerS: N / median(times.separate), maxAbsDiff };
      log(`rank: ${K} labels: packed ${c.packedExamplesPerS.toFixed(1)} ex/s, separate rows ${c.separateExamplesPerS.toFixed(1)} ex/s, max |Δscore| ${maxAbsDiff.toExponential(1)}`);
      cases.push(c);
    }
  } finally {
    await packed.release();
    await separate.release();
  }
  return { examples: N, promptTokens: T, numVirtualTokens: n, runs, cases };
}
