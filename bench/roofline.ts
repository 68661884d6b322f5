/**
 * The MatMul roofline: what ORT reaches on this machine for one GPT-2-sized MatMul
 * ([1024, 768] · [768, 3072] float32, the MLP up-projection of 1024 tokens), with the right
 * operand an initializer as model weights are (so ORT can pre-pack it).
 *
 * Two measurements:
 *  - single: one MatMul per session.run, as specified for `roofline_gflops`. Each run also pays
 *    for copying the 3 MiB feed in and the 12 MiB result out, which is ~10–15% of its time on 2 cores;
 *  - chain: `pairs` × (up [768, 3072], down [3072, 768]) MatMuls of the same FLOPs each in one
 *    graph, output [1024, 768] only, so per-run overhead is amortised. Closer to the sustained
 *    MatMul rate a big training graph sees.
 */
import { Graph, matmul } from '../src/graph/index.ts';
import type { CompiledSession } from '../src/runtime/backend.ts';
import { compileGraph } from '../src/runtime/session.ts';
import type { Tensor } from '../src/tensor.ts';
import { tensor } from '../src/tensor.ts';
import { Rng } from './rng.ts';
import { log, median, now } from './util.ts';

export interface RooflineResult {
  gflops: number;
  medianS: number;
  chainGflops: number;
  chainMedianS: number;
  chainMatmuls: number;
  runs: number;
  chainRuns: number;
  m: number;
  k: number;
  n: number;
}

async function timeRuns(session: CompiledSession, feeds: Record<string, Tensor>, warmup: number, runs: number): Promise<number> {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    await session.run(feeds);
    times.push(now() - t0);
  }
  return median(times);
}

export interface RooflineOptions {
  runs?: number;
  chainRuns?: number;
  chainPairs?: number;
  warmup?: number;
  threads?: number;
}

export async function measureRoofline({ runs = 20, chainRuns = 10, chainPairs = 4, warmup = 3, threads }: RooflineOptions = {}): Promise<RooflineResult> {
  const [m, k, n] = [1024, 768, 3072];
  const flops = 2 * m * k * n;
  const rng = new Rng(1);
  const randn = (shape: number[], std: number): Tensor<'float32'> => tensor('float32', shape, rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), std));
  const feeds = { a: randn([m, k], 1) };

  const g = new Graph('roofline_matmul');
  g.output('y', matmul(g.input('a', 'float32', [m, k]), g.weight('b', randn([k, n], 0.02))));
  const single = await compileGraph(g, { intraOpThreads: threads });
  let medianS: number;
  try {
    medianS = await timeRuns(single, feeds, warmup, runs);
  } finally {
    await single.release();
  }
  const gflops = flops / medianS / 1e9;
  log(`roofline: MatMul [${m},${k}]·[${k},${n}] median ${(medianS * 1e3).toFixed(2)} ms over ${runs} runs → ${gflops.toFixed(1)} GFLOP/s`);

  const c = new Graph('roofline_matmul_chain');
  let x = c.input('a', 'float32', [m, k]);
  for (let i = 0; i < chainPairs; i++) {
    x = matmul(x, c.weight(`up${i}`, randn([k, n], 0.02)));
    x = matmul(x, c.weight(`down${i}`, randn([n, k], 0.02)));
  }
  c.output('y', x);
  const chain = await compileGraph(c, { intraOpThreads: threads });
  let chainMedianS: number;
  try {
    chainMedianS = await timeRuns(chain, feeds, Math.min(warmup, 2), chainRuns);
  } finally {
    await chain.release();
  }
  const chainMatmuls = 2 * chainPairs;
  const chainGflops = (chainMatmuls * flops) / chainMedianS / 1e9;
  log(`roofline: chain of ${chainMatmuls} MatMuls median ${(chainMedianS * 1e3).toFixed(1)} ms over ${chainRuns} runs → ${chainGflops.toFixed(1)} GFLOP/s`);
  return { gflops, medianS, chainGflops, chainMedianS, chainMatmuls, runs, chainRuns, m, k, n };
}
