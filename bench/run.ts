/**
 * `npm run bench`: an ORT MatMul roofline and a prompt-tuning training step at the
 * GPT-2-small shape (random weights), measured in the same run so the training
 * throughput reads as a fraction of what this machine can do.
 *
 * Options: --quick (roofline 10 runs, 3 timed training steps),
 * --steps N (timed training steps, default 5), --warmup N (untimed training steps, default 2:
 * the first two session runs are ~2x slower while ORT grows its memory), --roofline-runs N
 * (default 20), --threads N (ORT intra-op threads; default all cores), --only roofline|train|infer
 * (infer: KV-cached prefill and decode tokens/s at batch 1 and 8, with and without a 20-token adapter;
 * rank: rank classification examples/s, candidates packed after one prompt pass vs one row each;
 * families: the roofline and a prompt-tuning step per model family at a real shape, not run by default;
 * --family S[,S…] keeps the families whose key contains one of them, e.g. --family qwen,gemma;
 * scale: random-weight Llama folders at the SmolLM2-360M and TinyLlama-1.1B shapes, each in its own
 * process: training step, dev scoring pass, decode b1/b8, peak PSS/RSS; not run by default,
 * --scale-shapes picks shapes, --scale-steps timed steps, default 3;
 * web: prompt-tuning training tokens/s on onnxruntime-web's WASM backend with 1 and all threads
 * against onnxruntime-node, at the stories260K shape and GPT-2 small, each case in its own process;
 * not run by default).
 * A readable table goes to stdout; the LAST stdout line is one JSON object with flat keys.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readHfConfig } from '../src/formats/model_dir.ts';
import { DECODER_FAMILY_SHAPES } from './families_decoder.ts';
import { benchFamily, GPT_FAMILY_SHAPES } from './families_gpt.ts';
import { benchInference } from './infer.ts';
import { benchRank } from './rank.ts';
import { SCALE_SHAPES } from './llama_folder.ts';
import { measureRoofline } from './roofline.ts';
import { benchScale } from './scale.ts';
import { benchWeb } from './web.ts';
import { benchPage } from './web_page.ts';
import { benchPromptTuning } from './train_prompt_tuning.ts';
import { log, ortVersion, peakRssMb, REPO_ROOT, round, rssMb } from './util.ts';

function sharedDir(): string {
  const candidates = [process.env['SOFTPROMPT_SHARED'], join(REPO_ROOT, '..', 'shared'), join(process.cwd(), '..', 'shared')];
  for (const c of candidates) if (c && existsSync(join(c, 'tokenizers', 'gpt2', 'config.json'))) return resolve(c);
  throw new Error(`cannot find the shared folder (tried ${candidates.filter(Boolean).join(', ')}); set SOFTPROMPT_SHARED`);
}

function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      steps: { type: 'string' },
      warmup: { type: 'string' },
      'roofline-runs': { type: 'string' },
      threads: { type: 'string' },
      only: { type: 'string' },
      family: { type: 'string' },
      'scale-shapes': { type: 'string' },
      'scale-steps': { type: 'string' },
    },
  });
  const quick = values.quick ?? false;
  const steps = positiveInt('steps', values.steps, quick ? 3 : 5);
  const warmup = positiveInt('warmup', values.warmup, 2);
  const rooflineRuns = positiveInt('roofline-runs', values['roofline-runs'], quick ? 10 : 20);
  const threads = values.threads === undefined ? undefined : positiveInt('threads', values.threads, 1);
  const only = values.only;
  if (only !== undefined && !['roofline', 'train', 'infer', 'rank', 'families', 'scale', 'web'].includes(only)) {
    throw new Error(`--only must be "roofline", "train", "infer", "rank", "families", "scale" or "web", got ${JSON.stringify(only)}`);
  }

  const cores = availableParallelism();
  const result: Record<string, number | string | boolean> = {
    machine_cores: cores,
    machine_cpu: cpus()[0]?.model ?? 'unknown',
    machine_mem_gb: round(totalmem() / 2 ** 30, 1),
    ort_version: ortVersion(),
    node_version: process.version,
    ort_threads: threads ?? cores,
    quick,
  };
  const rows: [string, string][] = [];

  let roofline: number | null = null;
  let chainRoofline: number | null = null;
  if (only === undefined || only === 'roofline' || only === 'families' || only === 'scale') {
    const r = await measureRoofline({ runs: rooflineRuns, chainRuns: quick ? 5 : 10, threads });
    roofline = r.gflops;
    chainRoofline = r.chainGflops;
    result['roofline_gflops'] = round(r.gflops, 2);
    result['roofline_matmul_ms'] = round(r.medianS * 1e3, 3);
    result['roofline_chain_gflops'] = round(r.chainGflops, 2);
    rows.push(
      [`roofline: one MatMul [${r.m},${r.k}]·[${r.k},${r.n}] per run (median of ${r.runs})`, `${r.gflops.toFixed(1)} GFLOP/s (${(r.medianS * 1e3).toFixed(2)} ms)`],
      [`roofline: chain of ${r.chainMatmuls} such MatMuls per run (median of ${r.chainRuns})`, `${r.chainGflops.toFixed(1)} GFLOP/s (${(r.chainMedianS * 1e3).toFixed(1)} ms)`],
    );
  }

  // Inference runs before training: the training session leaves the process with GBs of freed
  // arena that make the decode timings noisier.
  if (only === undefined || only === 'infer') {
    const config = readHfConfig(join(sharedDir(), 'tokenizers', 'gpt2', 'config.json'));
    const r = await benchInference({ config, threads, runs: quick ? 2 : 7, newTokens: quick ? 16 : 32 });
    const k = 'infer.gpt2-small';
    result[`${k}.prompt_tokens`] = r.promptTokens;
    result[`${k}.new_tokens`] = r.newTokens;
    result[`${k}.adapter_virtual_tokens`] = r.numVirtualTokens;
    result[`${k}.compile_s`] = round(r.compileS, 3);
    rows.push([`GPT-2 small KV-cached inference: prompt ${r.promptTokens} tokens, ${r.newTokens} new, adapter = ${r.numVirtualTokens}-token prefix (median of ${r.runs})`, '']);
    for (const c of r.cases) {
      const tag = `b${c.batch}.${c.adapter ? 'adapter' : 'base'}`;
      result[`${k}.prefill_tokens_per_s.${tag}`] = round(c.prefillTokensPerS, 1);
      result[`${k}.decode_tokens_per_s.${tag}`] = round(c.decodeTokensPerS, 2);
      result[`${k}.decode_step_ms.${tag}`] = round(c.decodeStepMs, 2);
      rows.push([`  batch ${c.batch}, ${c.adapter ? `with a ${r.numVirtualTokens}-token adapter` : 'no adapter'}`, `prefill ${c.prefillTokensPerS.toFixed(0)} tok/s, decode ${c.decodeTokensPerS.toFixed(1)} tok/s (${c.decodeStepMs.toFixed(1)} ms/step)`]);
    }
    for (const B of new Set(r.cases.map((c) => c.batch))) {
      const base = r.cases.find((c) => c.batch === B && !c.adapter)!;
      const ad = r.cases.find((c) => c.batch === B && c.adapter)!;
      const overhead = (100 * (base.decodeTokensPerS - ad.decodeTokensPerS)) / base.decodeTokensPerS;
      const best = (100 * (ad.bestDecodeStepMs - base.bestDecodeStepMs)) / base.bestDecodeStepMs;
      result[`${k}.adapter_decode_overhead_pct.b${B}`] = round(overhead, 2);
      result[`${k}.adapter_decode_overhead_pct_best_run.b${B}`] = round(best, 2);
      rows.push([`  adapter overhead on decode, batch ${B} (medians; fastest runs)`, `${overhead.toFixed(2)} %; ${best.toFixed(2)} %`]);
    }
  }
  if (only === undefined || only === 'rank') {
    const config = readHfConfig(join(sharedDir(), 'tokenizers', 'gpt2', 'config.json'));
    const r = await benchRank({ config, threads, runs: quick ? 1 : 3 });
    const k = 'rank.gpt2-small';
    rows.push([`GPT-2 small rank classification: ${r.examples} examples, prompts ~${r.promptTokens} tokens, ${r.numVirtualTokens}-token adapter (median of ${r.runs})`, '']);
    for (const c of r.cases) {
      result[`${k}.examples_per_s.packed.l${c.labels}`] = round(c.packedExamplesPerS, 2);
      result[`${k}.examples_per_s.separate.l${c.labels}`] = round(c.separateExamplesPerS, 2);
      result[`${k}.max_abs_score_diff.l${c.labels}`] = c.maxAbsDiff;
      rows.push([`  ${c.labels} labels: packed after one prompt pass / one row per label`, `${c.packedExamplesPerS.toFixed(1)} / ${c.separateExamplesPerS.toFixed(1)} examples/s (×${(c.packedExamplesPerS / c.separateExamplesPerS).toFixed(2)})`]);
    }
  }
  if (only === undefined || only === 'train') {
    const configPath = join(sharedDir(), 'tokenizers', 'gpt2', 'config.json');
    const config = readHfConfig(configPath);
    const t = await benchPromptTuning({ config, steps, warmup, threads });
    const k = 'train.gpt2-small.prompt-tuning';
    const achieved = t.flopsPerStep / t.stepS / 1e9;
    Object.assign(result, {
      [`${k}.tokens_per_s`]: round(t.tokensPerS, 2),
      [`${k}.step_s`]: round(t.stepS, 4),
      [`${k}.peak_rss_mb`]: round(t.peakRssMb, 1),
      [`${k}.session_run_s`]: round(t.runS, 4),
      [`${k}.clip_adamw_ms`]: round(t.updateS * 1e3, 3),
      [`${k}.gflop_per_step`]: round(t.flopsPerStep / 1e9, 2),
      [`${k}.achieved_gflops`]: round(achieved, 2),
      [`${k}.weights_init_s`]: round(t.weightsInitS, 3),
      [`${k}.build_s`]: round(t.buildS, 3),
      [`${k}.serialise_s`]: round(t.serialiseS, 3),
      [`${k}.compile_s`]: round(t.compileS, 3),
      [`${k}.onnx_mb`]: round(t.onnxMb, 1),
      [`${k}.peak_rss_after_compile_mb`]: round(t.peakRssAfterCompileMb, 1),
      [`${k}.params_m`]: round(t.params / 1e6, 2),
      [`${k}.batch`]: t.batch,
      [`${k}.seq`]: t.seq,
      [`${k}.num_virtual_tokens`]: t.numVirtualTokens,
      [`${k}.timed_steps`]: t.steps,
      [`${k}.warmup_steps`]: t.warmupTimes.length,
      [`${k}.loss_first`]: round(t.losses[0]!, 5),
      [`${k}.loss_last`]: round(t.losses.at(-1)!, 5),
    });
    t.warmupTimes.forEach((x, i) => (result[`${k}.warmup_step${i + 1}_s`] = round(x, 4)));
    if (roofline !== null) result[`${k}.fraction_of_roofline`] = round(achieved / roofline, 4);
    if (chainRoofline !== null) result[`${k}.fraction_of_chain_roofline`] = round(achieved / chainRoofline, 4);
    rows.push(
      [`GPT-2 small prompt tuning: B=${t.batch}, T=${t.seq}, n=${t.numVirtualTokens} (${(t.params / 1e6).toFixed(1)}M frozen params)`, ''],
      ['  step (median)', `${t.stepS.toFixed(3)} s  [${t.stepTimes.map((x) => x.toFixed(3)).join(', ')}]`],
      ['  tokens/s', t.tokensPerS.toFixed(1)],
      ['  session.run / clip+AdamW', `${t.runS.toFixed(3)} s / ${(t.updateS * 1e3).toFixed(2)} ms`],
      ['  est. GFLOP per step (MatMuls, fwd+bwd)', (t.flopsPerStep / 1e9).toFixed(1)],
      ['  achieved GFLOP/s', roofline === null || chainRoofline === null ? achieved.toFixed(1) : `${achieved.toFixed(1)} (${((100 * achieved) / roofline).toFixed(1)}% of one-MatMul roofline, ${((100 * achieved) / chainRoofline).toFixed(1)}% of chain roofline)`],
      [`  warm-up step${t.warmupTimes.length > 1 ? 's' : ''} (untimed)`, `${t.warmupTimes.map((x) => x.toFixed(3)).join(', ')} s`],
      ['  random weights / build / serialise / compile', `${t.weightsInitS.toFixed(2)} / ${t.buildS.toFixed(2)} / ${t.serialiseS.toFixed(2)} / ${t.compileS.toFixed(2)} s (ONNX ${t.onnxMb.toFixed(0)} MiB)`],
      ['  peak RSS after compile / after steps', `${t.peakRssAfterCompileMb.toFixed(0)} / ${t.peakRssMb.toFixed(0)} MiB`],
      ['  loss first → last', `${t.losses[0]!.toFixed(4)} → ${t.losses.at(-1)!.toFixed(4)}`],
    );
  }
  if (only === 'web') {
    const cases = benchWeb({ shared: sharedDir(), cores: threads ?? cores, steps, warmup });
    for (const shape of new Set(cases.map((c) => c.shape))) {
      const of = cases.filter((c) => c.shape === shape);
      const c0 = of[0]!;
      rows.push([`${shape} prompt tuning (${(c0.params / 1e6).toFixed(2)}M params): B=${c0.batch}, T=${c0.seq}, n=20, tokens/s`, '']);
      for (const c of of) {
        const k = `web.${shape}.${c.backend}.t${c.threads}`;
        result[`${k}.tokens_per_s`] = round(c.tokensPerS, 1);
        result[`${k}.step_s`] = round(c.stepS, 4);
        result[`${k}.compile_s`] = round(c.compileS, 2);
        result[`${k}.loss_first`] = round(c.lossFirst, 5);
        const node = of.find((x) => x.backend === 'node' && x.threads === c.threads)!;
        const vs = c.backend === 'web' ? ` (${(node.tokensPerS / c.tokensPerS).toFixed(1)}x slower than node)` : '';
        rows.push([`  ${c.backend === 'web' ? 'onnxruntime-web (WASM)' : 'onnxruntime-node'}, ${c.threads} thread${c.threads > 1 ? 's' : ''}`, `${c.tokensPerS.toFixed(0)} tok/s, step ${c.stepS.toFixed(3)} s, compile ${c.compileS.toFixed(1)} s${vs}`]);
      }
    }
    const page = await benchPage({ shared: sharedDir(), threads: [...new Set([1, threads ?? cores])], updates: 12 });
    rows.push(['the demo page in headless Chromium (story_gender, stories260K, B=16, n=20): s/update, median after 2', '']);
    for (const p of page) {
      result[`web.page.t${p.threads}.update_s`] = round(p.updateS, 4);
      rows.push([`  ${p.backend}`, `${p.updateS.toFixed(3)} s/update`]);
    }
  }
  if (only === 'families') {
    const shapes = [...GPT_FAMILY_SHAPES, ...DECODER_FAMILY_SHAPES].filter((f) => values.family === undefined || values.family.split(',').some((p) => f.key.includes(p)));
    if (shapes.length === 0) throw new Error(`--family ${JSON.stringify(values.family)} matches none of ${[...GPT_FAMILY_SHAPES, ...DECODER_FAMILY_SHAPES].map((f) => f.key).join(', ')}`);
    for (const shape of shapes) {
      const t = await benchFamily(shape, { steps, warmup, threads });
      const k = `families.${shape.key}`;
      const achieved = t.flopsPerStep / t.stepS / 1e9;
      result[`${k}.tokens_per_s`] = round(t.tokensPerS, 2);
      result[`${k}.step_s`] = round(t.stepS, 4);
      result[`${k}.gflop_per_step`] = round(t.flopsPerStep / 1e9, 2);
      result[`${k}.batch`] = t.batch;
      result[`${k}.params_m`] = round(t.params / 1e6, 2);
      if (chainRoofline !== null) result[`${k}.fraction_of_chain_roofline`] = round(achieved / chainRoofline, 4);
      const layers = shape.layers === undefined ? '' : `, ${shape.layers} layers`;
      rows.push([
        `${shape.hub} prompt tuning (random weights${layers}): B=${t.batch}, T=${t.seq}, n=${t.numVirtualTokens}`,
        `${t.tokensPerS.toFixed(1)} tok/s, ${achieved.toFixed(1)} GFLOP/s${chainRoofline === null ? '' : ` = ${((100 * achieved) / chainRoofline).toFixed(1)}% of chain roofline`}`,
      ]);
    }
  }
  if (only === 'scale') {
    const names = (values['scale-shapes'] ?? Object.keys(SCALE_SHAPES).join(',')).split(',');
    for (const name of names) {
      const shape = SCALE_SHAPES[name];
      if (!shape) throw new Error(`--scale-shapes: unknown shape ${JSON.stringify(name)} (known: ${Object.keys(SCALE_SHAPES).join(', ')})`);
      const r = await benchScale(shape, positiveInt('scale-steps', values['scale-steps'], 3));
      const c = r.child as Record<string, number>;
      // The chain roofline moves with the machine's state (290-381 GFLOP/s on the 2-core box): it is
      // measured again after the shape, and the step is compared with the higher of the two.
      const after = (await measureRoofline({ runs: 3, chainRuns: quick ? 5 : 10, threads })).chainGflops;
      result[`roofline_chain_gflops_after.${name}`] = round(after, 2);
      const ref = chainRoofline === null ? null : Math.max(chainRoofline, after);
      const k = `train.${name}.prompt-tuning`;
      Object.assign(result, {
        [`${k}.tokens_per_s`]: round(c['tokens_per_s']!, 2),
        [`${k}.step_s`]: round(c['step_s']!, 3),
        [`${k}.peak_rss_mb`]: round(r.peakRssMb, 0),
        [`${k}.peak_pss_mb`]: round(r.peakPssMb, 0),
        [`${k}.first_step_s`]: round(c['first_step_s']!, 2),
        [`${k}.compile_s`]: round(c['compile_s']!, 2),
        [`${k}.score_pass_s`]: round(c['score_pass_s']!, 2),
        [`${k}.gflop_per_step`]: round(c['gflop_per_step']!, 1),
        [`${k}.achieved_gflops`]: round(c['achieved_gflops']!, 2),
        [`${k}.params_m`]: round(r.params / 1e6, 1),
        [`infer.${name}.decode_tokens_per_s.b1`]: round(c['decode_b1']!, 2),
        [`infer.${name}.decode_tokens_per_s.b8`]: round(c['decode_b8']!, 2),
      });
      result[`${k}.executed_gflop_per_step`] = round(c['executed_gflop_per_step']!, 1);
      if (ref !== null) {
        result[`${k}.fraction_of_chain_roofline`] = round(c['achieved_gflops']! / ref, 4);
        // With layers recomputed the step runs more MatMuls than the count above: the work done.
        result[`${k}.executed_fraction_of_chain_roofline`] = round(c['executed_gflops']! / ref, 4);
      }
      rows.push(
        [`${name}: ${(r.params / 1e6).toFixed(0)}M random float32 weights, prompt tuning B=8, T=128, n=20`, ''],
        ['  step (median) / tokens/s', `${c['step_s']!.toFixed(2)} s / ${c['tokens_per_s']!.toFixed(1)}`],
        ['  chain roofline before / after this shape (the higher is the reference)', `${chainRoofline?.toFixed(1) ?? '-'} / ${after.toFixed(1)} GFLOP/s`],
        ['  achieved GFLOP/s (fraction of chain roofline)', `${c['achieved_gflops']!.toFixed(1)}${ref !== null ? ` (${((100 * c['achieved_gflops']!) / ref).toFixed(1)}%)` : ''}`],
        [`  MatMul GFLOP/s executed (recompute: ${String(r.child['recompute'])})`, `${c['executed_gflops']!.toFixed(1)}${ref !== null ? ` (${((100 * c['executed_gflops']!) / ref).toFixed(1)}%)` : ''}`],
        ['  first update after process start / compile', `${c['first_step_s']!.toFixed(1)} s / ${c['compile_s']!.toFixed(1)} s`],
        ['  dev scoring pass (compile + 64 examples)', `${c['score_pass_s']!.toFixed(1)} s`],
        ['  decode b1 / b8', `${c['decode_b1']!.toFixed(1)} / ${c['decode_b8']!.toFixed(1)} tok/s`],
        ['  peak PSS / RSS (whole process)', `${r.peakPssMb.toFixed(0)} / ${r.peakRssMb.toFixed(0)} MiB`],
      );
    }
  }
  result['peak_rss_mb'] = round(peakRssMb(), 1);
  result['rss_end_mb'] = round(rssMb(), 1);

  const width = Math.max(...rows.map(([a]) => a.length));
  const header = `softprompt bench — ${result['machine_cpu']}, ${cores} cores, onnxruntime-node ${result['ort_version']}, node ${process.version}`;
  process.stdout.write(`${header}\n${'-'.repeat(header.length)}\n`);
  for (const [a, b] of rows) process.stdout.write(`${a.padEnd(width)}  ${b}\n`);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e: unknown) => {
  log(`failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exit(1);
});
