/**
 * Fused query_key_value weights laid out per head, [H, 3, hd] along the output dim (GPT-NeoX and
 * BLOOM), reordered once at load time into GPT-2's q|k|v blocks, so the graph splits them with one
 * Split instead of a reshape and transposes per layer.
 */
import type { Value } from '../graph/types.ts';
import type { Tensor } from '../tensor.ts';
import { tensor } from '../tensor.ts';
import { transpose2d } from '../formats/weight_store.ts';
import type { WeightLoader } from './common.ts';

/** Rows (h·3 + s)·hd + j of a [3·H·hd, ...] tensor move to s·H·hd + h·hd + j. */
export function perHeadToBlocks(t: Tensor<'float32'>, heads: number, headDim: number): Tensor<'float32'> {
  const rows = 3 * heads * headDim;
  const cols = t.data.length / rows;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < heads; h++) {
    for (let s = 0; s < 3; s++) {
      const from = (h * 3 + s) * headDim * cols;
      out.set(t.data.subarray(from, from + headDim * cols), (s * heads + h) * headDim * cols);
    }
  }
  return tensor('float32', t.shape, out);
}

/** The fused Linear `name` (torch [3·d, d] weight and [3·d] bias) as [d, 3·d] and [3·d] in q|k|v block order. */
export function perHeadQkv(w: WeightLoader, name: string, heads: number, headDim: number, hidden: number): { weight: Value; bias: Value } {
  const rows = 3 * heads * headDim;
  // Shapes are checked now; the bytes are read and reordered only when a model is serialised.
  const wShape = [rows, hidden];
  const bShape = [rows];
  w.check(`${name}.weight`, wShape);
  w.check(`${name}.bias`, bShape);
  return {
    weight: w.derived(`${name}.weight.qkv_blocks.T`, [hidden, rows], () => transpose2d(perHeadToBlocks(w.store.get(`${name}.weight`, wShape), heads, headDim))),
    bias: w.derived(`${name}.bias.qkv_blocks`, [rows], () => perHeadToBlocks(w.store.get(`${name}.bias`, bShape), heads, headDim)),
  };
}
