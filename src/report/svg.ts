/**
 * Line charts as inline SVG, drawn by hand: axes with round tick values, a light grid, one
 * polyline per series, optional point markers and vertical event lines, and a legend. No
 * xmlns attribute: inline SVG in HTML needs none, and the page holds no URL at all.
 */
import { esc } from './html.ts';

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly color: string;
  readonly width?: number;
  readonly opacity?: number;
  /** Draw a dot at every point (for sparse series such as evaluations). */
  readonly markers?: boolean;
}

/** A vertical line at x with a short label (a resume, a NaN stop, the best evaluation). */
export interface Marker {
  readonly x: number;
  readonly label: string;
  readonly color: string;
}

export interface ChartOptions {
  /** Used as the svg's id and class suffix (chart-<id>). */
  readonly id: string;
  readonly title: string;
  readonly xLabel: string;
  readonly series: readonly Series[];
  readonly markers?: readonly Marker[];
  readonly width?: number;
  readonly height?: number;
  /** Fix the x range (e.g. [0, total updates], so charts of one run line up); widened to the data. */
  readonly xRange?: readonly [number, number];
  /** Fix the y range (e.g. [0, 1] for accuracy); default: the data's, padded. */
  readonly yRange?: readonly [number, number];
  readonly yFormat?: (y: number) => string;
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

function defaultFormat(y: number): string {
  if (y === 0) return '0';
  const a = Math.abs(y);
  return a >= 1e4 || a < 1e-3 ? y.toExponential(1) : String(Number(y.toPrecision(4)));
}

const f = (x: number): string => (Math.round(x * 10) / 10).toString();

/** One chart as an `<svg>` element (a string of trusted markup; every text is escaped). */
export function lineChart(o: ChartOptions): string {
  const W = o.width ?? 320;
  const H = o.height ?? 230;
  const m = { l: 48, r: 12, t: 12, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = o.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const head = `<svg id="chart-${esc(o.id)}" class="chart chart-${esc(o.id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(o.title)}"><title>${esc(o.title)}</title>`;
  if (all.length === 0) {
    return `${head}<rect x="0.5" y="0.5" width="${W - 1}" height="${H - 1}" fill="none" class="axis"/><text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data</text></svg>`;
  }
  let [x0, x1] = [Math.min(...all.map((p) => p[0]), o.xRange?.[0] ?? Infinity), Math.max(...all.map((p) => p[0]), o.xRange?.[1] ?? -Infinity)];
  for (const mk of o.markers ?? []) [x0, x1] = [Math.min(x0, mk.x), Math.max(x1, mk.x)];
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  let [y0, y1] = o.yRange ?? [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
  if (!o.yRange) {
    const pad = (y1 - y0) * 0.05 || Math.abs(y1) * 0.1 || 1;
    [y0, y1] = [y0 - pad, y1 + pad];
    if (Math.min(...all.map((p) => p[1])) >= 0 && y0 < 0) y0 = 0; // losses and rates are not negative
  }
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number): number => m.t + ph - ((y - y0) / (y1 - y0)) * ph;
  const fmt = o.yFormat ?? defaultFormat;
  const parts: string[] = [head];
  for (const t of niceTicks(y0, y1, 5)) {
    if (t < y0 || t > y1) continue;
    parts.push(`<line class="grid" x1="${m.l}" x2="${m.l + pw}" y1="${f(sy(t))}" y2="${f(sy(t))}"/>`);
    parts.push(`<text x="${m.l - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${esc(fmt(t))}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    if (t < x0 || t > x1) continue;
    parts.push(`<line class="axis" x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${m.t + ph}" y2="${m.t + ph + 4}"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${m.t + ph + 16}" text-anchor="middle">${esc(defaultFormat(t))}</text>`);
  }
  parts.push(`<line class="axis" x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}"/>`);
  parts.push(`<line class="axis" x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  for (const mk of o.markers ?? []) {
    const x = f(sx(mk.x));
    parts.push(`<line x1="${x}" x2="${x}" y1="${m.t}" y2="${m.t + ph}" stroke="${esc(mk.color)}" stroke-dasharray="4 3"/>`);
    // Near the right edge the label goes on the line's left, so it stays inside the plot.
    const left = sx(mk.x) > m.l + pw * 0.75;
    parts.push(`<text x="${x}" y="${m.t + 10}" dx="${left ? -3 : 3}" text-anchor="${left ? 'end' : 'start'}" style="fill:${esc(mk.color)}">${esc(mk.label)}</text>`);
  }
  for (const s of o.series) {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (pts.length === 0) continue;
    const cls = `series series-${esc(s.name.toLowerCase().replace(/[^a-z0-9]+/g, '-'))}`;
    const attrs = `fill="none" stroke="${esc(s.color)}" stroke-width="${s.width ?? 1.5}" stroke-linejoin="round"${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}`;
    parts.push(`<polyline class="${cls}" ${attrs} points="${pts.map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(' ')}"><title>${esc(s.name)}</title></polyline>`);
    if (s.markers) for (const [x, y] of pts) parts.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${esc(s.color)}"><title>${esc(`${s.name}: ${fmt(y)} at ${x}`)}</title></circle>`);
  }
  // Legend along the bottom.
  let lx = m.l;
  const ly = H - 8;
  for (const s of o.series) {
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${esc(s.color)}" stroke-width="${Math.max(2, s.width ?? 1.5)}"${s.opacity !== undefined ? ` stroke-opacity="${s.opacity}"` : ''}/>`);
    parts.push(`<text x="${lx + 22}" y="${ly}">${esc(s.name)}</text>`);
    lx += 34 + s.name.length * 6.2;
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Trailing moving average over `window` points (the first points average what exists so far). */
export function movingAverage(points: readonly (readonly [number, number])[], window: number): [number, number][] {
  const out: [number, number][] = [];
  let sum = 0;
  for (let i = 0; i < points.length; i++) {
    sum += points[i]![1];
    if (i >= window) sum -= points[i - window]![1];
    out.push([points[i]![0], sum / Math.min(i + 1, window)]);
  }
  return out;
}
