/**
 * The run report: RUN_DIR/report.html, one self-contained page (inline CSS and hand-drawn inline
 * SVG, no scripts, no network assets) with the training loss, the dev metric and the learning
 * rate over the run, the configuration, the final and best metrics, the confusion matrix of the
 * saved adapter on the validation split, and what its virtual tokens are nearest to.
 *
 * The curves come from metrics.jsonl. The confusion matrix is recomputed by evaluating the saved
 * adapter on the validation file softprompt.json names, on as many examples as the run's
 * evaluations used (their `n`), so it describes exactly the adapter in the folder.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { adapterPromptSpec } from '../adapter/prompt.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { ADAPTER_CONFIG_FILE, SOFTPROMPT_FILE } from '../adapter/types.ts';
import { encodeSplit } from '../data/split.ts';
import { createScorer, scoreSplit, contextOf } from '../eval/score.ts';
import { loadAdapterDir } from '../adapter/load.ts';
import { loadModel } from '../pretrained/model.ts';
import { readSplit } from '../data/readers.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { FormatError, SoftpromptError } from '../errors.ts';
import type { ClassificationReport } from '../eval/metrics.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { inspectAdapter } from '../inspect/inspect.ts';
import type { AdapterInspection } from '../inspect/inspect.ts';
import { adapterModelHint } from '../inspect/resolve.ts';
import { esc, jsonText, kvTable, num, page, pct, table } from './html.ts';
import { readRunLog } from './run_log.ts';
import type { RunLog } from './run_log.ts';
import { lineChart, movingAverage } from './svg.ts';
import type { Marker } from './svg.ts';

export const REPORT_FILE = 'report.html';

export interface RunReportOptions {
  /** The base model: already loaded (train passes its own) or a folder. Default: the adapter's, then the usual resolution. */
  model?: LoadedModel | string;
  /** Evaluate the saved adapter on the validation split for the confusion matrix. Default true. */
  evaluate?: boolean;
  /** Most validation examples to evaluate. Default: as many as the run's evaluations used. */
  maxExamples?: number;
  /** Nearest tokens listed per virtual token. Default 3. */
  top?: number;
  /** Examples per forward pass when evaluating. Default 16. */
  batchSize?: number;
  /** Where the page goes. Default RUN_DIR/report.html. */
  out?: string;
  /** Problems that do not stop the report (they are also shown on the page). Default: none. */
  onWarning?: (message: string) => void;
}

export interface ConfusionSection {
  readonly report: ClassificationReport;
  readonly data: string;
  /** What the recomputation says against the logged evaluation of these params. */
  readonly check: string | null;
}

/** Everything the page shows, gathered (see {@link collectRunReport}). */
export interface RunReportData {
  readonly dir: string;
  readonly log: RunLog;
  /** The adapter the report describes: RUN_DIR itself, else RUN_DIR/last; null when none is saved yet. */
  readonly adapterDir: string | null;
  /** softprompt.json as stored, without the encoder's base64 tensors. */
  readonly meta: Readonly<Record<string, unknown>> | null;
  readonly peftConfig: Readonly<Record<string, unknown>> | null;
  readonly modelDir: string | null;
  readonly inspection: AdapterInspection | null;
  readonly confusion: ConfusionSection | null;
  /** Why a section is missing or what to be careful about. */
  readonly notes: readonly string[];
  readonly generated: string;
}

function readJsonLenient(path: string): Record<string, unknown> | null {
  if (!existsSync(path)) return null;
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);
const numOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

async function modelFor(adapterDir: string | null, opt: RunReportOptions['model']): Promise<LoadedModel> {
  if (opt !== undefined && typeof opt !== 'string') return opt;
  if (typeof opt === 'string') return loadModel(opt);
  const hint = adapterDir ? adapterModelHint(adapterDir) : null;
  return loadModel(hint?.path);
}

/** The validation split and how many of its examples the run evaluated. */
function validationOf(meta: Readonly<Record<string, unknown>> | null, log: RunLog, opts: RunReportOptions): { path: string; limit: number | undefined } | string {
  const training = obj(meta?.['training']);
  const path = training?.['validation'];
  if (typeof path !== 'string' || path === '') return 'the run had no validation split (train --validation), so there is no confusion matrix';
  if (!existsSync(path)) return `the validation file ${path} named in softprompt.json is not here, so there is no confusion matrix`;
  const limit = opts.maxExamples ?? numOf(training?.['max_eval_examples']) ?? numOf(obj(meta?.['metrics'])?.['n']) ?? log.evals.at(-1)?.n ?? undefined;
  return { path, limit };
}

async function confusionFor(adapter: LoadedAdapter, model: LoadedModel, meta: Readonly<Record<string, unknown>> | null, log: RunLog, opts: RunReportOptions): Promise<ConfusionSection | string> {
  const v = validationOf(meta, log, opts);
  if (typeof v === 'string') return v;
  const m = adapter.meta;
  const prompt = adapterPromptSpec(adapter);
  if (!m || !prompt) return 'softprompt.json has no template or verbalizer, so the adapter cannot be evaluated for a confusion matrix';
  const records = await readSplit(v.path, v.limit);
  const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, contextOf(model, adapter).maxLength);
  const labels = prompt.labels ?? prompt.verbalizer.labels;
  const scorer = await createScorer(model, adapter, { batchSize: opts.batchSize ?? 16, maxLabels: labels.length, lengthNormalize: m.training?.['length_normalize'] === true });
  let report: ClassificationReport;
  try {
    report = await scoreSplit(scorer, split.examples, labels);
  } finally {
    await scorer.release();
  }
  // The folder's adapter was saved with the metrics of its evaluation: the recomputation should agree.
  const logged = obj(m.metrics as unknown);
  let check: string | null = null;
  if (logged && numOf(logged['n']) === report.n && numOf(logged['accuracy']) !== undefined) {
    const at = numOf(logged['step']) !== undefined ? ` at update ${logged['step']}` : '';
    check =
      logged['accuracy'] === report.accuracy
        ? `the same accuracy as the logged evaluation of these params${at}`
        : `differs from the logged evaluation of these params${at} (${pct(logged['accuracy'] as number)}); the run may have scored differently (e.g. --length-normalize)`;
  }
  return { report, data: v.path, check };
}

/** Gathers what the page shows. Fails only when `runDir` is not a run folder at all. */
export async function collectRunReport(runDir: string, opts: RunReportOptions = {}): Promise<RunReportData> {
  const dir = resolve(runDir);
  if (!existsSync(dir)) throw new FormatError(dir, 'run folder does not exist');
  if (!statSync(dir).isDirectory()) throw new FormatError(dir, 'expected a run folder (the --out of softprompt train), but this is a file');
  const log = readRunLog(dir);
  const adapterDir = existsSync(join(dir, ADAPTER_CONFIG_FILE)) ? dir : existsSync(join(dir, 'last', ADAPTER_CONFIG_FILE)) ? join(dir, 'last') : null;
  if (!log.exists && adapterDir === null) {
    throw new FormatError(dir, `not a softprompt run folder: it has neither metrics.jsonl nor an adapter (${ADAPTER_CONFIG_FILE}); pass the --out folder of softprompt train`);
  }
  const notes: string[] = [];
  const warn = (m: string): void => {
    notes.push(m);
    opts.onWarning?.(m);
  };
  if (log.skippedLines > 0) warn(`${log.path}: ${log.skippedLines} line(s) are not JSON events (a line torn by a kill?) and were skipped`);
  if (!log.exists) warn(`${log.path} is missing: no curves`);

  const rawMeta = adapterDir ? readJsonLenient(join(adapterDir, SOFTPROMPT_FILE)) : null;
  const meta = rawMeta ? Object.fromEntries(Object.entries(rawMeta).filter(([k]) => k !== 'encoder')) : null;
  const peftConfig = adapterDir ? readJsonLenient(join(adapterDir, ADAPTER_CONFIG_FILE)) : null;
  if (adapterDir === null) warn('no adapter saved in the run folder yet: no inspection and no confusion matrix');
  else if (adapterDir !== dir) warn(`no adapter at the top of the run folder; describing ${adapterDir}`);

  let modelDir: string | null = null;
  let inspection: AdapterInspection | null = null;
  let confusion: ConfusionSection | null = null;
  if (adapterDir !== null) {
    try {
      const model = await modelFor(adapterDir, opts.model);
      modelDir = model.dir;
      const adapter = loadAdapterDir(adapterDir, model, warn);
      inspection = inspectAdapter(adapter, model, { top: opts.top ?? 3 });
      if (opts.evaluate !== false) {
        const c = await confusionFor(adapter, model, meta, log, opts);
        if (typeof c === 'string') warn(c);
        else confusion = c;
      } else {
        notes.push('the adapter was not evaluated (evaluation turned off), so there is no confusion matrix');
      }
    } catch (e) {
      if (!(e instanceof SoftpromptError)) throw e;
      warn(`the adapter could not be inspected or evaluated: ${e.message}`);
    }
  }
  return { dir, log, adapterDir, meta, peftConfig, modelDir, inspection, confusion, notes, generated: new Date().toISOString() };
}

// ---------------------------------------------------------------------------------------------
// Rendering

const COLORS = { loss: '#0969da', smooth: '#cf222e', accuracy: '#1a7f37', f1: '#8250df', lr: '#bc4c00', resume: '#6e7781', error: '#cf222e', best: '#1a7f37' };

function card(label: string, value: string, detail = ''): string {
  return `<div class="card"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div>${detail ? `<div class="detail">${esc(detail)}</div>` : ''}</div>`;
}

function summaryCards(d: RunReportData): string {
  const { log } = d;
  const training = obj(d.meta?.['training']);
  const metric = typeof training?.['metric'] === 'string' ? training['metric'] : 'accuracy';
  const cards: string[] = [];
  const best = log.evals.filter((e) => e.best).at(-1);
  const bestMetrics = obj(d.meta?.['metrics']);
  if (best) {
    cards.push(card(`best ${metric === 'macro_f1' ? 'macro-F1' : 'accuracy'}`, pct(metric === 'macro_f1' ? best.macroF1 : best.accuracy), `update ${best.step}${best.epoch !== null ? `, epoch ${best.epoch}` : ''}, ${best.n ?? '?'} examples`));
    cards.push(card(metric === 'macro_f1' ? 'accuracy there' : 'macro-F1 there', pct(metric === 'macro_f1' ? best.accuracy : best.macroF1)));
  } else if (bestMetrics && numOf(bestMetrics['accuracy']) !== undefined) {
    cards.push(card('saved accuracy', pct(bestMetrics['accuracy'] as number), `macro-F1 ${pct(numOf(bestMetrics['macro_f1']))}`));
  }
  const last = log.evals.at(-1);
  if (last && last !== best) cards.push(card('last evaluation', pct(last.accuracy), `update ${last.step}: macro-F1 ${pct(last.macroF1)}`));
  if (d.confusion) cards.push(card('saved adapter, recomputed', pct(d.confusion.report.accuracy), `macro-F1 ${pct(d.confusion.report.macroF1)} on ${d.confusion.report.n}`));
  const lastStep = log.steps.at(-1);
  const total = numOf(log.starts.at(-1)?.['total_steps'] ?? log.resumes.at(-1)?.['total_steps']);
  if (lastStep) cards.push(card('updates', `${lastStep.step}${total !== undefined ? ` / ${total}` : ''}`, `final loss ${num(lastStep.loss)}`));
  if (log.stop) {
    const elapsed = numOf(log.stop['elapsed_s']);
    cards.push(card('stopped', elapsed !== undefined ? `${elapsed.toFixed(1)} s` : 'yes', typeof log.stop['reason'] === 'string' ? log.stop['reason'] : ''));
  } else if (log.exists) {
    cards.push(card('stopped', 'not yet', 'no stop event: still running, or killed (resume with --resume)'));
  }
  return `<div class="cards">${cards.join('\n')}</div>`;
}

function charts(d: RunReportData): string {
  const { log } = d;
  const lossPts = log.steps.map((s) => [s.step, s.loss] as const);
  // One x axis for the three charts: update 0 to the planned (or last) update.
  const lastStep = Math.max(log.steps.at(-1)?.step ?? 0, log.evals.at(-1)?.step ?? 0, numOf(log.starts.at(-1)?.['total_steps'] ?? log.resumes.at(-1)?.['total_steps']) ?? 0);
  const xRange = [0, Math.max(1, lastStep)] as const;
  const window = Math.max(1, Math.min(50, Math.round(lossPts.length / 10)));
  const markers: Marker[] = [
    ...log.resumes.map((e) => ({ x: e.step, label: 'resumed', color: COLORS.resume })),
    ...log.errors.map((e) => ({ x: e.step, label: 'stopped: error', color: COLORS.error })),
  ];
  const loss = lineChart({
    id: 'loss',
    title: 'training loss per update',
    xLabel: 'update',
    xRange,
    series: [
      { name: 'loss', points: lossPts, color: COLORS.loss, width: 1, opacity: 0.45 },
      { name: `mean of ${window}`, points: movingAverage(lossPts, window), color: COLORS.smooth, width: 2 },
    ],
    markers,
  });
  const bestEval = log.evals.filter((e) => e.best).at(-1);
  const metric = lineChart({
    id: 'metric',
    title: 'dev metric per evaluation',
    xLabel: 'update',
    xRange,
    series: [
      { name: 'accuracy', points: log.evals.filter((e) => e.accuracy !== null).map((e) => [e.step, e.accuracy!] as const), color: COLORS.accuracy, width: 2, markers: true },
      { name: 'macro-F1', points: log.evals.filter((e) => e.macroF1 !== null).map((e) => [e.step, e.macroF1!] as const), color: COLORS.f1, width: 2, markers: true },
    ],
    markers: bestEval ? [{ x: bestEval.step, label: 'best', color: COLORS.best }] : [],
    yRange: [0, 1],
    yFormat: (y) => `${Math.round(y * 100)}%`,
  });
  const lr = lineChart({
    id: 'lr',
    title: 'learning rate per update',
    xLabel: 'update',
    xRange,
    series: [{ name: 'learning rate', points: log.steps.filter((s) => s.lr !== null).map((s) => [s.step, s.lr!] as const), color: COLORS.lr, width: 2 }],
  });
  const fig = (caption: string, svg: string): string => `<figure><figcaption>${esc(caption)}</figcaption>${svg}</figure>`;
  const noEval = log.evals.length === 0 ? '<p class="note">No evaluations were logged (train without --validation): the dev-metric chart is empty.</p>' : '';
  return `<div class="charts">\n${fig('Training loss', loss)}\n${fig('Dev metric', metric)}\n${fig('Learning rate', lr)}\n</div>${noEval}`;
}

function confusionHtml(c: ConfusionSection): string {
  const { report } = c;
  const labels = report.confusion.labels;
  const max = Math.max(1, ...report.confusion.matrix.flat());
  const rows = report.confusion.matrix.map((r, i) => {
    const total = r.reduce((a, b) => a + b, 0);
    const cells = r.map((x, j) => {
      const alpha = (x / max) * 0.55;
      const color = i === j ? `rgba(26,127,55,${alpha.toFixed(3)})` : `rgba(207,34,46,${alpha.toFixed(3)})`;
      return `<span class="cell" style="display:block;background:${color}">${x}</span>`;
    });
    return [`<b>${esc(labels[i]!)}</b>`, ...cells, String(total)];
  });
  const matrix = table(['gold \\ predicted', ...labels.map(esc), 'total'], rows, { numeric: labels.map((_, j) => j + 1).concat([labels.length + 1]), cls: 'confusion' });
  const perClass = table(
    ['class', 'gold', 'predicted', 'correct', 'precision', 'recall', 'F1'],
    report.perClass.map((p) => [esc(p.label), String(p.gold), String(p.predicted), String(p.correct), pct(p.precision), pct(p.recall), pct(p.f1)]),
    { numeric: [1, 2, 3, 4, 5, 6] },
  );
  const unlisted = report.confusion.unlisted > 0 ? `<p class="warn">${report.confusion.unlisted} examples had a label outside the verbalizer.</p>` : '';
  return (
    `<p>The saved adapter evaluated by rank classification on <code>${esc(c.data)}</code> (${report.n} examples): ` +
    `accuracy <b>${pct(report.accuracy)}</b>, macro-F1 <b>${pct(report.macroF1)}</b>${c.check ? ` — ${esc(c.check)}` : ''}.</p>` +
    `<div class="columns"><div>${matrix}</div><div>${perClass}</div></div>${unlisted}`
  );
}

function tok(text: string): string {
  return `<span class="tok">${esc(JSON.stringify(text))}</span>`;
}

function inspectHtml(ins: AdapterInspection): string {
  const parts: string[] = [];
  const v = ins.vocabulary;
  parts.push(
    `<p>${esc(ins.peftType)}, ${ins.numVirtualTokens} virtual tokens × ${ins.width}.` +
      (v ? ` Vocabulary: ${v.size} tokens, row norm median ${num(v.norms.median, 3)} (IQR ${num(v.norms.q1, 3)}–${num(v.norms.q3, 3)}).` : '') +
      (ins.init ? ` Init: <code>${esc(ins.init.spec)}</code>${ins.init.seed !== null ? `, seed ${ins.init.seed}` : ''}.` : '') +
      '</p>',
  );
  for (const n of ins.notes) parts.push(`<p class="note">${esc(n)}</p>`);
  const hasDrift = ins.tokens.some((t) => t.drift !== null);
  const header = ['#', 'norm', ...(ins.tokenSpace ? ['× median', 'nearest by cosine', 'nearest by L2'] : []), ...(hasDrift ? [...(ins.tokenSpace ? ['init token'] : []), 'cos with init', 'L2 from init'] : [])];
  const rows = ins.tokens.map((t) => {
    const cells = [String(t.index), num(t.norm, 3)];
    if (ins.tokenSpace) {
      cells.push(t.normRatio !== null ? `${t.normRatio.toFixed(2)}×` : '–');
      cells.push(t.byCosine.map((s) => `${tok(s.text)}&nbsp;${s.score.toFixed(3)}`).join(' '));
      cells.push(t.byL2.map((s) => `${tok(s.text)}&nbsp;${s.score.toFixed(2)}`).join(' '));
    }
    if (hasDrift) {
      if (ins.tokenSpace) cells.push(t.drift?.initToken ? tok(t.drift.initToken.text) : '–');
      cells.push(t.drift ? t.drift.cosine.toFixed(3) : '–', t.drift ? num(t.drift.l2, 3) : '–');
    }
    return cells;
  });
  const numeric = [0, 1, ...(ins.tokenSpace ? [2] : []), ...(hasDrift ? [header.length - 2, header.length - 1] : [])];
  parts.push(table(header, rows, { numeric, cls: 'inspect' }));
  if (ins.projection) parts.push(`<p>Nearest tokens (cosine), decoded: ${tok(ins.projection.text)}</p>`);
  return parts.join('\n');
}

function configHtml(d: RunReportData): string {
  const parts: string[] = [];
  const meta = d.meta;
  const template = obj(meta?.['template']);
  const pairs: [string, string][] = [];
  if (template && typeof template['source'] === 'string') pairs.push(['template', template['source']]);
  if (template && typeof template['instruction'] === 'string') pairs.push(['instruction', template['instruction']]);
  if (meta?.['verbalizer'] !== undefined) pairs.push(['verbalizer', JSON.stringify(meta['verbalizer'])]);
  if (typeof meta?.['label_field'] === 'string') pairs.push(['label field', meta['label_field']]);
  if (meta?.['init'] !== undefined) pairs.push(['init', JSON.stringify(meta['init'])]);
  const base = obj(meta?.['base_model']);
  if (base) pairs.push(['base model', `${jsonText(base['path'])} (${jsonText(base['model_type'])}, hidden ${jsonText(base['hidden_size'])}, ${jsonText(base['num_layers'])} layers, sha256 ${String(base['sha256']).slice(0, 16)}…)`]);
  if (d.modelDir) pairs.push(['model used for this report', d.modelDir]);
  if (pairs.length) parts.push(kvTable(pairs));
  const training = obj(meta?.['training']);
  parts.push('<div class="columns">');
  if (training) parts.push(`<div><h3>Training arguments <span class="note">(softprompt.json training)</span></h3>${kvTable(Object.entries(training).map(([k, v]) => [k, jsonText(v)]))}</div>`);
  if (d.peftConfig) parts.push(`<div><h3>${esc(ADAPTER_CONFIG_FILE)}</h3>${kvTable(Object.entries(d.peftConfig).map(([k, v]) => [k, jsonText(v)]))}</div>`);
  parts.push('</div>');
  if (!meta && !d.peftConfig) parts.push('<p class="note">No adapter files to read the configuration from.</p>');
  return parts.join('\n');
}

function metricsHtml(d: RunReportData): string {
  const saved = obj(d.meta?.['metrics']);
  const parts: string[] = [];
  const columns: string[] = [];
  if (saved) columns.push(`<div><h3>Saved with the adapter <span class="note">(softprompt.json metrics)</span></h3>${kvTable(Object.entries(saved).map(([k, v]) => [k, jsonText(v)]))}</div>`);
  if (d.log.evals.length) {
    columns.push(
      '<div><h3>Evaluations <span class="note">(metrics.jsonl)</span></h3>' +
      table(
        ['update', 'epoch', 'accuracy', 'macro-F1', 'n', 'best so far'],
        d.log.evals.map((e) => [String(e.step), e.epoch === null ? '–' : String(e.epoch), pct(e.accuracy), pct(e.macroF1), e.n === null ? '–' : String(e.n), e.best ? '✓' : '']),
        { numeric: [0, 1, 2, 3, 4] },
      ) +
      '</div>',
    );
  }
  if (columns.length) parts.push(`<div class="columns">${columns.join('\n')}</div>`);
  if (d.log.stop) parts.push(`<p>Stop: ${esc(jsonText(d.log.stop['reason']))} after update ${d.log.stop.step}.</p>`);
  for (const e of d.log.errors) parts.push(`<p class="warn">Error at update ${e.step}: ${esc(jsonText(e['error']))}</p>`);
  if (!parts.length) parts.push('<p class="note">No metrics recorded.</p>');
  return parts.join('\n');
}

/** The page for gathered data. */
export function renderRunReport(d: RunReportData): string {
  const name = basename(d.dir);
  const body: string[] = [];
  body.push(`<h1>softprompt run: ${esc(name)}</h1>`);
  body.push(`<p class="sub">${esc(d.dir)}${d.adapterDir && d.adapterDir !== d.dir ? ` — adapter ${esc(d.adapterDir)}` : ''}</p>`);
  body.push(summaryCards(d));
  for (const n of d.notes) body.push(`<p class="warn">${esc(n)}</p>`);
  body.push('<h2 id="curves">Curves</h2>', charts(d));
  body.push('<h2 id="metrics">Metrics</h2>', metricsHtml(d));
  body.push('<h2 id="confusion">Confusion matrix</h2>', d.confusion ? confusionHtml(d.confusion) : '<p class="note">Not computed (see the notes above).</p>');
  body.push('<h2 id="inspect">What the virtual tokens are near</h2>', d.inspection ? inspectHtml(d.inspection) : '<p class="note">Not inspected (see the notes above).</p>');
  body.push('<h2 id="config">Configuration</h2>', configHtml(d));
  body.push(`<footer>Written by softprompt report at ${esc(d.generated)}. Regenerate with <code>softprompt report ${esc(d.dir)}</code>.</footer>`);
  return page(`softprompt run: ${name}`, body.join('\n'));
}

/** Writes RUN_DIR/report.html (or `opts.out`) and returns its path. */
export async function writeRunReport(runDir: string, opts: RunReportOptions = {}): Promise<string> {
  const data = await collectRunReport(runDir, opts);
  const out = resolve(opts.out ?? join(data.dir, REPORT_FILE));
  writeFileAtomic(out, [new TextEncoder().encode(renderRunReport(data))]);
  return out;
}
