/**
 * Random weights for any family, made on demand: the builder asks for each tensor by name and
 * shape and gets N(0, std²), or ones for a norm's gain (a name with "norm" or "ln_" ending in
 * ".weight"). So a family needs no weight list here to be benchmarked.
 */
import type { WeightStore } from '../src/formats/weights.ts';
import { tensor } from '../src/tensor.ts';
import type { Tensor } from '../src/tensor.ts';
import type { Rng } from './rng.ts';

export function randomWeightStore(rng: Rng, std = 0.02): WeightStore & { readonly made: ReadonlyMap<string, Tensor> } {
  const made = new Map<string, Tensor<'float32'>>();
  const gain = (name: string): boolean => /(norm|ln_)[^.]*\.weight$/.test(name);
  return {
    source: '<random weights>',
    made,
    names: () => [...made.keys()].sort(),
    has: () => true,
    info: (name) => ({ dtype: 'float32', shape: made.get(name)?.shape ?? [] }),
    get(name, shape) {
      let t = made.get(name);
      if (!t) {
        if (!shape) throw new Error(`random weights: ${name} was asked for without a shape`);
        const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
        t = tensor('float32', shape, gain(name) ? data.fill(1) : rng.fillNormal(data, std));
        made.set(name, t);
      }
      return t;
    },
  };
}
