/** Plain-text tables and numbers as the CLI and inspect print them. */

export type Align = 'left' | 'right';

/** Rows of cells padded into columns two spaces apart; `align` per column (default left). */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[] = []): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** 0.45 -> "45.0%". */
export function percent(x: number, digits = 1): string {
  return `${(x * 100).toFixed(digits)}%`;
}

/** A string shown on one line: JSON-quoted (so newlines read as \n) and shortened. */
export function oneLine(text: string, max = 70): string {
  const q = JSON.stringify(text);
  return q.length <= max ? q : `${q.slice(0, max - 4)}..."`;
}
