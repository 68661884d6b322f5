/**
 * Classification and generation metrics: pure functions over arrays of label strings.
 *
 * Conventions (the same as scikit-learn with `zero_division=0`, except where noted):
 * - precision = correct / predicted, and 0 when the class was never predicted;
 * - recall    = correct / gold,      and 0 when the class never occurs in the gold labels;
 * - F1        = 2·P·R / (P + R),     and 0 when P + R = 0;
 * - macro-F1 averages F1 over the classes of the label set, **skipping a class that is
 *   neither gold nor predicted for any example** (it has no evidence either way; sklearn would
 *   count it as 0 when it is named in `labels`). A class that is gold but never predicted
 *   (or predicted but never gold) is counted, with F1 = 0.
 * - The label set is `labels` when given, otherwise every label seen in `gold` then `pred`,
 *   in order of first appearance. A prediction outside a given label set is wrong for its
 *   example (it lowers accuracy and the recall of the gold class) but is a false positive for
 *   no listed class; the confusion matrix counts such examples in `unlisted`.
 * - `gold` and `pred` must have the same length; empty inputs are an error (there is nothing
 *   to measure, and a silent 0 or NaN would hide a broken pipeline).
 */
import { SoftpromptError } from '../errors.ts';

/** A metric was asked of inputs it cannot be computed on (length mismatch, empty input). */
export class MetricsError extends SoftpromptError {}

export interface ClassCounts {
  readonly label: string;
  /** Examples whose gold label is this class (the support). */
  readonly gold: number;
  /** Examples predicted as this class. */
  readonly predicted: number;
  /** Examples both gold and predicted as this class (true positives). */
  readonly correct: number;
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** False when the class is neither gold nor predicted anywhere, so macro-F1 skips it. */
  readonly counted: boolean;
}

export interface ConfusionMatrix {
  readonly labels: readonly string[];
  /** matrix[i][j]: examples with gold labels[i] predicted as labels[j]. */
  readonly matrix: number[][];
  /** Examples whose gold or predicted label is not in `labels` (only possible with an explicit label set). */
  readonly unlisted: number;
}

export interface ClassificationReport {
  readonly n: number;
  readonly accuracy: number;
  readonly macroF1: number;
  readonly perClass: ClassCounts[];
  readonly confusion: ConfusionMatrix;
}

function checkPair(gold: readonly unknown[], pred: readonly unknown[], what: string): void {
  if (gold.length !== pred.length) {
    throw new MetricsError(`${what}: ${gold.length} gold labels but ${pred.length} predictions; pass one prediction per example`);
  }
  if (gold.length === 0) throw new MetricsError(`${what}: no examples (gold and predictions are empty)`);
}

/** The label set: `labels` when given (duplicates rejected), else first appearance in gold then pred. */
export function labelSet(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): string[] {
  if (labels) {
    const seen = new Set<string>();
    for (const l of labels) {
      if (seen.has(l)) throw new MetricsError(`label set: "${l}" is listed twice`);
      seen.add(l);
    }
    if (labels.length === 0) throw new MetricsError('label set: empty; pass at least one label or omit it');
    return [...labels];
  }
  const out: string[] = [];
  const seen = new Set<string>();
  for (const l of [...gold, ...pred]) {
    if (!seen.has(l)) {
      seen.add(l);
      out.push(l);
    }
  }
  return out;
}

/** Fraction of examples whose prediction equals the gold label. */
export function accuracy(gold: readonly string[], pred: readonly string[]): number {
  checkPair(gold, pred, 'accuracy');
  let hit = 0;
  for (let i = 0; i < gold.length; i++) if (gold[i] === pred[i]) hit++;
  return hit / gold.length;
}

function safeDiv(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** Per-class gold/predicted/correct counts with precision, recall and F1 (zero_division=0). */
export function perClassCounts(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): ClassCounts[] {
  checkPair(gold, pred, 'per-class counts');
  const set = labelSet(gold, pred, labels);
  const g = new Map<string, number>();
  const p = new Map<string, number>();
  const c = new Map<string, number>();
  const inc = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);
  for (let i = 0; i < gold.length; i++) {
    inc(g, gold[i]!);
    inc(p, pred[i]!);
    if (gold[i] === pred[i]) inc(c, gold[i]!);
  }
  return set.map((label) => {
    const nG = g.get(label) ?? 0;
    const nP = p.get(label) ?? 0;
    const nC = c.get(label) ?? 0;
    const precision = safeDiv(nC, nP);
    const recall = safeDiv(nC, nG);
    const f1 = safeDiv(2 * precision * recall, precision + recall);
    return { label, gold: nG, predicted: nP, correct: nC, precision, recall, f1, counted: nG > 0 || nP > 0 };
  });
}

/** Mean F1 over the classes of the label set that are gold or predicted at least once. */
export function macroF1(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): number {
  const counted = perClassCounts(gold, pred, labels).filter((c) => c.counted);
  // Only possible with an explicit label set none of whose classes occurs: every F1 is undefined.
  if (counted.length === 0) return 0;
  return counted.reduce((s, c) => s + c.f1, 0) / counted.length;
}

/** Gold × predicted counts over the label set (rows: gold, columns: predicted). */
export function confusionMatrix(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): ConfusionMatrix {
  checkPair(gold, pred, 'confusion matrix');
  const set = labelSet(gold, pred, labels);
  const index = new Map(set.map((l, i) => [l, i] as const));
  const matrix = set.map(() => new Array<number>(set.length).fill(0));
  let unlisted = 0;
  for (let k = 0; k < gold.length; k++) {
    const i = index.get(gold[k]!);
    const j = index.get(pred[k]!);
    if (i === undefined || j === undefined) unlisted++;
    else matrix[i]![j]!++;
  }
  return { labels: set, matrix, unlisted };
}

/** Accuracy, macro-F1, per-class counts and the confusion matrix in one pass over the inputs. */
export function classificationReport(gold: readonly string[], pred: readonly string[], labels?: readonly string[]): ClassificationReport {
  const perClass = perClassCounts(gold, pred, labels);
  const counted = perClass.filter((c) => c.counted);
  return {
    n: gold.length,
    accuracy: accuracy(gold, pred),
    macroF1: counted.length === 0 ? 0 : counted.reduce((s, c) => s + c.f1, 0) / counted.length,
    perClass,
    confusion: confusionMatrix(gold, pred, labels),
  };
}

export interface ExactMatchOptions {
  /** Trim both ends and collapse every run of whitespace to one space before comparing. Default false. */
  normalize?: boolean;
}

/** Trim and collapse whitespace runs (spaces, tabs, newlines) to one space. */
export function normalizeWhitespace(s: string): string {
  return s.trim().replace(/\s+/g, ' ');
}

/** Per-example exact match of generated text against its target. */
export function exactMatches(gold: readonly string[], pred: readonly string[], opts: ExactMatchOptions = {}): boolean[] {
  checkPair(gold, pred, 'exact match');
  const norm = opts.normalize ? normalizeWhitespace : (s: string): string => s;
  return gold.map((g, i) => norm(g) === norm(pred[i]!));
}

/** Fraction of generations equal to their target (optionally after {@link normalizeWhitespace}). */
export function exactMatch(gold: readonly string[], pred: readonly string[], opts: ExactMatchOptions = {}): number {
  const m = exactMatches(gold, pred, opts);
  return m.filter(Boolean).length / m.length;
}
