/**
 * `npm run bench -- --only web`: training tokens/s of one prompt-tuning step on onnxruntime-web's
 * WASM backend against onnxruntime-node (1 thread and all threads), at the stories260K shape and
 * GPT-2 small, in Node; each case in its own process (web_child.ts). The same graph and feeds on
 * both, so the first losses agree. onnxruntime-web 1.30 has no WASM threads in Node (a thread
 * count above 1 fails to start its workers: "fetch failed"), so WASM with all threads is measured
 * where it works, in the demo page in Chromium (web_page.ts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { log, REPO_ROOT } from './util.ts';

export interface WebCase {
  shape: 'stories260K' | 'gpt2-small';
  backend: 'node' | 'web';
  threads: number;
  tokensPerS: number;
  stepS: number;
  compileS: number;
  batch: number;
  seq: number;
  params: number;
  lossFirst: number;
  peakRssMb: number;
}

export function benchWeb(opts: { shared: string; cores: number; steps: number; warmup: number }): WebCase[] {
  const out: WebCase[] = [];
  for (const shape of ['stories260K', 'gpt2-small'] as const) {
    for (const threads of [...new Set([1, opts.cores])]) {
      for (const backend of threads === 1 ? (['node', 'web'] as const) : (['node'] as const)) {
        log(`web: ${shape} on ${backend}, ${threads} thread(s)`);
        // GPT-2 small on WASM takes tens of seconds a step: fewer timed steps there.
        const steps = shape === 'gpt2-small' && backend === 'web' ? Math.min(opts.steps, 2) : opts.steps;
        const warmup = shape === 'gpt2-small' && backend === 'web' ? Math.min(opts.warmup, 1) : opts.warmup;
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'web_child.ts'), backend, String(threads), shape, opts.shared, String(steps), String(warmup)], {
          encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 * 2 ** 20,
        });
        if (r.status !== 0) throw new Error(`bench/web_child.ts ${backend} ${threads} ${shape} failed (exit ${r.status})`);
        out.push({ shape, backend, threads, ...(JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Omit<WebCase, 'shape' | 'backend' | 'threads'>) });
      }
    }
  }
  return out;
}
