/** Element-wise unary ops and their derivatives, written in terms of the output where cheaper. */
import { GraphError } from '../../errors.ts';
import type { DType } from '../../tensor.ts';
import { registerOp } from '../registry.ts';
import type { OpDef } from '../registry.ts';
import type { Node, Value } from '../types.ts';
import { attr } from '../types.ts';
import { mul, sub, div, add } from './binary.ts';
import { isFloat } from './util.ts';

const sameType: OpDef['infer'] = (inputs) => [{ dtype: inputs[0]!.dtype, shape: inputs[0]!.shape }];

function unaryOp(type: string, grad: ((node: Node, dy: Value) => Value) | null): (x: Value) => Value {
  registerOp({
    type,
    infer: sameType,
    ...(grad ? { vjp: (node: Node, [dy]: readonly (Value | null)[], wants: readonly boolean[]) => [wants[0] ? grad(node, dy!) : null] } : {}),
  });
  return (x: Value) => x.graph.op1(type, [x]);
}

const X = (n: Node): Value => n.inputs[0]!;
const Y = (n: Node): Value => n.outputs[0]!;

export const identity = unaryOp('Identity', (_n, dy) => dy);
export const neg = unaryOp('Neg', (_n, dy) => neg(dy));
// tanh' = 1 - y²
export const tanh = unaryOp('Tanh', (n, dy) => mul(dy, sub(1, mul(Y(n), Y(n)))));
// σ' = y(1 - y)
export const sigmoid = unaryOp('Sigmoid', (n, dy) => mul(dy, mul(Y(n), sub(1, Y(n)))));
export const exp = unaryOp('Exp', (n, dy) => mul(dy, Y(n)));
export const log = unaryOp('Log', (n, dy) => div(dy, X(n)));
// sqrt' = 1 / (2y)
export const sqrt = unaryOp('Sqrt', (n, dy) => div(dy, mul(Y(n), 2)));
// (1/x)' = -y²
export const reciprocal = unaryOp('Reciprocal', (n, dy) => neg(mul(dy, mul(Y(n), Y(n)))));
export const sin = unaryOp('Sin', (n, dy) => mul(dy, cos(X(n))));
export const cos = unaryOp('Cos', (n, dy) => neg(mul(dy, sin(X(n)))));
// relu' = 1 where y > 0: Sign(y) is 1 there and 0 elsewhere, one op instead of a compare and a Where.
export const relu = unaryOp('Relu', (n, dy) => mul(dy, Y(n).graph.op1('Sign', [Y(n)])));
export const sign = unaryOp('Sign', null);
export const not = unaryOp('Not', null);

registerOp({
  type: 'Cast',
  infer: (_inputs, attrs) => {
    const to = attrs['to'];
    if (!to || to.kind !== 'int') throw new GraphError('Cast: missing "to"');
    return [{ dtype: onnxToDtype(to.value), shape: _inputs[0]!.shape }];
  },
  vjp: (node, [dy], wants) => {
    const x = node.inputs[0]!;
    return [wants[0] && isFloat(x.dtype) ? cast(dy!, x.dtype) : null];
  },
});

export function cast(x: Value, to: DType): Value {
  if (x.dtype === to) return x;
  return x.graph.op1('Cast', [x], { to: attr.int(dtypeToOnnx(to)) });
}

const ONNX_CODES: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float64: 11 };

export function dtypeToOnnx(d: DType): number {
  return ONNX_CODES[d];
}

export function onnxToDtype(code: number): DType {
  for (const [k, v] of Object.entries(ONNX_CODES)) if (v === code) return k as DType;
  throw new GraphError(`unsupported ONNX element type ${code}`);
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** gelu_new from primitives: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanhComposed(x: Value): Value {
  const inner = mul(add(x, mul(mul(mul(x, x), x), GELU_A)), GELU_C);
  return mul(mul(x, 0.5), add(tanh(inner), 1));
}

/**
 * gelu_new (tanh approximation), as GPT-2 uses. In float32 it is one fused FastGelu
 * (com.microsoft) whose backward recomputes tanh from x, so training keeps one tensor
 * per MLP instead of six; ORT has no float64 FastGelu, so float64 builds compose it.
 */
export function geluTanh(x: Value): Value {
  return x.dtype === 'float32' ? x.graph.op1('FastGelu', [x], {}, 'com.microsoft') : geluTanhComposed(x);
}

registerOp({
  type: 'FastGelu',
  domain: 'com.microsoft',
  infer: sameType,
  // d/dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3a·x²),  t = tanh(c·(x + a·x³))
  vjp: (node, [dy], wants) => {
    if (!wants[0]) return [null];
    const x = X(node);
    const x2 = mul(x, x);
    const t = tanh(mul(mul(x, add(mul(x2, GELU_A), 1)), GELU_C));
    const dt = mul(mul(sub(1, mul(t, t)), add(mul(x2, 3 * GELU_A * GELU_C), GELU_C)), mul(x, 0.5));
    return [mul(dy!, add(mul(add(t, 1), 0.5), dt))];
  },
});

/** SiLU x·σ(x), as Llama's MLP uses. */
export function silu(x: Value): Value {
  return mul(x, sigmoid(x));
}
