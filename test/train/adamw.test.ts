import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../../src/tensor.ts';
import { AdamW, clipGradNorm, OptimizerError } from '../../src/train/adamw.ts';
import type { AdamWState } from '../../src/train/adamw.ts';

/**
 * Independent reference: torch.optim.AdamW's documented algorithm, in float64 JS numbers.
 *   θ ← θ − γλθ;  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²
 *   m̂ = m / (1−β1^t);  v̂ = v / (1−β2^t);  θ ← θ − γ m̂ / (√v̂ + ε)
 */
function referenceAdamW(p0: number[], grads: number[][], lrs: number[], b1: number, b2: number, eps: number, wd: number): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    const lr = lrs[k]!;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! - lr * wd * p[i]!;
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const mHat = m[i]! / (1 - b1 ** t);
      const vHat = v[i]! / (1 - b2 ** t);
      p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
  return p;
}

const P0 = [0.5, -1.25, 2.0, 0.0, -0.03125];
const GRADS = [
  [0.1, -0.2, 0.3, 0.0, 1.5],
  [-0.05, 0.4, 0.25, 1e-4, -2.0],
  [0.2, 0.1, -0.6, -3e-3, 0.75],
];

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `element ${i}: ${actual[i]} vs ${expected[i]} (tol ${tol})`);
  }
}

/** Deterministic pseudo-random floats in [-1, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

describe('AdamW', () => {
  for (const wd of [0, 0.01, 0.3]) {
    it(`matches torch's formulas over 3 steps (weightDecay ${wd})`, () => {
      const w = Float32Array.from(P0);
      const opt = new AdamW({ w }, { lr: 0.1, weightDecay: wd });
      for (const g of GRADS) opt.step({ w: Float32Array.from(g) });
      assert.equal(opt.stepCount, 3);
      // The reference starts from the float32-rounded params the optimizer sees.
      const ref = referenceAdamW(Array.from(Float32Array.from(P0)), GRADS.map((g) => Array.from(Float32Array.from(g))), [0.1, 0.1, 0.1], 0.9, 0.999, 1e-8, wd);
      assertClose(w, ref, 1e-6);
    });
  }

  it('weight decay changes the result, and only through the decoupled term', () => {
    const a = Float32Array.from(P0);
    const b = Float32Array.from(P0);
    const optA = new AdamW({ w: a }, { lr: 0.1, weightDecay: 0 });
    const optB = new AdamW({ w: b }, { lr: 0.1, weightDecay: 0.5 });
    for (const g of GRADS) {
      optA.step({ w: Float32Array.from(g) });
      optB.step({ w: Float32Array.from(g) });
    }
    assert.ok(a.some((x, i) => x !== b[i]), 'weight decay had no effect');
    // With all-zero grads, one step is pure decay: p·(1 − lr·wd) (m = v = 0, update 0/(0+eps) = 0).
    const c = Float32Array.from(P0);
    new AdamW({ c }, { lr: 0.1, weightDecay: 0.5 }).step({ c: new Float32Array(P0.length) });
    assertClose(c, P0.map((x) => x * (1 - 0.1 * 0.5)), 1e-7);
  });

  it('uses default betas/eps/weightDecay of torch.optim.AdamW', () => {
    const opt = new AdamW({ w: new Float32Array(1) }, { lr: 1e-3 });
    assert.deepEqual(opt.betas, [0.9, 0.999]);
    assert.equal(opt.eps, 1e-8);
    assert.equal(opt.weightDecay, 0.01);
  });

  it('takes a per-step lr (schedules) and custom betas/eps', () => {
    const lrs = [0.05, 0.2, 0.01];
    const w = Float32Array.from(P0);
    const opt = new AdamW(new Map([['w', w]]), { lr: 123, betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.1 });
    GRADS.forEach((g, k) => opt.step(new Map([['w', Float32Array.from(g)]]), lrs[k]));
    const ref = referenceAdamW(Array.from(Float32Array.from(P0)), GRADS.map((g) => Array.from(Float32Array.from(g))), lrs, 0.8, 0.95, 1e-3, 0.1);
    assertClose(w, ref, 1e-6);
    assert.equal(opt.lr, 123, 'a per-step lr must not change the default');
  });

  it('updates several params, given as Tensors, in place', () => {
    const a = tensor('float32', [2, 2], Float32Array.from([1, 2, 3, 4]));
    const b = tensor('float32', [3], Float32Array.from([-1, 0, 1]));
    const opt = new AdamW({ a, b }, { lr: 0.01, weightDecay: 0 });
    opt.step({ a: tensor('float32', [2, 2], Float32Array.from([1, -1, 1, -1])), b: Float32Array.from([0.5, 0.5, -0.5]) });
    // First step of Adam moves each element by ≈ lr·sign(g).
    assertClose(a.data, [0.99, 2.01, 2.99, 4.01], 1e-6);
    assertClose(b.data, [-1.01, -0.01, 1.01], 1e-6);
  });

  it('export → import resumes bit for bit', () => {
    const rnd = lcg(7);
    const n = 257;
    const init = { x: Float32Array.from({ length: n }, rnd), y: Float32Array.from({ length: 5 }, rnd) };
    const grads = Array.from({ length: 12 }, () => ({ x: Float32Array.from({ length: n }, rnd), y: Float32Array.from({ length: 5 }, rnd) }));
    const lrs = grads.map((_, k) => 0.01 * (1 - k / 12));
    const opts = { lr: 0.01, betas: [0.9, 0.98] as [number, number], eps: 1e-6, weightDecay: 0.05 };

    // Uninterrupted run.
    const full = { x: init.x.slice(), y: init.y.slice() };
    const optFull = new AdamW(full, opts);
    grads.forEach((g, k) => optFull.step(g, lrs[k]));

    // 5 steps, save (through JSON for the numbers, plain arrays for the typed data), resume in a new optimizer.
    const first = { x: init.x.slice(), y: init.y.slice() };
    const opt1 = new AdamW(first, opts);
    for (let k = 0; k < 5; k++) opt1.step(grads[k]!, lrs[k]);
    const saved = opt1.exportState();
    const { m, v, ...scalars } = saved;
    const json = JSON.parse(JSON.stringify(scalars)) as Omit<AdamWState, 'm' | 'v'>;
    const bytes = (r: Record<string, Float32Array>): Record<string, Float32Array> =>
      Object.fromEntries(Object.entries(r).map(([k, a]) => [k, new Float32Array(Buffer.from(a.buffer.slice(0)).buffer)]));
    const restored: AdamWState = { ...json, m: bytes(m), v: bytes(v) };

    const resumed = { x: first.x.slice(), y: first.y.slice() };
    const opt2 = new AdamW(resumed, opts);
    opt2.importState(restored);
    assert.equal(opt2.stepCount, 5);
    for (let k = 5; k < grads.length; k++) opt2.step(grads[k]!, lrs[k]);

    assert.deepEqual(Buffer.from(resumed.x.buffer), Buffer.from(full.x.buffer));
    assert.deepEqual(Buffer.from(resumed.y.buffer), Buffer.from(full.y.buffer));
    assert.deepEqual(opt2.exportState(), optFull.exportState());
    // The export is a copy: stepping further does not change it.
    opt1.step(grads[5]!);
    assert.equal(saved.step, 5);
    assert.notDeepEqual(opt1.exportState().m, saved.m);
  });

  it('names the param in errors and leaves state untouched on a bad step', () => {
    const w = Float32Array.from([1, 2, 3]);
    const u = tensor('float32', [2, 3], new Float32Array(6));
    const opt = new AdamW({ w, u }, { lr: 0.1 });
    const okU = tensor('float32', [2, 3], new Float32Array(6));
    assert.throws(() => opt.step({ u: okU }), (e: unknown) => e instanceof OptimizerError && /missing gradient for param "w"/.test(e.message));
    assert.throws(() => opt.step({ w: new Float32Array(2), u: okU }), /gradient for "w" has 2 elements but the param has 3/);
    assert.throws(() => opt.step({ w: new Float32Array(3), u: tensor('float32', [3, 2], new Float32Array(6)) }), /gradient for "u" has shape \[3, 2\] but the param has shape \[2, 3\]/);
    assert.throws(() => opt.step({ w: new Float32Array(3), u: okU, z: new Float32Array(1) }), /gradient for "z", which is not a param/);
    assert.throws(() => opt.step({ w: new Float64Array(3) as unknown as Float32Array, u: okU }), /gradient "w" must be a Float32Array/);
    assert.throws(() => opt.step({ w: new Float32Array(3), u: okU }, NaN), /lr must be/);
    assert.equal(opt.stepCount, 0);
    assert.deepEqual(Array.from(w), [1, 2, 3]);
  });

  it('rejects a state that does not fit', () => {
    const opt = new AdamW({ w: new Float32Array(3) }, { lr: 0.1 });
    const good = opt.exportState();
    const other = new AdamW({ w: new Float32Array(3) }, { lr: 0.1, weightDecay: 0 });
    assert.throws(() => other.importState(good), /saved weightDecay is 0.01 but this optimizer has 0/);
    assert.throws(() => opt.importState({ ...good, m: {} }), /saved state has no m for param "w"/);
    assert.throws(() => opt.importState({ ...good, v: { w: new Float32Array(4) } }), /saved v for "w" has 4 elements but the param has 3/);
    assert.throws(() => opt.importState({ ...good, m: { ...good.m, q: new Float32Array(1) } }), /m for "q", which is not a param/);
    assert.throws(() => new AdamW({}, { lr: 0.1 }), /no params/);
    assert.throws(() => new AdamW({ w: new Float32Array(1) }, { lr: 0.1, betas: [1, 0.9] }), /betas\[0\] must be in \[0, 1\)/);
  });
});

describe('clipGradNorm', () => {
  const direct = (arrs: number[][]): number => Math.sqrt(arrs.flat().reduce((s, x) => s + x * x, 0));

  it('returns the global L2 norm and scales by maxNorm / (norm + 1e-6) when above', () => {
    const a = [3, -4, 0.5];
    const b = [12, 0.25];
    const grads = { a: Float32Array.from(a), b: Float32Array.from(b) };
    const ref = direct([Array.from(grads.a), Array.from(grads.b)]);
    const norm = clipGradNorm(grads, 1.0);
    assert.ok(Math.abs(norm - ref) < 1e-12, `${norm} vs ${ref}`);
    const coef = 1.0 / (ref + 1e-6);
    assertClose(grads.a, a.map((x) => Math.fround(x) * coef), 1e-7);
    assertClose(grads.b, b.map((x) => Math.fround(x) * coef), 1e-7);
    assert.ok(Math.abs(direct([Array.from(grads.a), Array.from(grads.b)]) - 1) < 1e-5);
  });

  it('leaves gradients alone below maxNorm, and accepts Maps, Tensors and arrays', () => {
    const g = Float32Array.from([0.1, 0.2, -0.2]);
    const before = g.slice();
    const norm = clipGradNorm(new Map([['g', tensor('float32', [3], g)]]), 5);
    assert.ok(Math.abs(norm - 0.3) < 1e-7);
    assert.deepEqual(g, before);
    assert.ok(Math.abs(clipGradNorm([g], 5) - 0.3) < 1e-7);
  });

  it('accumulates in float64 over many small elements', () => {
    const n = 1 << 20;
    const g = new Float32Array(n).fill(1e-3);
    const norm = clipGradNorm({ g }, 10);
    const ref = Math.sqrt(n * Math.fround(1e-3) ** 2);
    assert.ok(Math.abs(norm - ref) / ref < 1e-9, `${norm} vs ${ref}`); // a float32 accumulator is off by ~6e-3 here
  });

  it('returns a non-finite norm without touching the gradients', () => {
    const g = Float32Array.from([1, Infinity, 2]);
    assert.equal(clipGradNorm({ g }, 1), Infinity);
    assert.deepEqual(Array.from(g), [1, Infinity, 2]);
    assert.throws(() => clipGradNorm({ g }, -1), /maxNorm must be/);
  });
});
