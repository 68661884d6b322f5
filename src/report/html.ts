/** HTML text helpers: every string that reaches the page goes through {@link esc}. */

/** Escapes text for HTML content and quoted attribute values. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

/** A number for display: integers as they are, others to `digits` significant digits. */
export function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return '–';
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  return Math.abs(x) >= 1e-3 && Math.abs(x) < 1e5 ? String(Number(x.toPrecision(digits))) : x.toExponential(2);
}

/** 0.973 -> "97.3%". */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(1)}%`;
}

/** A value from JSON (training arguments) as display text. */
export function jsonText(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return num(v, 6);
  return JSON.stringify(v);
}

/** A table; cells are already-escaped HTML. `numeric` columns align right. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], opts: { numeric?: readonly number[]; cls?: string } = {}): string {
  const numeric = new Set(opts.numeric ?? []);
  const cell = (tag: 'td' | 'th', html: string, i: number): string => `<${tag}${numeric.has(i) ? ' class="num"' : ''}>${html}</${tag}>`;
  const head = header.length ? `<thead><tr>${header.map((h, i) => cell('th', h, i)).join('')}</tr></thead>` : '';
  const body = rows.map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('\n');
  return `<table${opts.cls ? ` class="${esc(opts.cls)}"` : ''}>${head}<tbody>\n${body}\n</tbody></table>`;
}

/** A two-column key/value table from plain text pairs (escaped here). */
export function kvTable(pairs: readonly (readonly [string, string])[], cls = 'kv'): string {
  return table([], pairs.map(([k, v]) => [`<span class="key">${esc(k)}</span>`, `<code>${esc(v)}</code>`]), { cls });
}

export const CSS = `
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa; --accent: #0969da; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0 0 16px; word-break: break-all; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; min-width: 150px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .value { font-size: 20px; font-weight: 600; }
.card .detail { color: var(--muted); font-size: 12px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px; }
figcaption { font-weight: 600; margin: 0 0 4px 4px; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--muted); }
svg .axis { stroke: var(--line); }
svg .grid { stroke: #eaeef2; }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.kv td { border: none; border-bottom: 1px solid #eaeef2; padding: 2px 10px 2px 0; }
table.kv .key { color: var(--muted); }
code, .tok { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.tok { background: #eef1f4; border-radius: 3px; padding: 0 3px; white-space: pre; }
table.confusion td.num { min-width: 64px; }
.note { color: var(--muted); }
.warn { color: #9a6700; }
.columns { display: flex; flex-wrap: wrap; gap: 32px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
`;

/** The whole page: inline CSS only, no scripts, no external resources. */
export function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}
