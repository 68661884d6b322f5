/**
 * The run report of a real (short) training run: the page holds the three SVG curves, the
 * metrics, the confusion matrix of the saved adapter and the nearest tokens, references no
 * network asset, and opens in headless Chromium (skipped, saying so, where it is not installed).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FormatError } from '../../src/errors.ts';
import { esc } from '../../src/report/html.ts';
import { collectRunReport, renderRunReport, writeRunReport } from '../../src/report/report.ts';
import { readRunLog } from '../../src/report/run_log.ts';
import { niceTicks } from '../../src/report/svg.ts';
import { cli } from '../helpers/cli.ts';
import { SHARED, STORIES } from '../helpers/paths.ts';

const DATA = join(SHARED, 'datasets', 'story_gender');

let tmp: string;
let run: string;
let html: string;
let reportPath: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'softprompt-report-'));
  run = join(tmp, 'run');
  const r = await cli([
    'train', '--model', STORIES, '--train', join(DATA, 'train.jsonl'), '--validation', join(DATA, 'validation.jsonl'),
    '--max-train-examples', '64', '--max-eval-examples', '24', '--template', '{text}\\nThe story is about a',
    '--verbalizer', '{"girl":" girl","boy":" boy"}', '--virtual-tokens', '8', '--init', 'text:Is the story about a girl or a boy?',
    '--lr', '0.3', '--steps', '20', '--batch-size', '8', '--eval-every', '5', '--seed', '1', '--out', run, '--json',
  ]);
  assert.equal(r.status, 0, r.stderr);
  reportPath = await writeRunReport(run, { model: STORIES });
  html = readFileSync(reportPath, 'utf8');
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A chromium binary on PATH, or undefined. */
function findChromium(): string | undefined {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) {
    for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

describe('run report', () => {
  test('report.html holds the loss, dev-metric and learning-rate curves as inline SVG', () => {
    assert.equal(reportPath, join(run, 'report.html'));
    assert.match(html, /^<!DOCTYPE html>/);
    for (const id of ['loss', 'metric', 'lr']) {
      const svg = new RegExp(`<svg id="chart-${id}"[^>]*>([\\s\\S]*?)</svg>`).exec(html);
      assert.ok(svg, `chart-${id} is there`);
      assert.match(svg[1]!, /<polyline /, `chart-${id} has a curve`);
    }
    const loss = /<svg id="chart-loss"[\s\S]*?<\/svg>/.exec(html)![0];
    // 20 updates: the raw curve has 20 points, and a smoothed line is drawn beside it.
    const polylines = [...loss.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]!.split(' ').length);
    assert.deepEqual(polylines, [20, 20]);
    assert.match(loss, /mean of 2/);
    const metric = /<svg id="chart-metric"[\s\S]*?<\/svg>/.exec(html)![0];
    assert.equal(metric.match(/<circle /g)?.length, 8, '4 evaluations × accuracy and macro-F1');
  });

  test('the metrics, the confusion matrix of the saved adapter and the nearest tokens are on the page', () => {
    const log = readRunLog(run);
    assert.equal(log.evals.length, 4);
    const meta = JSON.parse(readFileSync(join(run, 'softprompt.json'), 'utf8')) as { metrics: { accuracy: number; macro_f1: number; n: number } };
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
    assert.ok(html.includes(pct(meta.metrics.accuracy)), 'best accuracy');
    assert.ok(html.includes(pct(meta.metrics.macro_f1)), 'its macro-F1');
    for (const e of log.evals) assert.ok(html.includes(`<td class="num">${e.step}</td>`), `evaluation at update ${e.step}`);
    const confusion = /<table class="confusion">([\s\S]*?)<\/table>/.exec(html);
    assert.ok(confusion, 'confusion matrix');
    assert.match(confusion[1]!, /gold \\ predicted<\/th><th class="num">girl<\/th><th class="num">boy<\/th>/);
    const cells = [...confusion[1]!.matchAll(/<span class="cell"[^>]*>(\d+)<\/span>/g)].map((m) => Number(m[1]));
    assert.equal(cells.length, 4);
    assert.equal(cells.reduce((a, b) => a + b, 0), 24, 'as many examples as the run evaluated');
    assert.ok(html.includes('the same accuracy as the logged evaluation'), 'the recomputed accuracy agrees with the log');
    assert.match(html, /<table class="inspect">/);
    assert.ok(html.includes(esc(JSON.stringify('<s>'))), 'nearest tokens, escaped');
    assert.ok(html.includes('max_train_examples'), 'the training arguments');
    assert.ok(html.includes('PROMPT_TUNING'), 'adapter_config.json');
  });

  test('self-contained: no network references, no scripts', () => {
    assert.doesNotMatch(html, /https?:\/\//);
    assert.doesNotMatch(html, /<script|<link|@import|url\(/i);
  });

  test('opens in headless Chromium with its SVG charts in the DOM', (t) => {
    const chromium = findChromium();
    if (!chromium) {
      t.skip('chromium not installed: apt-get install chromium');
      return;
    }
    // Without the background-networking flags Chromium can hang on a closed network (CI).
    const flags = ['--headless', '--disable-gpu', '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(tmp, 'chromium-profile')}`];
    const r = spawnSync(chromium, [...flags, '--dump-dom', `file://${reportPath}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const id of ['loss', 'metric', 'lr']) assert.match(r.stdout, new RegExp(`<svg id="chart-${id}"`));
    assert.equal(r.stdout.match(/<svg /g)?.length, 3);
    assert.match(r.stdout, /<table class="confusion">/);
  });

  test('a run folder with only a metrics log (torn last line) still gets curves; a folder that is no run is refused', async () => {
    const partial = join(tmp, 'partial');
    mkdirSync(partial);
    const lines = readFileSync(join(run, 'metrics.jsonl'), 'utf8').split('\n').slice(0, 8).join('\n');
    writeFileSync(join(partial, 'metrics.jsonl'), `${lines}\n{"event":"step","st`);
    const notes: string[] = [];
    const d = await collectRunReport(partial, { onWarning: (m) => notes.push(m) });
    assert.equal(d.log.skippedLines, 1);
    assert.equal(d.inspection, null);
    assert.ok(notes.some((n) => n.includes('no adapter saved')));
    const page = renderRunReport(d);
    assert.match(page, /<svg id="chart-loss"[\s\S]*?<polyline /);

    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    await assert.rejects(collectRunReport(empty), (e: unknown) => e instanceof FormatError && /not a softprompt run folder/.test(e.message));
    const r = await cli(['report', empty]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /not a softprompt run folder/);
    assert.equal(existsSync(join(empty, 'report.html')), false);
  });

  test('text is escaped and ticks are round numbers', () => {
    assert.equal(esc(`<b a="1">'&`), '&lt;b a=&quot;1&quot;&gt;&#39;&amp;');
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(0, 300, 6), [0, 50, 100, 150, 200, 250, 300]);
  });
});
