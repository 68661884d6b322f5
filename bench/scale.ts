/**
 * `--only scale`: random-weight Llama folders at real shapes (bench/llama_folder.ts), each run in
 * its own process (bench/scale_child.ts) while this one samples the child's peak PSS and RSS
 * from /proc/PID/smaps_rollup (PSS counts shared file pages once; RSS counts them per mapping).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLlamaFolder } from './llama_folder.ts';
import type { LlamaShape } from './llama_folder.ts';
import { log, now, REPO_ROOT } from './util.ts';

export interface ScaleResult {
  shape: string;
  params: number;
  writeS: number;
  peakPssMb: number;
  peakRssMb: number;
  child: Record<string, number | number[] | string>;
}

/** Rss and Pss of a process in MiB, or null once it is gone. */
function smapsRollup(pid: number): { rss: number; pss: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rss: kb('Rss') / 1024, pss: kb('Pss') / 1024 };
  } catch {
    return null;
  }
}

export async function benchScale(shape: LlamaShape, steps: number): Promise<ScaleResult> {
  const root = mkdtempSync(join(process.env['SOFTPROMPT_WEIGHTS_DIR'] ?? tmpdir(), `softprompt-scale-${shape.name}-`));
  try {
    let t0 = now();
    const params = writeLlamaFolder(root, shape);
    const writeS = now() - t0;
    log(`scale ${shape.name}: ${(params / 1e6).toFixed(0)}M random float32 weights written in ${writeS.toFixed(1)} s`);
    t0 = now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'scale_child.ts'), root, String(steps)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, SOFTPROMPT_WEIGHTS_DIR: root },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    let peakPss = 0;
    let peakRss = 0;
    // Reading smaps_rollup walks the child's page tables: 30-70 ms at 4 GB, kernel time taken
    // from the child's cores. Sampling waits 20x the last read (at least 250 ms), so it costs
    // the measured step under 5%; the exact peak RSS (VmHWM) comes from the child itself.
    let timer: NodeJS.Timeout | undefined;
    const sample = (): void => {
      const t = now();
      const m = child.pid !== undefined ? smapsRollup(child.pid) : null;
      if (m) {
        peakPss = Math.max(peakPss, m.pss);
        peakRss = Math.max(peakRss, m.rss);
      }
      timer = setTimeout(sample, Math.max(250, 20 * (now() - t) * 1e3));
    };
    sample();
    const code = await new Promise<number | null>((done) => child.on('close', done));
    clearTimeout(timer);
    if (code !== 0) throw new Error(`scale ${shape.name}: child exited with ${code}`);
    const child_ = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number | number[] | string>;
    if (typeof child_['self_peak_rss_mb'] === 'number') peakRss = Math.max(peakRss, child_['self_peak_rss_mb']);
    log(`scale ${shape.name}: peak PSS ${peakPss.toFixed(0)} MiB, peak RSS ${peakRss.toFixed(0)} MiB, ${(now() - t0).toFixed(0)} s`);
    return { shape: shape.name, params, writeS, peakPssMb: peakPss, peakRssMb: peakRss, child: child_ };
  } finally {
    if (existsSync(root)) rmSync(root, { recursive: true, force: true });
  }
}
