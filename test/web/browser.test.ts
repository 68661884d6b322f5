/**
 * The browser demo in headless Chromium (Debian's chromium, driven by playwright-core over the
 * DevTools protocol; skipped, saying so, where it is not installed; .ci/run installs it).
 * The page trains 20 prompt-tuning updates on story_gender with stories260K in its Web Worker on
 * onnxruntime-web (WASM, 1 thread); the Node CLI runs the same flags on onnxruntime-node.
 * Every logged loss agrees within 1e-3 relative; an abort stops the worker's training; the
 * downloaded .zip, passed as is to `softprompt eval --adapter`, gives the accuracy the page showed;
 * the page's greedy generation gives the CLI's ids; and an adapter the CLI trained, uploaded as a
 * .zip, gives the page the CLI's accuracy and ids.
 * SOFTPROMPT_SCREENSHOT=docs/browser.png also saves the page after training (the README's picture).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { unzipSync } from 'fflate';
import { ADAPTER_ZIP_FILES, adapterZip } from '../../src/adapter/archive.ts';
import type { BrowserContext, Page } from 'playwright-core';
import { serveDemo } from '../../src/web/demo_server.ts';
import type { DemoServer } from '../../src/web/demo_server.ts';
import { buildWeb } from '../../scripts/build_web.ts';
import { CHROMIUM, launchChromium } from '../../scripts/chromium.ts';
import { cli, lastJson } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const DATA = join(SHARED, 'datasets', 'story_gender');
const TEMPLATE = '{text}\nThe story is about a';
const VERBALIZER = '{"girl": " girl", "boy": " boy"}';
const STEPS = 20;
const PROMPT = 'Once upon a time';

interface PageState { losses: number[]; accuracy: number | null; zeroShot: number | null; events: { kind: string; step?: number }[] }
type Demo = { state: PageState; upload(zip: Uint8Array): Promise<{ peftType: string; numVirtualTokens: number; accuracy: number }>; load(): Promise<void>; train(o?: Record<string, unknown>): Promise<{ steps: number; accuracy: number; n: number }>; abort(): void; generate(p: string, n: number): Promise<{ text: string; ids: number[] }>; zip(): Promise<Uint8Array> };
declare const window: { demo: Demo };

describe('browser demo in headless Chromium', { timeout: 240_000, skip: CHROMIUM ? false : 'chromium not installed: apt-get install chromium (.ci/run does)' }, () => {
  let tmp: string;
  let server: DemoServer;
  let ctx: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];
  let cliTrain: Promise<Record<string, unknown>>;
  let cliOther: Promise<Record<string, unknown>>;

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'softprompt-web-'));
    // The Node run starts at once and overlaps the browser's.
    cliTrain = cli(['train', '--model', STORIES, '--train', join(DATA, 'train.jsonl'), '--template', TEMPLATE, '--verbalizer', VERBALIZER,
      '--lr', '0.3', '--steps', String(STEPS), '--batch-size', '16', '--seed', '0', '--virtual-tokens', '20', '--out', join(tmp, 'node'), '--json']).then(lastJson);
    // A different adapter (8 virtual tokens, another seed) for the Node → page direction.
    cliOther = cli(['train', '--model', STORIES, '--train', join(DATA, 'train.jsonl'), '--template', TEMPLATE, '--verbalizer', VERBALIZER,
      '--lr', '0.3', '--steps', '6', '--batch-size', '16', '--seed', '7', '--virtual-tokens', '8', '--restarts', '1', '--out', join(tmp, 'node8'), '--json']).then(lastJson);
    await buildWeb({ quiet: true });
    server = await serveDemo({ shared: SHARED });
    ctx = await launchChromium(tmp);
    page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
  });
  after(async () => {
    await ctx?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('the page is cross-origin isolated and loads the model on onnxruntime-web (wasm, 1 thread)', async () => {
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    await page.evaluate(() => window.demo.load());
    const s = await page.evaluate(() => ({ zeroShot: window.demo.state.zeroShot, backend: (window.demo.state as unknown as { backend: string }).backend }));
    assert.equal(s.backend, 'onnxruntime-web (wasm, 1 thread)');
    assert.ok(s.zeroShot !== null && s.zeroShot > 0.3 && s.zeroShot < 0.7, `zero-shot accuracy ${s.zeroShot}`);
  });

  let pageAccuracy = 0;
  test(`${STEPS} updates in the worker: every loss equals the Node CLI's within 1e-3 relative`, async () => {
    const r = await page.evaluate((steps) => window.demo.train({ steps }), STEPS);
    assert.equal(r.steps, STEPS);
    pageAccuracy = r.accuracy;
    const losses = await page.evaluate(() => window.demo.state.losses);
    await cliTrain;
    const node = readFileSync(join(tmp, 'node', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; loss?: number })
      .filter((e) => e.event === 'step').map((e) => e.loss!);
    assert.equal(losses.length, STEPS);
    assert.equal(node.length, STEPS);
    losses.forEach((l, i) => assert.ok(Math.abs(l - node[i]!) <= 1e-3 * Math.abs(node[i]!), `update ${i + 1}: page ${l}, node ${node[i]}`));
    assert.ok(losses.at(-1)! < losses[0]!, 'the loss falls');
  });

  test("the downloaded adapter (.zip) gives the CLI's eval the page's accuracy", async () => {
    const shot = process.env['SOFTPROMPT_SCREENSHOT'];
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    const zip = new Uint8Array(await page.evaluate(async () => Array.from(await window.demo.zip())));
    assert.deepEqual(Object.keys(unzipSync(zip)).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'softprompt.json']);
    writeFileSync(join(tmp, 'story-gender-adapter.zip'), zip);
    const ev = lastJson(await cli(['eval', '--model', STORIES, '--adapter', join(tmp, 'story-gender-adapter.zip'), '--data', join(DATA, 'validation.jsonl'), '--json']));
    assert.equal(ev['accuracy'], pageAccuracy);
  });

  test("greedy generation in the page gives the CLI's ids", async () => {
    const g = await page.evaluate((p) => window.demo.generate(p, 12), PROMPT);
    const out = await cli(['generate', '--model', STORIES, '--adapter', join(tmp, 'story-gender-adapter.zip'), '--prompt', PROMPT, '--max-new-tokens', '12', '--jsonl']);
    assert.equal(out.status, 0, out.stderr);
    const row = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { ids: number[]; text: string };
    assert.deepEqual(g.ids, row.ids);
    assert.equal(g.text, row.text);
  });

  test("an adapter trained by the Node CLI, uploaded as a .zip, gives the page the CLI's accuracy and greedy ids", async () => {
    await cliOther;
    const dir = join(tmp, 'node8');
    const zip = adapterZip(Object.fromEntries(ADAPTER_ZIP_FILES.map((f) => [f, readFileSync(join(dir, f))])));
    const r = await page.evaluate(async (bytes) => {
      const info = await window.demo.upload(new Uint8Array(bytes));
      return { info, gen: await window.demo.generate('Once upon a time', 12) };
    }, Array.from(zip));
    assert.equal(r.info.numVirtualTokens, 8);
    assert.equal(r.info.peftType, 'PROMPT_TUNING');
    const ev = lastJson(await cli(['eval', '--model', STORIES, '--adapter', dir, '--data', join(DATA, 'validation.jsonl'), '--json']));
    assert.equal(r.info.accuracy, ev['accuracy']);
    const out = await cli(['generate', '--model', STORIES, '--adapter', dir, '--prompt', PROMPT, '--max-new-tokens', '12', '--jsonl']);
    assert.deepEqual(r.gen.ids, (JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { ids: number[] }).ids);
    // A zip that is not an adapter is refused in one line, and the page keeps working.
    const bad = await page.evaluate(() => window.demo.upload(new Uint8Array([80, 75, 5, 6, 0, 0])).then(() => 'loaded', (e: Error) => e.message));
    assert.match(bad, /adapter\.zip/);
  });

  test('abort stops the training in the worker at the next update', async () => {
    const r = await page.evaluate(async () => {
      const d = window.demo;
      const run = d.train({ steps: 500 }).then(() => 'finished', (e: Error) => `${e.name}: ${e.message}`);
      // Abort once the second update is logged.
      let outcome: string | null = null;
      void run.then((o) => (outcome = o));
      // Never wait forever: a run that fails before its second update ends the wait too.
      await new Promise<void>((ok) => { const t = setInterval(() => { if (d.state.losses.length >= 2 || outcome !== null) { clearInterval(t); d.abort(); ok(); } }, 20); });
      outcome = await run;
      const seen = d.state.losses.length;
      await new Promise((ok) => setTimeout(ok, 1500));
      return { outcome, seen, later: d.state.losses.length, last: d.state.events.at(-1) as { kind: string; reason?: string } };
    });
    assert.match(r.outcome, /^AbortError: training aborted after update \d+$/);
    assert.ok(r.seen < 6, `${r.seen} updates ran before the abort took effect`);
    assert.equal(r.later, r.seen, 'no update after the abort');
    // The trainer ends an aborted run as the CLI's Ctrl-C does: a stop event saying so (the last adapter is written).
    assert.equal(r.last.kind, 'stop');
    assert.match(r.last.reason ?? '', /^interrupted after update \d+ of 500$/);
    assert.deepEqual(pageErrors, []);
  });
});
