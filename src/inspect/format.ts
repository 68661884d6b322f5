/** Terminal tables and snake_case JSON for inspections (the CLI and the run report share them). */
import { formatTable } from './table.ts';
import type { PromptComparison } from './compare.ts';
import type { AdapterInspection, VirtualTokenReport } from './inspect.ts';
import { quoteToken } from './vocab.ts';
import type { TokenScore } from './vocab.ts';

/** 0.93412 -> "0.934"; distances and norms keep 3 significant digits. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(digits);
}

/** `"girl" 0.934, " boy" 0.412` */
export function neighbourList(list: readonly TokenScore[], digits = 3): string {
  return list.map((t) => `${quoteToken(t.text)} ${t.score === 1 || t.score === 0 ? String(t.score) : t.score.toFixed(digits)}`).join(', ');
}

function driftCells(t: VirtualTokenReport): string[] {
  if (!t.drift) return ['', '', ''];
  return [t.drift.initToken ? quoteToken(t.drift.initToken.text) : '-', t.drift.cosine.toFixed(3), fmt(t.drift.l2)];
}

/** The readable report: a header, then one row per virtual token. */
export function formatInspection(ins: AdapterInspection): string[] {
  const out: string[] = [];
  out.push(`adapter     ${ins.dir} (${ins.peftType}, ${ins.numVirtualTokens} virtual tokens × ${ins.width})`);
  if (ins.vocabulary) {
    const s = ins.vocabulary.norms;
    out.push(`vocabulary  ${ins.vocabulary.size} tokens; row norm median ${fmt(s.median)}, IQR ${fmt(s.q1)}–${fmt(s.q3)} (min ${fmt(s.min)}, max ${fmt(s.max)})`);
  }
  if (ins.init) {
    out.push(`init        ${ins.init.spec}${ins.init.seed !== null ? `, seed ${ins.init.seed}` : ''} (from ${ins.init.source})`);
  }
  for (const note of ins.notes) out.push(`note        ${note}`);
  out.push('');
  const hasDrift = ins.tokens.some((t) => t.drift !== null);
  const header = ['#', 'norm'];
  const align: ('left' | 'right')[] = ['right', 'right'];
  if (ins.tokenSpace) {
    header.push('×median', 'nearest by cosine', 'nearest by L2');
    align.push('right', 'left', 'left');
  }
  if (hasDrift) {
    header.push(ins.tokenSpace ? 'init token' : '', 'cos(init)', 'L2(init)');
    align.push('left', 'right', 'right');
  }
  const rows = ins.tokens.map((t) => {
    const cells = [String(t.index), fmt(t.norm)];
    if (ins.tokenSpace) cells.push(t.normRatio !== null ? `${t.normRatio.toFixed(2)}×` : '', neighbourList(t.byCosine), neighbourList(t.byL2, 2));
    if (hasDrift) {
      const d = driftCells(t);
      cells.push(...(ins.tokenSpace ? d : ['', d[1]!, d[2]!]));
    }
    return cells;
  });
  out.push(...formatTable(header, rows, align));
  if (ins.projection) {
    out.push('');
    out.push(`nearest tokens (cosine), decoded: ${JSON.stringify(ins.projection.text)}`);
  }
  if (hasDrift) {
    const d = ins.tokens.map((t) => t.drift!);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    out.push(`drift from init: mean cosine ${mean(d.map((x) => x.cosine)).toFixed(3)}, mean L2 ${fmt(mean(d.map((x) => x.l2)))}`);
  }
  return out;
}

function scoresJson(list: readonly TokenScore[]): Record<string, unknown>[] {
  return list.map((t) => ({ id: t.id, token: t.text, score: t.score }));
}

/** The --json object of one inspection (snake_case, like the other commands). */
export function inspectionJson(ins: AdapterInspection): Record<string, unknown> {
  return {
    adapter: ins.dir,
    peft_type: ins.peftType,
    virtual_tokens: ins.numVirtualTokens,
    width: ins.width,
    token_space: ins.tokenSpace,
    notes: ins.notes,
    vocabulary: ins.vocabulary
      ? { size: ins.vocabulary.size, norm_median: ins.vocabulary.norms.median, norm_q1: ins.vocabulary.norms.q1, norm_q3: ins.vocabulary.norms.q3, norm_min: ins.vocabulary.norms.min, norm_max: ins.vocabulary.norms.max }
      : null,
    init: ins.init ? { spec: ins.init.spec, source: ins.init.source, seed: ins.init.seed, ...(ins.init.unavailable !== undefined ? { unavailable: ins.init.unavailable } : {}) } : null,
    tokens: ins.tokens.map((t) => ({
      index: t.index,
      norm: t.norm,
      norm_ratio: t.normRatio,
      nearest_cosine: scoresJson(t.byCosine),
      nearest_l2: scoresJson(t.byL2),
      drift: t.drift
        ? { cosine: t.drift.cosine, l2: t.drift.l2, init_norm: t.drift.initNorm, init_token: t.drift.initToken ? { id: t.drift.initToken.id, token: t.drift.initToken.text } : null }
        : null,
    })),
    projection: ins.projection ? { ids: ins.projection.ids, text: ins.projection.text } : null,
  };
}

/** The similarity matrix (adapters numbered, with a legend) and the nearest-task summary. */
export function formatComparison(c: PromptComparison): string[] {
  const out: string[] = [];
  c.names.forEach((name, i) => out.push(`[${i + 1}] ${name}${c.nearest[i]!.task ? `  (task: ${c.nearest[i]!.task})` : ''}`));
  out.push('');
  const matrix = (m: readonly (readonly (number | null)[])[]): string[] =>
    formatTable(
      ['', ...c.names.map((_, i) => `[${i + 1}]`)],
      m.map((r, i) => [`[${i + 1}]`, ...r.map((x) => (x === null ? '-' : x.toFixed(3)))]),
      ['left', ...c.names.map(() => 'right' as const)],
    );
  out.push(`similarity: ${c.used}: ${c.why}`);
  out.push(...matrix(c.used === 'flattened' ? c.flattened : c.meanPooled));
  if (c.used === 'mean-pooled') {
    out.push('');
    out.push('flattened (only where the virtual-token counts agree; - elsewhere):');
    out.push(...matrix(c.flattened));
  }
  out.push('');
  out.push('nearest task:');
  const rows = c.nearest.map((t, i) => [
    `[${i + 1}]`,
    t.nearest === null ? '-' : `[${c.names.indexOf(t.nearest) + 1}]${t.nearestTask ? ` ${t.nearestTask}` : ''}`,
    t.similarity === null ? '-' : t.similarity.toFixed(3),
    neighbourList(t.centroidTokens),
  ]);
  out.push(...formatTable(['adapter', 'nearest', 'similarity', 'mean virtual token is nearest to'], rows, ['left', 'left', 'right', 'left']));
  return out;
}

/** The --json object of a comparison. */
export function comparisonJson(c: PromptComparison): Record<string, unknown> {
  return {
    adapters: c.names,
    similarity: c.used,
    why: c.why,
    matrix: c.used === 'flattened' ? c.flattened : c.meanPooled,
    flattened: c.flattened,
    mean_pooled: c.meanPooled,
    nearest: c.nearest.map((t) => ({
      adapter: t.name,
      task: t.task ?? null,
      nearest: t.nearest,
      nearest_task: t.nearestTask ?? null,
      similarity: t.similarity,
      centroid_tokens: scoresJson(t.centroidTokens),
    })),
  };
}
