/**
 * Discretisation: each virtual token replaced by the embedding of its nearest vocabulary token
 * (by cosine). The result is a hard prompt fed through the very same graph as the soft one
 * (the same method, only the params differ), so any accuracy gap is what the continuous values
 * carry beyond those words.
 */
import type { LoadedAdapter } from '../adapter/types.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InspectError } from './errors.ts';
import { promptOf } from './inspect.ts';
import { row } from './vectors.ts';
import type { Vocabulary } from './vocab.ts';

export interface Discretized {
  /** The nearest token of each virtual token. */
  readonly ids: readonly number[];
  /** Each virtual token's cosine with its token. */
  readonly cosines: readonly number[];
  /** Readable text of each token (as Vocabulary.text gives it). */
  readonly tokens: readonly string[];
  /** The tokens decoded together. */
  readonly text: string;
  /** The hard prompt as the method's params: { prompt_embeddings: the tokens' embedding rows }. */
  readonly params: Readonly<Record<string, Tensor<'float32'>>>;
}

/** Projects the adapter's prompt onto the vocabulary. Prefix tuning has no token space: refused. */
export function discretize(adapter: LoadedAdapter, vocabulary: Vocabulary, tokenizer: Pick<Tokenizer, 'decode'>): Discretized {
  if (adapter.peftType === 'PREFIX_TUNING') {
    throw new InspectError(
      `${adapter.dir}: a PREFIX_TUNING adapter cannot be discretised: its virtual tokens are per-layer key/value prefixes, ` +
        'not input embeddings, so there is no vocabulary token to project them onto (prompt tuning and p-tuning adapters can be)',
    );
  }
  if (adapter.peftType === 'MULTITASK_PROMPT_TUNING') {
    throw new InspectError(
      `${adapter.dir}: a MULTITASK_PROMPT_TUNING adapter has no single prompt to discretise (each task scales the shared prompt by its own factors); ` +
        'inspect shows its shared prompt, and discretize takes prompt tuning and p-tuning adapters',
    );
  }
  const prompt = promptOf(adapter);
  const [n, d] = prompt.shape as [number, number];
  if (d !== vocabulary.dim) throw new InspectError(`${adapter.dir}: the prompt is ${d} wide but the model's embeddings are ${vocabulary.dim} wide`);
  const ids: number[] = [];
  const cosines: number[] = [];
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const best = vocabulary.nearestByCosine(row(prompt.data, d, i), 1)[0]!;
    ids.push(best.id);
    cosines.push(best.score);
    data.set(vocabulary.embedding(best.id), i * d);
  }
  return {
    ids,
    cosines,
    tokens: ids.map((id) => vocabulary.text(id)),
    text: tokenizer.decode(ids),
    params: { prompt_embeddings: tensor('float32', [n, d], data) },
  };
}
