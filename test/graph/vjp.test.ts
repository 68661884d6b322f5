/** Every VJP rule against central finite differences, in float64. */
import { test } from 'node:test';
import * as op from '../../src/graph/index.ts';
import { int64, tensor } from '../../src/tensor.ts';
import { float32MatchesFloat64, gradCheck, randn } from '../helpers/gradcheck.ts';

const A = randn([2, 3, 4], 1);
const B = randn([2, 3, 4], 2);
const POS = randn([2, 3, 4], 3, 0.3, 1.5); // strictly positive for Log / Sqrt / Div

test('Add with broadcasting', () => gradCheck({ inputs: { a: A, b: randn([3, 1], 4) }, build: (_g, x) => op.add(x.a!, x.b!) }));
test('Sub with broadcasting', () => gradCheck({ inputs: { a: randn([4], 5), b: B }, build: (_g, x) => op.sub(x.a!, x.b!) }));
test('Mul with broadcasting', () => gradCheck({ inputs: { a: A, b: randn([1, 3, 1], 6) }, build: (_g, x) => op.mul(x.a!, x.b!) }));
test('Div', () => gradCheck({ inputs: { a: A, b: POS }, build: (_g, x) => op.div(x.a!, x.b!) }));
test('Pow with a constant exponent', () => gradCheck({ inputs: { a: POS }, build: (_g, x) => op.pow(x.a!, 3) }));
test('Neg', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.neg(x.a!) }));
test('Tanh', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.tanh(x.a!) }));
test('Sigmoid', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.sigmoid(x.a!) }));
test('Exp', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.exp(x.a!) }));
test('Log', () => gradCheck({ inputs: { a: POS }, build: (_g, x) => op.log(x.a!) }));
test('Sqrt', () => gradCheck({ inputs: { a: POS }, build: (_g, x) => op.sqrt(x.a!) }));
test('Reciprocal', () => gradCheck({ inputs: { a: POS }, build: (_g, x) => op.reciprocal(x.a!) }));
test('Sin', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.sin(x.a!) }));
test('Cos', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.cos(x.a!) }));
test('Relu (away from the kink)', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.relu(x.a!), eps: 1e-7 }));
test('Identity', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.identity(x.a!) }));
test('Cast through float32 and back', () =>
  gradCheck({ inputs: { a: A }, build: (_g, x) => op.cast(op.cast(x.a!, 'float32'), 'float64'), eps: 1e-2, tol: 1e-5 }));
test('gelu_new composite', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.geluTanh(x.a!) }));
test('SiLU composite', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.silu(x.a!) }));

test('MatMul with batch broadcasting', () =>
  gradCheck({ inputs: { a: randn([2, 3, 4], 7), b: randn([4, 5], 8) }, build: (_g, x) => op.matmul(x.a!, x.b!) }));
test('MatMul batched both sides', () =>
  gradCheck({ inputs: { a: randn([2, 1, 3, 4], 9), b: randn([3, 4, 2], 10) }, build: (_g, x) => op.matmul(x.a!, x.b!) }));

test('Reshape with 0 and -1', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.reshape(x.a!, [0, -1]) }));
test('Unsqueeze', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.unsqueeze(x.a!, [1]) }));
test('Squeeze', () => gradCheck({ inputs: { a: randn([2, 1, 4], 11) }, build: (_g, x) => op.squeeze(x.a!, [1]) }));
test('Transpose', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.transpose(x.a!, [2, 0, 1]) }));
test('Expand', () =>
  gradCheck({
    inputs: { a: randn([1, 3, 1], 12) },
    build: (g, x) => op.expand(x.a!, g.ints([2, 3, 4]), [2, 3, 4]),
  }));
test('Concat', () =>
  gradCheck({ inputs: { a: A, b: randn([2, 2, 4], 13) }, build: (_g, x) => op.concat([x.a!, x.b!], 1) }));
test('Split', () =>
  gradCheck({ inputs: { a: A }, build: (_g, x) => { const [p, q] = op.split(x.a!, 2, [1, 3]); return op.mul(p!, q!); } }));
test('Slice', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.slice(x.a!, [1, 2], [1, 0], [3, -1]) }));

test('Gather rows (axis 0) with repeated indices', () =>
  gradCheck({ inputs: { a: randn([5, 3], 14) }, extra: { i: int64([4], [0, 3, 3, 1]) }, build: (_g, x) => op.gather(x.a!, x.i!) }));
test('GatherElements', () =>
  gradCheck({
    inputs: { a: randn([3, 5], 15) },
    extra: { i: int64([3, 2], [0, 4, 4, 4, 2, 1]) },
    build: (_g, x) => op.gatherElements(x.a!, x.i!, 1),
  }));

test('ReduceSum keepdims', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.reduceSum(x.a!, [1]) }));
test('ReduceSum without keepdims', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.reduceSum(x.a!, [0, 2], false) }));
test('ReduceMean', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.reduceMean(x.a!, [-1]) }));
test('Softmax', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.softmax(x.a!, -1) }));
test('LogSoftmax', () => gradCheck({ inputs: { a: A }, build: (_g, x) => op.logSoftmax(x.a!, -1) }));
test('LayerNormalization: x, scale and bias', () =>
  gradCheck({
    inputs: { a: A, s: randn([4], 16, 0.2, 1), b: randn([4], 17) },
    build: (_g, x) => op.layerNorm(x.a!, x.s!, x.b!, 1e-5),
  }));
test('Where: both branches with broadcasting', () =>
  gradCheck({
    inputs: { a: A, b: randn([4], 18) },
    extra: { c: tensor('bool', [3, 4], Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])) },
    build: (_g, x) => op.where(x.c!, x.a!, x.b!),
  }));

test('FastGelu (float32, fused): forward and gradient equal the float64 composite, which FD checks above', () =>
  float32MatchesFloat64((x) => (x.dtype === 'float32' ? op.geluTanh(x) : op.geluTanhComposed(x)), 'FastGelu', 2, 21));
