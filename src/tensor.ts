/**
 * Host-side tensors: plain typed arrays with a shape. This is what formats/ reads,
 * what runtime/ feeds to and fetches from ONNX Runtime, and what the optimizer updates.
 */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

export interface TypedArrayOf {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  bool: Uint8Array;
}

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf[D];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: TypedArrayOf[D]): Tensor<D> {
  if (data.length !== numel(shape)) {
    throw new RangeError(`tensor(${dtype}): data has ${data.length} elements but shape [${shape.join(', ')}] needs ${numel(shape)}`);
  }
  return { dtype, shape: [...shape], data };
}

export function zeros(shape: readonly number[]): Tensor<'float32'> {
  return tensor('float32', shape, new Float32Array(numel(shape)));
}

export function int64(shape: readonly number[], values: ArrayLike<number | bigint>): Tensor<'int64'> {
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]!);
  return tensor('int64', shape, data);
}

export function float32(shape: readonly number[], values: ArrayLike<number>): Tensor<'float32'> {
  return tensor('float32', shape, Float32Array.from(values));
}

/** Convert a float tensor to float64 (for finite-difference checks) or back to float32. */
export function castFloat<D extends 'float32' | 'float64'>(t: Tensor<'float32' | 'float64'>, dtype: D): Tensor<D> {
  const data = dtype === 'float64' ? Float64Array.from(t.data) : Float32Array.from(t.data);
  return tensor(dtype, t.shape, data as TypedArrayOf[D]);
}
