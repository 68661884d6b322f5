/**
 * The WASM heap probe behind docs/browser.md's memory figures: does a GPT-2-shaped model of L
 * layers (random weights, d=768) compile and train one prompt-tuning step (B=4, T=64) on
 * onnxruntime-web WASM (Node, 1 thread)? One JSON line. Heavy: one run at a time, niced.
 *   node --import tsx bench/web_heap.ts 30
 */
import { join } from 'node:path';
import { readHfConfig } from '../src/formats/model_dir.ts';
import { setBackend } from '../src/runtime/session.ts';
import { createWebBackend } from '../src/runtime/web_backend.ts';
import { benchPromptTuning } from './train_prompt_tuning.ts';
import { REPO_ROOT } from './util.ts';
const layers = Number(process.argv[2]);
setBackend(await createWebBackend({ numThreads: 1 }));
const base = readHfConfig(join(process.env['SOFTPROMPT_SHARED'] ?? join(REPO_ROOT, '..', 'shared'), 'tokenizers', 'gpt2', 'config.json'));
const config = { ...base, numLayers: layers };
const t0 = Date.now();
try {
  const r = await benchPromptTuning({ config, batch: 4, seq: 64, steps: 1, warmup: 0 });
  console.log(JSON.stringify({ layers, params: r.params, ok: true, stepS: r.stepS, compileS: r.compileS, onnxMb: r.onnxMb, peakRssMb: r.peakRssMb, wallS: (Date.now() - t0) / 1000, loss: r.losses[0] }));
} catch (e) {
  console.log(JSON.stringify({ layers, ok: false, error: String((e as Error).message).slice(0, 300), wallS: (Date.now() - t0) / 1000 }));
}
