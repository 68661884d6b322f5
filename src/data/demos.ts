/**
 * Few-shot demonstrations: choose k solved examples from a pool and write them, with their gold
 * answers, before the query, using the same template and verbalizer:
 *
 *   render(demo1) + answer1 + sep + ... + render(demok) + answerk + sep + render(query)
 *
 * Strategies: 'random' (seeded), 'balanced' (round-robin over labels, seeded), 'similar'
 * (nearest neighbours by bag-of-tokens cosine to the query, seeded tie-break). The choice for a
 * query depends only on the seed and the query's line, not on the order queries are asked in.
 * The query itself (same file and line) is never its own demonstration.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { DataError } from './errors.ts';
import type { DataRecord } from './readers.ts';
import type { Rng } from './rng.ts';
import { createRng, shuffleInPlace } from './rng.ts';
import type { Template } from './template.ts';
import type { Verbalizer } from './verbalizer.ts';

export type DemoStrategy = 'random' | 'balanced' | 'similar';

export interface DemoOptions {
  /** Number of demonstrations per query. */
  k: number;
  strategy: DemoStrategy;
  seed: number;
  template: Template;
  verbalizer: Verbalizer;
  /** Required for 'similar'. */
  tokenizer?: Tokenizer;
  /** Field of the gold label. Default "label". */
  labelField?: string;
  /** Between demonstrations, and between the last one and the query. Default "\n\n". */
  separator?: string;
}

type Bag = Map<number, number>;

function bagOf(ids: readonly number[]): { bag: Bag; norm: number } {
  const bag: Bag = new Map();
  for (const id of ids) bag.set(id, (bag.get(id) ?? 0) + 1);
  let sq = 0;
  for (const c of bag.values()) sq += c * c;
  return { bag, norm: Math.sqrt(sq) };
}

/** Cosine similarity of two token-count vectors. */
export function bagCosine(a: { bag: Bag; norm: number }, b: { bag: Bag; norm: number }): number {
  if (a.norm === 0 || b.norm === 0) return 0;
  const [small, large] = a.bag.size <= b.bag.size ? [a.bag, b.bag] : [b.bag, a.bag];
  let dot = 0;
  for (const [id, c] of small) dot += c * (large.get(id) ?? 0);
  return dot / (a.norm * b.norm);
}

function sameRecord(a: DataRecord, b: DataRecord): boolean {
  return a === b || (a.__file !== undefined && a.__file === b.__file && a.__line === b.__line);
}

export class DemoSelector {
  readonly pool: readonly DataRecord[];
  readonly opts: Readonly<DemoOptions>;
  readonly separator: string;
  readonly labelField: string;
  #bags: { bag: Bag; norm: number }[] | undefined;

  constructor(pool: readonly DataRecord[], opts: DemoOptions) {
    if (!Number.isInteger(opts.k) || opts.k < 0) throw new RangeError(`k must be a non-negative integer, got ${opts.k}`);
    if (opts.strategy === 'similar' && opts.tokenizer === undefined) throw new DataError("demonstration strategy 'similar' needs a tokenizer");
    if (opts.k > 0 && pool.length === 0) throw new DataError(`asked for ${opts.k} demonstrations but the demonstration pool is empty`);
    this.pool = pool;
    this.opts = opts;
    this.separator = opts.separator ?? '\n\n';
    this.labelField = opts.labelField ?? 'label';
    // Every pool record must render and have a verbalized label: fail now, not mid-training.
    for (const r of pool) this.formatOne(r);
  }

  #labelOf(r: DataRecord): string {
    const v = r[this.labelField];
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new DataError(`demonstration has no label field "${this.labelField}"`, { file: r.__file, line: r.__line, field: this.labelField });
    }
    return String(v);
  }

  #textOf(r: DataRecord): string {
    return this.opts.template.fields.map((f) => this.opts.template.fieldValue(r, f)).join(' ');
  }

  #rngFor(query: DataRecord): Rng {
    return createRng((Math.trunc(this.opts.seed) * 1000003 + (query.__line ?? 0)) | 0);
  }

  /** The demonstrations for `query`, in the order they are written (for 'similar', the nearest last). */
  select(query: DataRecord): DataRecord[] {
    const rng = this.#rngFor(query);
    const candidates = this.pool.map((_, i) => i).filter((i) => !sameRecord(this.pool[i]!, query));
    const k = Math.min(this.opts.k, candidates.length);
    if (k === 0) return [];
    switch (this.opts.strategy) {
      case 'random':
        return shuffleInPlace(candidates, rng)
          .slice(0, k)
          .map((i) => this.pool[i]!);
      case 'balanced': {
        const byLabel = new Map<string, number[]>();
        for (const i of candidates) {
          const label = this.#labelOf(this.pool[i]!);
          const list = byLabel.get(label);
          if (list) list.push(i);
          else byLabel.set(label, [i]);
        }
        const groups = shuffleInPlace([...byLabel.values()], rng).map((g) => shuffleInPlace(g, rng));
        const chosen: number[] = [];
        for (let round = 0; chosen.length < k; round++) {
          for (const g of groups) if (round < g.length && chosen.length < k) chosen.push(g[round]!);
        }
        return chosen.map((i) => this.pool[i]!);
      }
      case 'similar': {
        const tok = this.opts.tokenizer!;
        const bags = (this.#bags ??= this.pool.map((r) => bagOf(tok.encode(this.#textOf(r), { addSpecialTokens: false }))));
        const q = bagOf(tok.encode(this.#textOf(query), { addSpecialTokens: false }));
        const scored = candidates.map((i) => ({ i, sim: bagCosine(q, bags[i]!), tie: rng() }));
        scored.sort((a, b) => b.sim - a.sim || a.tie - b.tie);
        return scored
          .slice(0, k)
          .reverse()
          .map((s) => this.pool[s.i]!);
      }
    }
  }

  /** One solved demonstration: the rendered template followed by the gold answer. */
  formatOne(demo: DataRecord): string {
    return this.opts.template.render(demo) + this.opts.verbalizer.continuation(this.#labelOf(demo), demo);
  }

  /** The demonstrations joined by the separator, with a separator before the query ('' for none). */
  format(demos: readonly DataRecord[]): string {
    return demos.map((d) => this.formatOne(d) + this.separator).join('');
  }

  /** The text to put before `query`: pass it as the prefix of ExampleEncoder.encode. */
  prefixFor(query: DataRecord): string {
    return this.format(this.select(query));
  }
}
