/**
 * Parity with ../shared/golden (independent float64 PEFT-semantics reference): logits at
 * every position including padding, loss, every trainable gradient, greedy ids.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkGeneration, checkMethod, GOLDEN_CASES, loadGoldenCase } from '../../src/check/golden.ts';
import type { Comparison } from '../../src/check/golden.ts';
import { GOLDEN } from '../helpers/paths.ts';

function assertAll(results: readonly Comparison[], expected: number): void {
  assert.equal(results.length, expected, 'number of compared quantities');
  for (const r of results) {
    assert.ok(r.ok, `${r.case} ${r.method} ${r.quantity}: error ${r.error} exceeds ${r.tolerance}`);
  }
}

for (const name of GOLDEN_CASES) {
  describe(`golden ${name}`, () => {
    const c = loadGoldenCase(GOLDEN, name);
    test('plain forward: logits at all positions and loss', async () => assertAll(await checkMethod(c, 'forward'), 2));
    test('prompt tuning: logits, loss, grad.prompt_embeddings', async () => assertAll(await checkMethod(c, 'prompt_tuning'), 3));
    test('p-tuning (MLP): logits, loss, 7 parameter gradients and the encoder-output gradient', async () =>
      assertAll(await checkMethod(c, 'p_tuning'), 2 + 7 + 1));
    test('prefix tuning: logits, loss, grad.prompt_embeddings', async () => assertAll(await checkMethod(c, 'prefix_tuning'), 3));
    test('greedy ids (full recomputation): plain, soft prompt, prefix', async () => assertAll(await checkGeneration(c), 3));
  });
}
