/**
 * Exact GELU, x·Φ(x) = 0.5·x·(1 + erf(x/√2)), as torch's nn.GELU() / HF's "gelu" (GPT-NeoX/Pythia).
 * Built from ONNX Erf so float32 and float64 behave alike; d/dx = Φ(x) + x·φ(x).
 */
import { registerOp } from '../registry.ts';
import type { Value } from '../types.ts';
import { add, mul } from './binary.ts';
import { exp } from './unary.ts';

registerOp({
  type: 'Erf',
  infer: ([x]) => [{ dtype: x!.dtype, shape: x!.shape }],
  // erf'(x) = 2/√π · exp(−x²)
  vjp: (node, [dy], wants) => {
    const x = node.inputs[0]!;
    return [wants[0] ? mul(dy!, mul(exp(mul(mul(x, x), -1)), 2 / Math.sqrt(Math.PI))) : null];
  },
});

export function erf(x: Value): Value {
  return x.graph.op1('Erf', [x]);
}

export function geluErf(x: Value): Value {
  return mul(mul(x, 0.5), add(erf(mul(x, Math.SQRT1_2)), 1));
}
