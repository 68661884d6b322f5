/** A seeded generator (mulberry32) and random JSON values for the fuzz tests: the same seed, the same corpus. */
export class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const ODD_STRINGS = ['', ' ', '\u0000', '\uFFFD', '\uD800', '😀😀', 'ﬁ', '\n\n\n', '{text}', '{', '}', '{soft:3}', '{soft:999999}', '<s>', '</s>', '<|endoftext|>', 'a'.repeat(3000), 'Once upon a time'];
const ODD_NUMBERS = [0, -1, 1, 2, 0.5, -0.5, 1e308, -1e308, 2 ** 53, 2 ** 31, 1e-300, 4096, 100000, 3.7];

/** A random JSON value, `depth` levels deep at most. */
export function randomValue(r: Rng, depth = 2): unknown {
  switch (r.int(depth > 0 ? 8 : 5)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick(ODD_NUMBERS);
    case 3: return r.pick(ODD_STRINGS);
    case 4: return String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0x3000)));
    case 5: return Array.from({ length: r.int(6) }, () => randomValue(r, depth - 1));
    case 6: return Object.fromEntries(Array.from({ length: r.int(5) }, (_, i) => [r.pick(['text', 'a', 'label', '__proto__', 'constructor', `k${i}`]), randomValue(r, depth - 1)]));
    default: return r.pick(ODD_STRINGS);
  }
}

/** `base` with some fields removed, replaced by random values or added. */
export function mutateObject(r: Rng, base: Record<string, unknown>, extraKeys: readonly string[]): Record<string, unknown> {
  const o: Record<string, unknown> = structuredClone(base);
  const keys = [...Object.keys(o), ...extraKeys];
  for (let n = 1 + r.int(3); n > 0; n--) {
    const k = r.pick(keys);
    if (r.chance(0.2)) delete o[k];
    else o[k] = randomValue(r);
  }
  return o;
}

/** Text with a few characters replaced, removed or duplicated, or cut short. */
export function mutateText(r: Rng, text: string): string {
  let s = text;
  for (let n = 1 + r.int(4); n > 0; n--) {
    const i = r.int(s.length + 1);
    switch (r.int(4)) {
      case 0: s = s.slice(0, i) + String.fromCharCode(r.int(128)) + s.slice(i + 1); break;
      case 1: s = s.slice(0, i) + s.slice(i + 1 + r.int(5)); break;
      case 2: s = s.slice(0, i) + s.slice(i, i + r.int(20)) + s.slice(i); break;
      default: s = s.slice(0, i); break;
    }
  }
  return s;
}

/** Bytes with a few flipped, cut or duplicated. */
export function mutateBytes(r: Rng, bytes: Uint8Array): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (let n = 1 + r.int(4); n > 0; n--) {
    const i = r.int(b.length);
    switch (r.int(4)) {
      case 0: b[i] = r.int(256); break;
      case 1: b = b.slice(0, i); break;
      case 2: b[i] = b[i]! ^ (1 << r.int(8)); break;
      default: {
        // The header's length prefix and JSON are where the parser's trust lies.
        const j = r.int(Math.min(b.length, 200));
        b[j] = r.pick([0, 0xff, 0x7f, 0x22, 0x7b, 0x7d, 0x30, 0x39]);
      }
    }
  }
  return b;
}
