/**
 * Verbalizers the model cannot use to tell labels apart (issue 16): one label (every prediction
 * is that label), or two labels with the same continuation, where the winner is float noise.
 * Refused wherever examples are encoded (train, eval, classify, the server), naming the labels.
 */
import { DataError } from './errors.ts';
import type { Verbalizer } from './verbalizer.ts';

/** Throws DataError when `v` has fewer than two labels or two labels share a continuation text. */
export function checkDistinctLabels(v: Verbalizer): void {
  const where = v.source ? ` (${v.source})` : '';
  if (v.labels.length < 2) {
    throw new DataError(`the verbalizer${where} has one label ("${v.labels[0]}"); rank classification needs at least two labels to choose between`, { file: v.source });
  }
  const byText = new Map<string, string>();
  for (const label of v.labels) {
    const text = v.continuation(label);
    const other = byText.get(text);
    if (other !== undefined) {
      throw new DataError(
        `the verbalizer${where} gives labels "${other}" and "${label}" the same continuation ${JSON.stringify(text)}; the model cannot tell them apart: give each label its own text`,
        { file: v.source, field: label },
      );
    }
    byText.set(text, label);
  }
}

/**
 * Throws DataError when two labels tokenize to the same ids after this prompt (texts that differ
 * only in what the tokenizer normalizes away). `candidates` are in `labels` order.
 */
export function checkDistinctCandidates(labels: readonly string[], candidates: readonly (readonly number[])[], source: string | undefined): void {
  const seen = new Map<string, number>();
  candidates.forEach((ids, i) => {
    const key = ids.join(',');
    const j = seen.get(key);
    if (j !== undefined) {
      throw new DataError(
        `labels "${labels[j]}" and "${labels[i]}" of the verbalizer${source ? ` (${source})` : ''} tokenize to the same ids [${ids.join(', ')}]; the model cannot tell them apart: give each label a different text`,
        { file: source, field: labels[i] },
      );
    }
    seen.set(key, i);
  });
}
