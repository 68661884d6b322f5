/**
 * Comparing the prompts of several adapters: a cosine-similarity matrix over the flattened
 * prompts ([n, d] read as one n·d vector, so the order of the virtual tokens counts), and, where
 * the virtual-token counts differ and flattening is undefined, over the mean-pooled prompts
 * (the average virtual token, [d]). Then each adapter's nearest other adapter.
 */
import type { Tensor } from '../tensor.ts';
import { InspectError } from './errors.ts';
import { cosine, meanRow } from './vectors.ts';
import type { Vocabulary } from './vocab.ts';
import type { TokenScore } from './vocab.ts';

export interface ComparedPrompt {
  /** How the user named it (the path given). */
  readonly name: string;
  readonly prompt: Tensor<'float32'>;
  /** Whether the rows are input embeddings (not a prefix). */
  readonly tokenSpace: boolean;
  /** What it was trained on, for the summary (e.g. story_gender/train.jsonl), if recorded. */
  readonly task?: string | undefined;
}

export type SimilarityKind = 'flattened' | 'mean-pooled';

export interface NearestTask {
  readonly name: string;
  readonly task: string | undefined;
  readonly nearest: string | null;
  readonly nearestTask: string | undefined;
  readonly similarity: number | null;
  /** Nearest vocabulary tokens to the mean virtual token (token space, when a vocabulary is given). */
  readonly centroidTokens: readonly TokenScore[];
}

export interface PromptComparison {
  readonly names: readonly string[];
  /** The matrix the summary uses. */
  readonly used: SimilarityKind;
  /** Why that one (a sentence). */
  readonly why: string;
  /** Cosine of the flattened prompts; null for a pair whose shapes differ. */
  readonly flattened: readonly (readonly (number | null)[])[];
  /** Cosine of the mean-pooled prompts. */
  readonly meanPooled: readonly (readonly number[])[];
  readonly nearest: readonly NearestTask[];
}

/** The similarity matrices and nearest-task summary of `prompts` (at least two). */
export function comparePrompts(prompts: readonly ComparedPrompt[], vocabulary?: Vocabulary, top = 3): PromptComparison {
  if (prompts.length < 2) throw new InspectError(`comparing needs at least two adapters, got ${prompts.length}`);
  const first = prompts[0]!;
  const width = first.prompt.shape[1]!;
  for (const p of prompts) {
    if (p.prompt.shape.length !== 2) throw new InspectError(`${p.name}: the prompt has shape [${p.prompt.shape.join(', ')}], expected [n, width]`);
    if (p.tokenSpace !== first.tokenSpace) {
      throw new InspectError(`${p.name} and ${first.name} live in different spaces (input embeddings vs per-layer key/value prefixes); compare adapters of the same kind`);
    }
    if (p.prompt.shape[1] !== width) {
      throw new InspectError(`${p.name} is ${p.prompt.shape[1]} wide but ${first.name} is ${width} wide: they were trained for different models (or methods) and cannot be compared`);
    }
  }
  const pooled = prompts.map((p) => meanRow(p.prompt.data, p.prompt.shape[0]!, width));
  const k = prompts.length;
  const flattened = prompts.map((a) => prompts.map((b) => (a.prompt.shape[0] === b.prompt.shape[0] ? cosine(a.prompt.data, b.prompt.data) : null)));
  const meanPooled = pooled.map((a) => pooled.map((b) => cosine(a, b)));
  const counts = [...new Set(prompts.map((p) => p.prompt.shape[0]!))];
  const used: SimilarityKind = counts.length === 1 ? 'flattened' : 'mean-pooled';
  const why =
    used === 'flattened'
      ? `all prompts have ${counts[0]} virtual tokens: cosine of the flattened prompts (token order counts)`
      : `the virtual-token counts differ (${prompts.map((p) => p.prompt.shape[0]).join(', ')}), so flattening is undefined: cosine of the mean virtual tokens`;
  const matrix = used === 'flattened' ? flattened : meanPooled;
  const nearest = prompts.map((p, i): NearestTask => {
    let best: number | null = null;
    let bestJ = -1;
    for (let j = 0; j < k; j++) {
      const s = matrix[i]![j];
      if (j === i || s === null || s === undefined) continue;
      if (best === null || s > best) {
        best = s;
        bestJ = j;
      }
    }
    return {
      name: p.name,
      task: p.task,
      nearest: bestJ >= 0 ? prompts[bestJ]!.name : null,
      nearestTask: bestJ >= 0 ? prompts[bestJ]!.task : undefined,
      similarity: best,
      centroidTokens: vocabulary && p.tokenSpace && vocabulary.dim === width ? vocabulary.nearestByCosine(pooled[i]!, top) : [],
    };
  });
  return { names: prompts.map((p) => p.name), used, why, flattened, meanPooled, nearest };
}
