/**
 * The demo page's own training speed in headless Chromium (onnxruntime-web WASM in its Web
 * Worker, 1 thread and all threads: the page is cross-origin isolated), beside the Node figures
 * of `--only web`. Seconds per update of prompt tuning on story_gender (stories260K, B=16, 20
 * virtual tokens), the median of the updates after the first two.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb } from '../scripts/build_web.ts';
import { launchChromium } from '../scripts/chromium.ts';
import { serveDemo } from '../src/web/demo_server.ts';
import { log, median } from './util.ts';

export interface PageCase {
  threads: number;
  backend: string;
  updateS: number;
  updates: number;
}

interface DemoWindow {
  demo: { load(): Promise<void>; train(o: Record<string, unknown>): Promise<{ steps: number }>; state: { backend: string; events: { kind: string; at: number }[] } };
}

export async function benchPage(opts: { shared: string; threads: readonly number[]; updates: number }): Promise<PageCase[]> {
  const tmp = mkdtempSync(join(tmpdir(), 'softprompt-bench-page-'));
  await buildWeb({ quiet: true });
  const server = await serveDemo({ shared: opts.shared });
  const ctx = await launchChromium(tmp);
  try {
    const out: PageCase[] = [];
    for (const threads of opts.threads) {
      log(`web page: ${threads} thread(s), ${opts.updates} updates`);
      const page = await ctx.newPage();
      await page.goto(server.url);
      await page.fill('#threads', String(threads));
      const r = await page.evaluate(async (steps) => {
        const d = (window as unknown as DemoWindow).demo;
        await d.load();
        await d.train({ steps });
        const at = d.state.events.filter((e) => e.kind === 'step').map((e) => e.at);
        return { backend: d.state.backend, deltas: at.slice(1).map((t, i) => (t - at[i]!) / 1000) };
      }, opts.updates);
      out.push({ threads, backend: r.backend, updateS: median(r.deltas.slice(2)), updates: opts.updates });
      await page.close();
    }
    return out;
  } finally {
    await ctx.close();
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}
