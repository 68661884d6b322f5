/**
 * AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments, amsgrad off),
 * updating float32 params in place, plus global-norm gradient clipping as
 * torch.nn.utils.clip_grad_norm_.
 *
 * Per element and step t (torch's order of operations):
 *   p ← p · (1 − lr·wd)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * m and v are kept in float32 like torch's state for float32 params; each element's update is
 * computed in float64 (JS numbers) and rounded once when stored.
 *
 * The state (step count, m and v per param, hyper-parameters) exports to typed arrays plus
 * JSON-able numbers and imports back, so a resumed run continues bit for bit.
 */
import { SoftpromptError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { TRAIN_DEFAULTS } from './defaults.ts';

/** torch.optim.AdamW's default weight decay. */
const TORCH_WEIGHT_DECAY = 0.01;

export class OptimizerError extends SoftpromptError {}

/** A trainable tensor: its data array is updated in place. A Tensor also gives its shape to checks. */
export type ParamLike = Float32Array | Tensor<'float32'>;
/** Tensors keyed by param name. */
export type NamedArrays<T = ParamLike> = Readonly<Record<string, T>> | ReadonlyMap<string, T>;

export interface AdamWOptions {
  /** Learning rate; `step(grads, lr)` overrides it for that step (schedules). */
  lr: number;
  /** (β1, β2); default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay; default 0.01 (torch's AdamW default). */
  weightDecay?: number;
}

/** Everything needed to resume exactly. Typed arrays are copies; the rest is JSON-able. */
export interface AdamWState {
  /** Steps taken so far (torch's state["step"]). */
  step: number;
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** First moment (exp_avg) per param. */
  m: Record<string, Float32Array>;
  /** Second moment (exp_avg_sq) per param. */
  v: Record<string, Float32Array>;
}

function entries<T>(x: NamedArrays<T>): [string, T][] {
  return x instanceof Map ? [...x.entries()] : Object.entries(x as Record<string, T>);
}

function dataOf(x: ParamLike): Float32Array {
  return x instanceof Float32Array ? x : x.data;
}

function shapeOf(x: ParamLike): readonly number[] | null {
  return x instanceof Float32Array ? null : x.shape;
}

function checkNumber(name: string, v: number, ok: (v: number) => boolean, want: string): void {
  if (typeof v !== 'number' || !ok(v)) throw new OptimizerError(`AdamW: ${name} must be ${want}, got ${String(v)}`);
}

function checkFloat32(what: string, name: string, x: unknown): void {
  const data = x instanceof Float32Array ? x : (x as Tensor | undefined)?.data;
  if (!(data instanceof Float32Array)) {
    throw new OptimizerError(`AdamW: ${what} "${name}" must be a Float32Array or a float32 Tensor`);
  }
}

export class AdamW {
  private readonly params = new Map<string, ParamLike>();
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();
  private t = 0;
  lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: NamedArrays, opts: AdamWOptions) {
    const betas = opts.betas ?? [TRAIN_DEFAULTS.beta1, TRAIN_DEFAULTS.beta2];
    const eps = opts.eps ?? TRAIN_DEFAULTS.adamEps;
    // torch.optim.AdamW's own default; the training recipe's (TRAIN_DEFAULTS, 0) is passed by the trainer.
    const weightDecay = opts.weightDecay ?? TORCH_WEIGHT_DECAY;
    checkNumber('lr', opts.lr, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    betas.forEach((b, i) => checkNumber(`betas[${i}]`, b, (x) => x >= 0 && x < 1, 'in [0, 1)'));
    checkNumber('eps', eps, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    checkNumber('weightDecay', weightDecay, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    this.lr = opts.lr;
    this.betas = [betas[0], betas[1]];
    this.eps = eps;
    this.weightDecay = weightDecay;
    for (const [name, p] of entries(params)) {
      checkFloat32('param', name, p);
      this.params.set(name, p);
      this.m.set(name, new Float32Array(dataOf(p).length));
      this.v.set(name, new Float32Array(dataOf(p).length));
    }
    if (this.params.size === 0) throw new OptimizerError('AdamW: no params to optimise');
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.t;
  }

  /** Param names, in the order they were given. */
  get paramNames(): string[] {
    return [...this.params.keys()];
  }

  /**
   * One update with `grads` (one per param, same length and, where both are Tensors, same
   * shape). `lr` overrides the learning rate for this step only. Everything is checked before
   * any param changes, so a bad call leaves the optimizer untouched.
   */
  step(grads: NamedArrays, lr = this.lr): void {
    checkNumber('lr', lr, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    const given = new Map(entries(grads));
    for (const name of given.keys()) {
      if (!this.params.has(name)) {
        throw new OptimizerError(`AdamW: got a gradient for "${name}", which is not a param (params: ${this.paramNames.join(', ')})`);
      }
    }
    const work: [Float32Array, Float32Array, Float32Array, Float32Array][] = [];
    for (const [name, p] of this.params) {
      const g = given.get(name);
      if (g === undefined) throw new OptimizerError(`AdamW: missing gradient for param "${name}" (got: ${[...given.keys()].join(', ') || 'none'})`);
      checkFloat32('gradient', name, g);
      const pd = dataOf(p);
      const gd = dataOf(g);
      if (gd.length !== pd.length) {
        throw new OptimizerError(`AdamW: gradient for "${name}" has ${gd.length} elements but the param has ${pd.length}`);
      }
      const ps = shapeOf(p);
      const gs = shapeOf(g);
      if (ps && gs && (ps.length !== gs.length || ps.some((d, i) => d !== gs[i]))) {
        throw new OptimizerError(`AdamW: gradient for "${name}" has shape [${gs.join(', ')}] but the param has shape [${ps.join(', ')}]`);
      }
      work.push([pd, gd, this.m.get(name)!, this.v.get(name)!]);
    }

    const t = ++this.t;
    const [b1, b2] = this.betas;
    const eps = this.eps;
    const decay = 1 - lr * this.weightDecay;
    const bc1 = 1 - b1 ** t;
    const bc2Sqrt = Math.sqrt(1 - b2 ** t);
    const stepSize = lr / bc1;
    const c1 = 1 - b1;
    const c2 = 1 - b2;
    for (const [p, g, m, v] of work) {
      const n = p.length;
      for (let i = 0; i < n; i++) {
        const gi = g[i]!;
        // Stores round to float32 at the same points torch does (m, v and p are float32 tensors).
        const mi = (m[i] = b1 * m[i]! + c1 * gi);
        const vi = (v[i] = b2 * v[i]! + c2 * gi * gi);
        const pi = Math.fround(p[i]! * decay);
        p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
      }
    }
  }

  /** A copy of the full state (typed arrays copied, so later steps do not change it). */
  exportState(): AdamWState {
    const copy = (src: Map<string, Float32Array>): Record<string, Float32Array> =>
      Object.fromEntries([...src].map(([k, a]) => [k, a.slice()]));
    return {
      step: this.t,
      lr: this.lr,
      betas: [this.betas[0], this.betas[1]],
      eps: this.eps,
      weightDecay: this.weightDecay,
      m: copy(this.m),
      v: copy(this.v),
    };
  }

  /**
   * Restore a state from exportState (step count, moments and lr). The params themselves are
   * not part of it: restore them separately. betas, eps and weightDecay must match this
   * optimizer's, so a resume cannot silently change the recipe.
   */
  importState(state: AdamWState): void {
    checkNumber('state.step', state.step, (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0');
    const same = (what: string, a: number, b: number): void => {
      if (a !== b) throw new OptimizerError(`AdamW: saved ${what} is ${a} but this optimizer has ${b}; build it with the saved options`);
    };
    same('betas[0]', state.betas[0], this.betas[0]);
    same('betas[1]', state.betas[1], this.betas[1]);
    same('eps', state.eps, this.eps);
    same('weightDecay', state.weightDecay, this.weightDecay);
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const [which, src, dst] of [['m', state.m, m], ['v', state.v, v]] as const) {
      for (const name of Object.keys(src)) {
        if (!this.params.has(name)) throw new OptimizerError(`AdamW: saved state has ${which} for "${name}", which is not a param (params: ${this.paramNames.join(', ')})`);
      }
      for (const [name, p] of this.params) {
        const a = src[name];
        if (a === undefined) throw new OptimizerError(`AdamW: saved state has no ${which} for param "${name}"`);
        if (!(a instanceof Float32Array)) throw new OptimizerError(`AdamW: saved ${which} for "${name}" must be a Float32Array`);
        if (a.length !== dataOf(p).length) {
          throw new OptimizerError(`AdamW: saved ${which} for "${name}" has ${a.length} elements but the param has ${dataOf(p).length}`);
        }
        dst.set(name, a.slice());
      }
    }
    checkNumber('state.lr', state.lr, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    this.m = m;
    this.v = v;
    this.t = state.step;
    this.lr = state.lr;
  }
}

/**
 * Clip gradients in place to a global L2 norm of at most `maxNorm`, like
 * torch.nn.utils.clip_grad_norm_ (norm_type 2): the norm over all gradients together is
 * accumulated in float64 and every gradient is multiplied by min(1, maxNorm / (norm + 1e-6)).
 * Returns the norm before clipping. A non-finite norm (NaN/Inf in a gradient) is returned
 * without touching the gradients, so the caller can skip the step.
 */
export function clipGradNorm(grads: NamedArrays | Iterable<ParamLike>, maxNorm: number): number {
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0)) throw new OptimizerError(`clipGradNorm: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  const list: Float32Array[] = [];
  if (grads instanceof Map) for (const g of grads.values()) list.push(dataOf(g));
  else if (Symbol.iterator in (grads as object)) for (const g of grads as Iterable<ParamLike>) list.push(dataOf(g));
  else for (const g of Object.values(grads as Record<string, ParamLike>)) list.push(dataOf(g));
  let sum = 0;
  for (const g of list) {
    const n = g.length;
    for (let i = 0; i < n; i++) sum += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm)) return norm;
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const g of list) {
      const n = g.length;
      for (let i = 0; i < n; i++) g[i] = g[i]! * coef;
    }
  }
  return norm;
}
