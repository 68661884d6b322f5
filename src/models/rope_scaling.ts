/** RoPE inverse frequencies of a RopeSpec: plain, linear (position interpolation) or llama3 (by wavelength). */
import type { RopeSpec } from '../formats/decoder_config.ts';
import { inverseFrequencies } from './rope.ts';

/** transformers' _compute_default/_linear/_llama3_rope_parameters, in float64; attention scaling stays 1. */
export function scaledInverseFrequencies(spec: RopeSpec): number[] {
  const inv = inverseFrequencies(spec.theta, spec.rotaryDim);
  const s = spec.scaling;
  switch (s.type) {
    case 'default': return inv;
    case 'linear': return inv.map((f) => f / s.factor);
    case 'llama3': {
      const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
      const highWavelen = s.originalMaxPositions / s.highFreqFactor;
      return inv.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < highWavelen) return f; // high frequencies kept
        if (wavelen > lowWavelen) return f / s.factor; // low frequencies interpolated
        const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        return ((1 - smooth) * f) / s.factor + smooth * f;
      });
    }
  }
}
