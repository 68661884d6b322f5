/**
 * WeightStore: the one way model builders get weights, whatever the checkpoint format.
 * Lookups are by HF tensor name; `get` checks the shape the config implies, so a wrong
 * checkpoint fails with a message naming file, tensor and both shapes, not deep in ORT.
 * Browser-safe: the file-backed stores (Node) are in weights.ts, which re-exports this module.
 */
import { MissingTensorError, ShapeMismatchError, UnsupportedDtypeError } from '../errors.ts';
import { tensor } from '../tensor.ts';
import type { Tensor } from '../tensor.ts';
import type { TensorSource } from './safetensors_codec.ts';

export interface WeightInfo {
  /** Storage dtype: a safetensors name (F32, BF16, ...) or, in memory, a host dtype. */
  readonly dtype: string;
  readonly shape: readonly number[];
}

export interface WeightStore {
  /** The file (or index file) the weights come from, for messages. */
  readonly source: string;
  /** All tensor names, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** Dtype and shape without reading data; throws MissingTensorError. */
  info(name: string): WeightInfo;
  /**
   * The tensor as float32 (F16/BF16 upcast exactly, F64 rounded). Throws MissingTensorError,
   * ShapeMismatchError when `expectedShape` is given and differs, and UnsupportedDtypeError for
   * integer tensors. File-backed stores read from disk on each call; keep what you need.
   */
  get(name: string, expectedShape?: readonly number[]): Tensor<'float32'>;
  /**
   * The transpose of a 2-D tensor [rows, cols] as float32 [cols, rows], with get()'s checks.
   * File-backed stores read it in blocks of rows, so that only the result is allocated (at the
   * 1.1B shape, 4.4 GB of fresh pages instead of twice that: start-up is bound by page faults).
   */
  getTransposed?(name: string, expectedShape: readonly [number, number]): Tensor<'float32'>;
}

/** Transpose a 2-D host tensor: torch Linear weights [out, in] become [in, out] for MatMul. */
export function transpose2d(t: Tensor<'float32'>): Tensor<'float32'> {
  const [r, c] = t.shape as [number, number];
  const out = new Float32Array(r * c);
  transposeRowsInto(t.data, 0, r, c, out);
  return tensor('float32', [c, r], out);
}

/**
 * Writes rows [row0, row0 + src.length / cols) of a [rows, cols] matrix, given in `src`, into
 * `out`, its [cols, rows] transpose. 32×32 tiles keep both sides in cache: 8× faster than row by
 * row on a 2560×960 weight.
 */
export function transposeRowsInto(src: Float32Array, row0: number, rows: number, cols: number, out: Float32Array): void {
  const TILE = 32;
  const n = src.length / cols;
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const i1 = Math.min(n, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      for (let i = i0; i < i1; i++) {
        const row = i * cols;
        const at = row0 + i;
        for (let j = j0; j < j1; j++) out[j * rows + at] = src[row + j]!;
      }
    }
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkShape(file: string, name: string, actual: readonly number[], expected?: readonly number[]): void {
  if (expected !== undefined && !sameShape(actual, expected)) throw new ShapeMismatchError(file, name, expected, actual);
}

export function toFloat32(t: Tensor, file: string, name: string): Tensor<'float32'> {
  if (t.dtype === 'float32') return t as Tensor<'float32'>;
  if (t.dtype === 'float64') return tensor('float32', t.shape, Float32Array.from(t.data as Float64Array));
  throw new UnsupportedDtypeError(file, t.dtype, `tensor "${name}" is not floating point, so it cannot be a weight`);
}

/** A store over tensors already in memory (tests, llama2.c checkpoints). */
export function memoryWeightStore(tensors: TensorSource, source = '<memory>'): WeightStore {
  const map = new Map<string, Tensor>(tensors instanceof Map ? tensors : Object.entries(tensors));
  const find = (name: string): Tensor => {
    const t = map.get(name);
    if (t === undefined) throw new MissingTensorError(source, name);
    return t;
  };
  return {
    source,
    names: () => [...map.keys()].sort(),
    has: (name) => map.has(name),
    info: (name) => ({ dtype: find(name).dtype, shape: find(name).shape }),
    get(name, expectedShape) {
      const t = find(name);
      checkShape(source, name, t.shape, expectedShape);
      return toFloat32(t, source, name);
    },
  };
}
