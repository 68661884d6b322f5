/**
 * The frozen model's input-embedding table as a searchable vocabulary: nearest tokens to a vector
 * by cosine similarity and by L2 distance, the typical row norm, and readable token text.
 */
import type { Tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { quantile, row, topK } from './vectors.ts';

/** What the vocabulary needs of a tokenizer (src/tokenizer's Tokenizer has it). */
export type VocabTokenizer = Pick<Tokenizer, 'tokenText' | 'idToToken' | 'isSpecial'>;

/** A vocabulary token with a score (cosine similarity, or L2 distance). */
export interface TokenScore {
  readonly id: number;
  /** Readable text of the token (see {@link Vocabulary.text}); unescaped. */
  readonly text: string;
  readonly score: number;
}

/** Distribution of the table's row norms. */
export interface NormStats {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
  readonly min: number;
  readonly max: number;
}

export class Vocabulary {
  readonly size: number;
  readonly dim: number;
  readonly table: Tensor<'float32'>;
  /** Squared norm of every row (float64). */
  readonly sqNorms: Float64Array;
  readonly normStats: NormStats;
  readonly #tokenizer: VocabTokenizer;

  constructor(table: Tensor<'float32'>, tokenizer: VocabTokenizer) {
    const [V, d] = table.shape as [number, number];
    this.table = table;
    this.size = V;
    this.dim = d;
    this.#tokenizer = tokenizer;
    this.sqNorms = new Float64Array(V);
    for (let i = 0; i < V; i++) {
      const r = row(table.data, d, i);
      let s = 0;
      for (let k = 0; k < d; k++) s += r[k]! * r[k]!;
      this.sqNorms[i] = s;
    }
    const norms = Float64Array.from(this.sqNorms, Math.sqrt).sort();
    this.normStats = { median: quantile(norms, 0.5), q1: quantile(norms, 0.25), q3: quantile(norms, 0.75), min: norms[0]!, max: norms[V - 1]! };
  }

  /**
   * A token as a reader should see it: the tokenizer's decode of the id alone, with the leading
   * space a sentencepiece "▁" piece stands for put back (its decoder strips it from a lone token,
   * which would show "▁girl" and the mid-word "girl" alike). Ids the tokenizer lacks (a table padded
   * past the vocabulary) read "#id".
   */
  text(id: number): string {
    let text: string;
    try {
      text = this.#tokenizer.tokenText(id);
    } catch {
      return `#${id}`;
    }
    const piece = this.#tokenizer.idToToken(id);
    // text === piece: tokenText fell back to the raw piece (e.g. a lone "▁"), which shows as is.
    if (piece !== undefined && piece.startsWith('\u2581') && text !== piece && !text.startsWith(' ') && !this.#tokenizer.isSpecial(id)) text = ` ${text}`;
    return text;
  }

  /** Cosine similarity of `v` with every row (0 for a zero row or vector). */
  cosines(v: ArrayLike<number>): Float64Array {
    const d = this.dim;
    const data = this.table.data;
    let vv = 0;
    for (let k = 0; k < d; k++) vv += v[k]! * v[k]!;
    const out = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) {
      let s = 0;
      const o = i * d;
      for (let k = 0; k < d; k++) s += v[k]! * data[o + k]!;
      const den = vv * this.sqNorms[i]!;
      out[i] = den === 0 ? 0 : Math.max(-1, Math.min(1, s / Math.sqrt(den)));
    }
    return out;
  }

  /** L2 distance of `v` to every row, summed directly so an identical row is exactly 0. */
  distances(v: ArrayLike<number>): Float64Array {
    const d = this.dim;
    const data = this.table.data;
    const out = new Float64Array(this.size);
    for (let i = 0; i < this.size; i++) {
      let s = 0;
      const o = i * d;
      for (let k = 0; k < d; k++) {
        const x = v[k]! - data[o + k]!;
        s += x * x;
      }
      out[i] = Math.sqrt(s);
    }
    return out;
  }

  nearestByCosine(v: ArrayLike<number>, k: number): TokenScore[] {
    return this.#named(topK(this.cosines(v), k, true));
  }

  nearestByL2(v: ArrayLike<number>, k: number): TokenScore[] {
    return this.#named(topK(this.distances(v), k, false));
  }

  /** The row [d] of token `id`. */
  embedding(id: number): Float32Array {
    return row(this.table.data, this.dim, id);
  }

  #named(scored: readonly { id: number; score: number }[]): TokenScore[] {
    return scored.map(({ id, score }) => ({ id, text: this.text(id), score }));
  }
}

/** A token's text for a table cell: JSON-quoted, so spaces, newlines and control bytes show. */
export function quoteToken(text: string): string {
  return JSON.stringify(text);
}
