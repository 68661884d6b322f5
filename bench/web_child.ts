/**
 * One case of `npm run bench -- --only web`, in its own process (onnxruntime-web fixes its WASM
 * thread count once per process): a prompt-tuning training step on onnxruntime-node or on
 * onnxruntime-web's WASM backend, at the stories260K shape (its own weights) or GPT-2 small
 * (random weights). Prints one JSON line.
 *   node --import tsx bench/web_child.ts <node|web> <threads> <stories260K|gpt2-small> <shared> <steps> <warmup>
 */
import { join } from 'node:path';
import { readHfConfig } from '../src/formats/model_dir.ts';
import { loadModelDir } from '../src/formats/model_dir.ts';
import { setBackend } from '../src/runtime/session.ts';
import { createWebBackend } from '../src/runtime/web_backend.ts';
import { benchPromptTuning } from './train_prompt_tuning.ts';
import type { TrainBenchOptions } from './train_prompt_tuning.ts';

const [backend, threadsArg, shape, shared, stepsArg, warmupArg] = process.argv.slice(2);
const threads = Number(threadsArg);
if (backend === 'web') setBackend(await createWebBackend({ numThreads: threads, ...(process.env['ORT_WASM_PATHS'] ? { wasmPaths: process.env['ORT_WASM_PATHS'] } : {}) }));
let opts: TrainBenchOptions;
if (shape === 'stories260K') {
  const m = loadModelDir(join(shared!, 'models', 'stories260K'));
  const params = m.weights.names().reduce((s, n) => s + m.weights.info(n).shape.reduce((a, b) => a * b, 1), 0);
  opts = { config: m.config, batch: 16, seq: 96, randomWeights: () => ({ store: m.weights, count: () => params }) };
} else {
  opts = { config: readHfConfig(join(shared!, 'tokenizers', 'gpt2', 'config.json')), batch: 8, seq: 128 };
}
const r = await benchPromptTuning({ ...opts, steps: Number(stepsArg), warmup: Number(warmupArg), ...(backend === 'node' ? { threads } : {}) });
console.log(JSON.stringify({ tokensPerS: r.tokensPerS, stepS: r.stepS, compileS: r.compileS, batch: r.batch, seq: r.seq, params: r.params, lossFirst: r.losses[0], peakRssMb: r.peakRssMb }));
