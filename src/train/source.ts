/**
 * The training stream: records read lazily from a file, encoded, shuffled through a seeded
 * buffer, and grouped into batches. An epoch's order depends only on (seed, epoch), so a
 * resumed run regenerates it and skips the batches it already used — that is what makes
 * resume exact without saving the order. A file that fits in the buffer is shuffled
 * uniformly (as torch's RandomSampler would); a bigger one is never held whole.
 */
import type { DataRecord } from '../data/readers.ts';
import { readRecords } from '../data/readers.ts';
import type { EncodedExample, ExampleEncoder } from '../data/encode.ts';
import { exampleLength } from '../data/collate.ts';
import { DataError } from '../data/errors.ts';
import { createRng, randomInt, shuffleInPlace } from '../data/rng.ts';
import type { Rng } from '../data/rng.ts';
import { TRAIN_DEFAULTS } from './defaults.ts';

export interface TrainSourceOptions {
  file: string;
  encoder: ExampleEncoder;
  batchSize: number;
  seed: number;
  /** Use only the first N records of the file. */
  maxExamples?: number;
  /** Record indices (0-based, in file order) held out of training, e.g. a dev split carved from the file. */
  exclude?: ReadonlySet<number>;
  /** Shuffle-buffer size in examples (default 16384). Files up to this size are shuffled uniformly. */
  shuffleBuffer?: number;
  /** Group similar lengths into batches (windows of `bucketWindow` batches). Faster, less random. */
  bucket?: boolean;
  bucketWindow?: number;
}

export interface SourceStats {
  examples: number;
  batchesPerEpoch: number;
  /** Examples whose input field was cut to fit the context. */
  truncated: number;
  /** The longest example in tokens (prompt and target, no virtual tokens). */
  longest: number;
}

/** One epoch's RNG: a function of the run seed and the epoch only. */
export function epochRng(seed: number, epoch: number): Rng {
  return createRng((Math.imul(seed | 0, 1_000_003) + Math.imul(epoch + 1, 7919)) | 0);
}

export class TrainSource {
  readonly opts: Readonly<TrainSourceOptions>;
  readonly shuffleBuffer: number;
  #stats: SourceStats | null = null;
  /** Encoded examples in file order, when the file fits in the shuffle buffer. */
  #cache: EncodedExample[] | null = null;

  constructor(opts: TrainSourceOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize >= 1)) throw new DataError(`batch size must be an integer >= 1, got ${opts.batchSize}`, { field: 'batch-size' });
    if (opts.maxExamples !== undefined && !(Number.isInteger(opts.maxExamples) && opts.maxExamples >= 1)) {
      throw new DataError(`max examples must be an integer >= 1, got ${opts.maxExamples}`, { field: 'max-train-examples' });
    }
    this.opts = opts;
    this.shuffleBuffer = opts.shuffleBuffer ?? TRAIN_DEFAULTS.shuffleBuffer;
  }

  async *#records(): AsyncGenerator<DataRecord> {
    let n = 0;
    const max = this.opts.maxExamples ?? Infinity;
    if (max <= 0) return;
    let i = 0;
    for await (const r of readRecords(this.opts.file)) {
      if (this.opts.exclude?.has(i++)) continue;
      yield r;
      if (++n >= max) return;
    }
  }

  async *#encoded(): AsyncGenerator<EncodedExample> {
    if (this.#cache) {
      yield* this.#cache;
      return;
    }
    for await (const r of this.#records()) yield this.opts.encoder.encode(r);
  }

  /**
   * One streaming pass that encodes every example (so a bad record fails before training starts)
   * and counts them. Keeps the encodings when they fit in the shuffle buffer.
   */
  async stats(): Promise<SourceStats> {
    if (this.#stats) return this.#stats;
    let examples = 0;
    let truncated = 0;
    let longest = 0;
    let keep: EncodedExample[] | null = [];
    for await (const r of this.#records()) {
      const e = this.opts.encoder.encode(r);
      if (e.labelIndex < 0) throw new DataError(`record has no label; training needs the "${this.opts.encoder.labelField}" field`, { file: e.file, line: e.line, field: this.opts.encoder.labelField });
      examples++;
      if (e.truncated) truncated++;
      longest = Math.max(longest, e.promptIds.length + e.targetIds.length);
      if (keep) {
        keep.push(e);
        if (keep.length > this.shuffleBuffer) keep = null;
      }
    }
    if (examples === 0) throw new DataError('training split is empty: no records to train on', { file: this.opts.file });
    this.#cache = keep;
    this.#stats = { examples, batchesPerEpoch: Math.ceil(examples / this.opts.batchSize), truncated, longest };
    return this.#stats;
  }

  /** All examples through the seeded shuffle buffer. */
  async *#shuffled(rng: Rng): AsyncGenerator<EncodedExample> {
    const size = this.shuffleBuffer;
    const buf: EncodedExample[] = [];
    for await (const e of this.#encoded()) {
      if (buf.length < size) {
        buf.push(e);
        continue;
      }
      const j = randomInt(rng, size);
      const out = buf[j]!;
      buf[j] = e;
      yield out;
    }
    yield* shuffleInPlace(buf, rng);
  }

  /** The batches of `epoch` (0-based), skipping the first `skip` (to resume). */
  async *batches(epoch: number, skip = 0): AsyncGenerator<EncodedExample[]> {
    await this.stats();
    const rng = epochRng(this.opts.seed, epoch);
    const bs = this.opts.batchSize;
    let index = 0;
    const emit = function* (batches: EncodedExample[][]): Generator<EncodedExample[]> {
      for (const b of batches) if (index++ >= skip) yield b;
    };
    if (!this.opts.bucket) {
      let cur: EncodedExample[] = [];
      for await (const e of this.#shuffled(rng)) {
        cur.push(e);
        if (cur.length === bs) {
          yield* emit([cur]);
          cur = [];
        }
      }
      if (cur.length) yield* emit([cur]);
      return;
    }
    // Bucketing: sort a window of examples by length, cut it into batches, shuffle the batches.
    const window = bs * (this.opts.bucketWindow ?? 32);
    let pool: EncodedExample[] = [];
    const flush = (): EncodedExample[][] => {
      pool.sort((a, b) => exampleLength(a) - exampleLength(b));
      const out: EncodedExample[][] = [];
      for (let i = 0; i < pool.length; i += bs) out.push(pool.slice(i, i + bs));
      pool = [];
      return shuffleInPlace(out, rng);
    };
    for await (const e of this.#shuffled(rng)) {
      pool.push(e);
      if (pool.length === window) yield* emit(flush());
    }
    if (pool.length) yield* emit(flush());
  }
}
