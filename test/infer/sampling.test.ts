/** The sampler on hand-made logits: distribution, top-k and top-p support, seeds, validation. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InferenceError } from '../../src/infer/errors.ts';
import { Sampler, validateSampling } from '../../src/infer/sampling.ts';

// softmax: [0.5, 0.25, 0.125, 0.0625, 0.0625]
const logits = Float32Array.from([0.5, 0.25, 0.125, 0.0625, 0.0625].map(Math.log));
// One row of padding before it, to exercise the offset.
const row = Float32Array.from([9, 9, 9, 9, 9, ...logits]);

function counts(s: Sampler, n: number): number[] {
  const c = [0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) c[s.next(row, 5, 5)]!++;
  return c;
}

describe('Sampler', () => {
  test('temperature 1 follows the softmax; greedy takes the argmax', () => {
    const c = counts(new Sampler({ maxNewTokens: 1, temperature: 1, seed: 1 }), 20000);
    [0.5, 0.25, 0.125, 0.0625, 0.0625].forEach((p, i) => assert.ok(Math.abs(c[i]! / 20000 - p) < 0.015, `${i}: ${c[i]}`));
    assert.deepEqual(counts(new Sampler({ maxNewTokens: 1 }), 10), [10, 0, 0, 0, 0]);
  });

  test('top-k and top-p keep only their candidates, renormalised', () => {
    const k2 = counts(new Sampler({ maxNewTokens: 1, temperature: 1, topK: 2, seed: 2 }), 6000);
    assert.equal(k2[2]! + k2[3]! + k2[4]!, 0);
    assert.ok(Math.abs(k2[0]! / 6000 - 2 / 3) < 0.03);
    const p = counts(new Sampler({ maxNewTokens: 1, temperature: 1, topP: 0.8, seed: 3 }), 6000); // 0.5 + 0.25 < 0.8 → three tokens
    assert.equal(p[3]! + p[4]!, 0);
    assert.ok(p[2]! > 0);
    const p2 = counts(new Sampler({ maxNewTokens: 1, temperature: 1, topK: 4, topP: 0.5, seed: 3 }), 100);
    assert.deepEqual(p2, [100, 0, 0, 0, 0]);
  });

  test('the same seed gives the same stream', () => {
    const a = counts(new Sampler({ maxNewTokens: 1, temperature: 0.7, topP: 0.95, seed: 11 }), 50);
    const b = counts(new Sampler({ maxNewTokens: 1, temperature: 0.7, topP: 0.95, seed: 11 }), 50);
    assert.deepEqual(a, b);
  });

  test('validation names the field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ maxNewTokens: 0 }, 'maxNewTokens'],
      [{ maxNewTokens: 1.5 }, 'maxNewTokens'],
      [{ maxNewTokens: 10 ** 9 }, 'maxNewTokens'],
      [{ maxNewTokens: 1, temperature: -1 }, 'temperature'],
      [{ maxNewTokens: 1, topK: -2 }, 'topK'],
      [{ maxNewTokens: 1, topP: 0 }, 'topP'],
      [{ maxNewTokens: 1, seed: 'x' }, 'seed'],
      [{ maxNewTokens: 1, stop: [''] }, 'stop'],
      [{ maxNewTokens: 1, stop: 'x' }, 'stop'],
    ];
    for (const [o, field] of bad) {
      assert.throws(() => validateSampling(o as never, 4096), (e: unknown) => e instanceof InferenceError && e.field === field, JSON.stringify(o));
    }
  });
});
