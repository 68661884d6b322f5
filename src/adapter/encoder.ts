/**
 * PEFT's encoders on the host: what PEFT saves as prompt_embeddings for P_TUNING, and for
 * PREFIX_TUNING with prefix_projection, is the encoder's output (get_prompt_embedding_to_save).
 * - p-tuning MLP: Lin4(ReLU(Lin2(ReLU(Lin0(E))))); sums in float64, each layer rounded to float32.
 * - p-tuning LSTM: Lin2(ReLU(Lin0(BiLSTM(E)))) with torch's LSTM (see src/methods/lstm.ts).
 * - prefix projection: Lin2(Tanh(Lin0(E))).
 * The last two run in float64 throughout and round once at the end. torch layout W [out, in],
 * y = x·Wᵀ + b. Tiny (n × d × h), so plain loops.
 */
import { MissingTensorError, ShapeMismatchError, UnsupportedDtypeError } from '../errors.ts';
import { RESIDUAL_LN_EPS } from '../methods/prompt_tuning.ts';
import type { PromptMethod } from '../methods/types.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

type Floats = Float32Array | Float64Array;
type Params = Readonly<Record<string, Tensor>>;

function get(p: Params, name: string, source: string): Tensor {
  const t = p[name];
  if (!t) throw new MissingTensorError(source, name);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new UnsupportedDtypeError(source, t.dtype, `tensor "${name}" must be floating point`);
  return t;
}

/** `name` with exactly `shape` (a negative entry: any size), as float data. */
function shaped(p: Params, name: string, shape: readonly number[], source: string): Floats {
  const t = get(p, name, source);
  if (t.shape.length !== shape.length || shape.some((d, i) => d >= 0 && d !== t.shape[i])) {
    throw new ShapeMismatchError(source, name, shape.map((d, i) => (d >= 0 ? d : (t.shape[i] ?? 0))), t.shape);
  }
  return t.data as Floats;
}

type Activation = 'none' | 'relu' | 'tanh';

/** x [n, in] · Wᵀ + b with W named `prefix.weight`, b `prefix.bias`; rounded to float32 when asked. */
function linear(p: Params, prefix: string, x: Float64Array, n: number, act: Activation, round: boolean, source: string): { y: Float64Array; width: number } {
  const inF = x.length / n;
  const w = get(p, `${prefix}.weight`, source);
  const out = w.shape[0] ?? 0;
  const W = shaped(p, `${prefix}.weight`, [out, inF], source);
  const B = shaped(p, `${prefix}.bias`, [out], source);
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < out; o++) {
      let s = B[o]!;
      const row = o * inF;
      for (let k = 0; k < inF; k++) s += x[i * inF + k]! * W[row + k]!;
      if (act === 'relu' && s < 0) s = 0;
      else if (act === 'tanh') s = Math.tanh(s);
      y[i * out + o] = round ? Math.fround(s) : s;
    }
  }
  return { y, width: out };
}

function embedding(p: Params, source: string): { x: Float64Array; n: number } {
  const e = get(p, 'embedding.weight', source);
  if (e.shape.length !== 2) throw new ShapeMismatchError(source, 'embedding.weight', [e.shape[0] ?? 0, 0], e.shape);
  return { x: Float64Array.from(e.data as Floats), n: e.shape[0]! };
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** One direction of LSTM layer l over x [n, inF]: h_t written to out[t, offset .. offset + H] (row width 2H). */
function lstmDirection(p: Params, l: number, suffix: string, x: Float64Array, n: number, H: number, out: Float64Array, reverse: boolean, source: string): void {
  const inF = x.length / n;
  const name = (w: string): string => `lstm_head.${w}_l${l}${suffix}`;
  const wih = shaped(p, name('weight_ih'), [4 * H, inF], source);
  const whh = shaped(p, name('weight_hh'), [4 * H, H], source);
  const bih = shaped(p, name('bias_ih'), [4 * H], source);
  const bhh = shaped(p, name('bias_hh'), [4 * H], source);
  const h = new Float64Array(H);
  const c = new Float64Array(H);
  const gates = new Float64Array(4 * H);
  const offset = reverse ? H : 0;
  for (let k = 0; k < n; k++) {
    const t = reverse ? n - 1 - k : k;
    for (let r = 0; r < 4 * H; r++) {
      let s = bih[r]! + bhh[r]!;
      for (let j = 0; j < inF; j++) s += x[t * inF + j]! * wih[r * inF + j]!;
      for (let j = 0; j < H; j++) s += h[j]! * whh[r * H + j]!;
      gates[r] = s;
    }
    for (let j = 0; j < H; j++) {
      // torch's gate order in the rows: input, forget, cell (g), output.
      const i = sigmoid(gates[j]!);
      const f = sigmoid(gates[H + j]!);
      const g = Math.tanh(gates[2 * H + j]!);
      const o = sigmoid(gates[3 * H + j]!);
      c[j] = f * c[j]! + i * g;
      h[j] = o * Math.tanh(c[j]!);
      out[t * 2 * H + offset + j] = h[j]!;
    }
  }
}

/** The number of LSTM layers in PEFT-named params (lstm_head.weight_ih_l0, _l1, ...). */
export function lstmLayerCount(p: Params): number {
  let l = 0;
  while (p[`lstm_head.weight_ih_l${l}`]) l++;
  return l;
}

function lstmEncoderOutput(p: Params, e: Float64Array, n: number, source: string): Float64Array {
  const whh0 = get(p, 'lstm_head.weight_hh_l0', source);
  const H = whh0.shape[1] ?? 0;
  let x = e;
  for (let l = 0; l < lstmLayerCount(p); l++) {
    const y = new Float64Array(n * 2 * H);
    lstmDirection(p, l, '', x, n, H, y, false, source);
    lstmDirection(p, l, '_reverse', x, n, H, y, true, source);
    x = y;
  }
  const h0 = linear(p, 'mlp_head.0', x, n, 'relu', false, source).y;
  return linear(p, 'mlp_head.2', h0, n, 'none', false, source).y;
}

function toF32(y: Float64Array, n: number): Tensor<'float32'> {
  return tensor('float32', [n, y.length / n], Float32Array.from(y));
}

/**
 * The p-tuning encoder output [n, d] from PEFT-named tensors: the LSTM encoder when there is
 * lstm_head.* (embedding.weight, lstm_head.*, mlp_head.{0,2}.*), else the MLP (mlp_head.{0,2,4}.*).
 * `source` names the file in errors.
 */
export function pTuningEncoderOutput(p: Params, source = '<p-tuning encoder>'): Tensor<'float32'> {
  const { x: e, n } = embedding(p, source);
  if (p['lstm_head.weight_ih_l0']) return toF32(lstmEncoderOutput(p, e, n, source), n);
  let x: Float64Array = e.map(Math.fround);
  for (const [l, act] of [[0, 'relu'], [2, 'relu'], [4, 'none']] as const) x = linear(p, `mlp_head.${l}`, x, n, act, true, source).y;
  return toF32(x, n);
}

/** PEFT's PrefixEncoder with prefix_projection: transform(embedding) [n, 2·L·token_dim]. */
export function prefixProjectionOutput(p: Params, source = '<prefix encoder>'): Tensor<'float32'> {
  const { x, n } = embedding(p, source);
  const hidden = linear(p, 'transform.0', x, n, 'tanh', false, source).y;
  return toF32(linear(p, 'transform.2', hidden, n, 'none', false, source).y, n);
}

/**
 * Residual prompt tuning's output (src/methods/prompt_tuning.ts): E + LayerNorm(Lin2(ReLU(Lin0(E))))
 * with torch's biased variance and eps 1e-5, in float64, rounded once.
 */
export function residualPromptOutput(p: Params, source = '<residual prompt>'): Tensor<'float32'> {
  const { x: e, n } = embedding(p, source);
  const d = e.length / n;
  const h = linear(p, 'mlp_head.0', e, n, 'relu', false, source).y;
  const u = linear(p, 'mlp_head.2', h, n, 'none', false, source).y;
  if (u.length !== e.length) throw new ShapeMismatchError(source, 'mlp_head.2.weight', [d, h.length / n], [u.length / n, h.length / n]);
  const w = shaped(p, 'layer_norm.weight', [d], source);
  const b = shaped(p, 'layer_norm.bias', [d], source);
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const row = u.subarray(i * d, (i + 1) * d);
    const mean = row.reduce((s, v) => s + v, 0) / d;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / d;
    const rstd = 1 / Math.sqrt(variance + RESIDUAL_LN_EPS);
    for (let j = 0; j < d; j++) out[i * d + j] = e[i * d + j]! + (row[j]! - mean) * rstd * w[j]! + b[j]!;
  }
  return toF32(out, n);
}

/** What PEFT saves as prompt_embeddings for `method` trained to `params`: the encoder's output, or the tensor itself. */
export function promptEmbeddingsToSave(method: PromptMethod, params: Params, source?: string): Tensor<'float32'> {
  if (method.kind === 'p_tuning') return pTuningEncoderOutput(params, source);
  if (method.encoder?.type === 'prefix_projection') return prefixProjectionOutput(params, source);
  if (method.encoder?.type === 'residual') return residualPromptOutput(params, source);
  const t = get(params, 'prompt_embeddings', source ?? `<${method.kind}>`);
  return t.dtype === 'float32' ? (t as Tensor<'float32'>) : tensor('float32', t.shape, Float32Array.from(t.data as Float64Array));
}
