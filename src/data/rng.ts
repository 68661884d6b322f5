/**
 * A small seeded random number generator (mulberry32) and the helpers built on it, so that
 * shuffling, sampling, bucketing and demonstration choice are reproducible from one seed.
 */

/** Returns a float in [0, 1). */
export type Rng = () => number;

/** mulberry32: 32-bit state, fast, good enough for shuffling. Equal seeds give equal streams. */
export function createRng(seed: number): Rng {
  let a = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng() * n);
}

/** Fisher-Yates shuffle of `items` in place; returns `items`. */
export function shuffleInPlace<T>(items: T[], rng: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = items[i]!;
    items[i] = items[j]!;
    items[j] = tmp;
  }
  return items;
}

/** A shuffled copy of `items`. */
export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  return shuffleInPlace([...items], rng);
}

/**
 * A uniform sample of `n` items from a stream of unknown length (reservoir sampling, algorithm R),
 * holding only `n` items in memory. The sample is returned in stream order.
 */
export async function reservoirSample<T>(items: AsyncIterable<T> | Iterable<T>, n: number, rng: Rng): Promise<T[]> {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`reservoirSample: n must be a non-negative integer, got ${n}`);
  const kept: { index: number; item: T }[] = [];
  let seen = 0;
  for await (const item of items) {
    if (kept.length < n) kept.push({ index: seen, item });
    else {
      const j = randomInt(rng, seen + 1);
      if (j < n) kept[j] = { index: seen, item };
    }
    seen++;
  }
  return kept.sort((a, b) => a.index - b.index).map((k) => k.item);
}
