/**
 * Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), as torch's nn.GELU() / HF's "gelu" (GPT-NeoX/Pythia).
 * float32 uses ONNX Erf; ONNX Runtime has no float64 Erf, so float64 (the finite-difference checks)
 * composes erf to ~1e-15 from primitives and differentiates that composition.
 */
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';
import { add, div, mul, sub } from './binary.ts';
import { less, where } from './logic.ts';
import { exp, neg } from './unary.ts';

registerOp({
  type: 'Erf',
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  // erf'(x) = 2/√π · exp(−x²)
  vjp: (node, [dy], wants) => {
    const x = node.inputs[0]!;
    return [wants[0] ? mul(dy!, mul(exp(mul(mul(x, x), -1)), 2 / Math.sqrt(Math.PI))) : null];
  },
});

/** Taylor terms for |z| < 2 (last term < 2e-16 there) and continued-fraction depth for |z| ≥ 2 (< 3e-16 at z = 2). */
const TAYLOR_TERMS = 30;
const CF_DEPTH = 40;

/** erf(z) = 2/√π · Σ (−1)ⁿ z^(2n+1) / (n!·(2n+1)), Horner in z². */
function erfTaylor(z: Value): Value {
  const coef: number[] = [];
  let fact = 1;
  for (let n = 0; n <= TAYLOR_TERMS; n++) {
    if (n > 0) fact *= n;
    coef.push((n % 2 ? -1 : 1) / (fact * (2 * n + 1)));
  }
  const z2 = mul(z, z);
  let s: Value = mul(z2, coef[TAYLOR_TERMS]!);
  for (let n = TAYLOR_TERMS - 1; n > 0; n--) s = mul(add(s, coef[n]!), z2);
  return mul(add(s, coef[0]!), mul(z, 2 / Math.sqrt(Math.PI)));
}

/** erfc(z), z ≥ 2: exp(−z²)/√π · 1/(z + (1/2)/(z + (2/2)/(z + (3/2)/(z + …)))). */
function erfcContinuedFraction(z: Value): Value {
  let t: Value = z;
  for (let k = CF_DEPTH; k >= 1; k--) t = add(z, div(k / 2, t));
  return div(mul(exp(neg(mul(z, z))), 1 / Math.sqrt(Math.PI)), t);
}

export function erf(x: Value): Value {
  if (x.dtype === 'float32') return x.graph.op1('Erf', [x]);
  // Each branch gets an input clamped to its own range, so the unused one stays finite (its
  // gradient is multiplied by zero, and 0·∞ would be NaN).
  const negative = less(x, 0);
  const a = where(negative, neg(x), x);
  const small = less(a, 2);
  const tail = sub(1, erfcContinuedFraction(where(small, 2, a)));
  return where(small, erfTaylor(where(small, x, 0)), where(negative, neg(tail), tail));
}

export function geluErf(x: Value): Value {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
