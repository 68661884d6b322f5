/**
 * The p-tuning MLP encoder on the host: what PEFT saves as prompt_embeddings for P_TUNING is the
 * encoder's output, Lin4(ReLU(Lin2(ReLU(Lin0(E))))), torch layout W [out, in], y = x·Wᵀ + b.
 * Tiny (n × d × h), so a plain loop; sums in float64, each layer's output rounded to float32.
 */
import { MissingTensorError, ShapeMismatchError, UnsupportedDtypeError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';

function get(p: Readonly<Record<string, Tensor>>, name: string, source: string): Tensor {
  const t = p[name];
  if (!t) throw new MissingTensorError(source, name);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') throw new UnsupportedDtypeError(source, t.dtype, `tensor "${name}" must be floating point`);
  return t;
}

/** x [n, in] · Wᵀ [in, out] + b [out], then ReLU if asked. */
function linear(x: Float32Array, n: number, w: Tensor, b: Tensor, relu: boolean, names: [string, string], source: string): { y: Float32Array; out: number } {
  const [out, inF] = w.shape as [number, number];
  if (w.shape.length !== 2 || x.length !== n * inF) throw new ShapeMismatchError(source, names[0], [out, x.length / n], w.shape);
  if (b.shape.length !== 1 || b.shape[0] !== out) throw new ShapeMismatchError(source, names[1], [out], b.shape);
  const W = w.data as Float32Array | Float64Array;
  const B = b.data as Float32Array | Float64Array;
  const y = new Float32Array(n * out);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < out; o++) {
      let s = B[o]!;
      const row = o * inF;
      for (let k = 0; k < inF; k++) s += x[i * inF + k]! * W[row + k]!;
      y[i * out + o] = relu && s < 0 ? 0 : s;
    }
  }
  return { y, out };
}

/** The encoder output [n, d] from PEFT-named tensors (embedding.weight, mlp_head.{0,2,4}.{weight,bias}). */
export function pTuningEncoderOutput(p: Readonly<Record<string, Tensor>>, source = '<p-tuning encoder>'): Tensor<'float32'> {
  const e = get(p, 'embedding.weight', source);
  if (e.shape.length !== 2) throw new ShapeMismatchError(source, 'embedding.weight', [e.shape[0] ?? 0, 0], e.shape);
  const n = e.shape[0]!;
  let x: Float32Array = Float32Array.from(e.data as Float32Array | Float64Array);
  let width = e.shape[1]!;
  for (const [l, relu] of [[0, true], [2, true], [4, false]] as const) {
    const wName = `mlp_head.${l}.weight`;
    const bName = `mlp_head.${l}.bias`;
    ({ y: x, out: width } = linear(x, n, get(p, wName, source), get(p, bName, source), relu, [wName, bName], source));
  }
  return tensor('float32', [n, width], x);
}
