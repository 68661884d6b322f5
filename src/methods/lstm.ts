/**
 * torch.nn.LSTM(bidirectional=True, batch_first=True) over one short sequence, unrolled with
 * primitive ops so the graph's autodiff differentiates it (ONNX's LSTM op has no gradient rule here).
 * torch's equations, gates stacked (i, f, g, o) in the rows of weight_ih / weight_hh:
 *   i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
 *   g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
 *   c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c'),   h₀ = c₀ = 0
 * A layer's output at t is [forward h_t, backward h_t]; layer k > 0 reads it (input size 2h).
 */
import { GraphError } from '../errors.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { tensor } from '../tensor.ts';
import type { ParamSpec } from './types.ts';

/** torch's parameter names and shapes, in named_parameters() order, under `prefix` (e.g. "lstm_head."). */
export function lstmParams(prefix: string, inputSize: number, hiddenSize: number, numLayers: number): ParamSpec[] {
  const h = hiddenSize;
  const out: ParamSpec[] = [];
  for (let l = 0; l < numLayers; l++) {
    const inF = l === 0 ? inputSize : 2 * h;
    for (const suffix of ['', '_reverse']) {
      out.push(
        { name: `${prefix}weight_ih_l${l}${suffix}`, shape: [4 * h, inF] },
        { name: `${prefix}weight_hh_l${l}${suffix}`, shape: [4 * h, h] },
        { name: `${prefix}bias_ih_l${l}${suffix}`, shape: [4 * h] },
        { name: `${prefix}bias_hh_l${l}${suffix}`, shape: [4 * h] },
      );
    }
  }
  return out;
}

/** One direction of one layer: x [n, in] → h_t for each t, as [n, h]. */
function direction(x: Value, wih: Value, whh: Value, bih: Value, bhh: Value, reverse: boolean): Value {
  const n = x.shape[0] as number;
  const h = whh.shape[1] as number;
  // The input half of every gate for all steps at once: one [n, in]·[in, 4h] product.
  const xw = op.add(op.add(op.matmul(x, op.transpose(wih, [1, 0])), bih), bhh);
  const rows = n === 1 ? [xw] : op.split(xw, 0, new Array<number>(n).fill(1));
  const whhT = op.transpose(whh, [1, 0]);
  const hs = new Array<Value>(n);
  // h₀ = 0 enters the first step as torch computes it, so weight_hh reaches the loss (with a zero
  // gradient) even for one virtual token. c₀ = 0 only zeroes the first forget term: skipped.
  let hPrev = x.graph.constant(x.dtype === 'float64' ? tensor('float64', [1, h], new Float64Array(h)) : tensor('float32', [1, h], new Float32Array(h)), 'h0');
  let c: Value | null = null;
  for (let k = 0; k < n; k++) {
    const t = reverse ? n - 1 - k : k;
    const gates = op.add(rows[t]!, op.matmul(hPrev, whhT));
    const [gi, gf, gg, go] = op.split(gates, 1, [h, h, h, h]) as [Value, Value, Value, Value];
    const ig = op.mul(op.sigmoid(gi), op.tanh(gg));
    c = c ? op.add(op.mul(op.sigmoid(gf), c), ig) : ig;
    hPrev = op.mul(op.sigmoid(go), op.tanh(c));
    hs[t] = hPrev;
  }
  return n === 1 ? hs[0]! : op.concat(hs, 0);
}

/** The LSTM's output sequence [n, 2h] for x [n, in], from torch-named params under `prefix`. */
export function bidirectionalLstm(x: Value, p: Readonly<Record<string, Value>>, prefix: string, numLayers: number): Value {
  const get = (name: string): Value => {
    const v = p[prefix + name];
    if (!v) throw new GraphError(`LSTM: missing parameter "${prefix}${name}"`);
    return v;
  };
  let y = x;
  for (let l = 0; l < numLayers; l++) {
    const dir = (s: string, reverse: boolean): Value =>
      direction(y, get(`weight_ih_l${l}${s}`), get(`weight_hh_l${l}${s}`), get(`bias_ih_l${l}${s}`), get(`bias_hh_l${l}${s}`), reverse);
    y = op.concat([dir('', false), dir('_reverse', true)], 1);
  }
  return y;
}
