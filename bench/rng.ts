/** A small, fast, seeded RNG for benchmark inputs (sfc32: 128-bit state, passes PractRand). */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }

  u32(): number {
    let { a, b, c, d } = this;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.a = a; this.b = b; this.c = c; this.d = d;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Fill `out` with N(mean, std²) samples (Box–Muller, two per pair of uniforms). */
  fillNormal(out: Float32Array, std: number, mean = 0): Float32Array {
    const n = out.length;
    let i = 0;
    for (; i + 1 < n; i += 2) {
      const u1 = 1 - this.uniform(); // (0, 1]
      const u2 = this.uniform();
      const r = std * Math.sqrt(-2 * Math.log(u1));
      const th = 2 * Math.PI * u2;
      out[i] = mean + r * Math.cos(th);
      out[i + 1] = mean + r * Math.sin(th);
    }
    if (i < n) out[i] = mean + std * Math.sqrt(-2 * Math.log(1 - this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
    return out;
  }
}
