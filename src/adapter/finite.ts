/**
 * Refuses adapters holding NaN or ±Infinity (issue 16): such weights make every score NaN, so a
 * classifier would print `girl=NaN boy=NaN` and a server answer null labels as if all were well.
 */
import type { Tensor } from '../tensor.ts';
import { AdapterError } from './errors.ts';

/** Throws AdapterError naming `file` and the tensor when `t` holds a non-finite value. */
export function checkFinite(t: Tensor, file: string, name: string): void {
  if (t.dtype !== 'float32' && t.dtype !== 'float64') return;
  const d = t.data as Float32Array | Float64Array;
  let bad = 0;
  let first = -1;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i]!)) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad > 0) {
    throw new AdapterError(
      file,
      undefined,
      `tensor "${name}" holds ${bad} non-finite value${bad === 1 ? '' : 's'} (${d[first]} at flat index ${first}); the adapter's training diverged or the file is damaged: retrain it or use an earlier checkpoint`,
    );
  }
}

/** Checks every tensor of `tensors`; `file` is where they were read from. */
export function checkAllFinite(tensors: Readonly<Record<string, Tensor>>, file: string, prefix = ''): void {
  for (const [name, t] of Object.entries(tensors)) checkFinite(t, file, `${prefix}${name}`);
}
