/** transpose2d (the tiled transpose of torch Linear weights at load) against the definition, at shapes that cut tiles. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { transpose2d } from '../../src/formats/weight_store.ts';
import { tensor } from '../../src/tensor.ts';

test('transpose2d equals out[j][i] = in[i][j], with partial tiles on both axes', () => {
  for (const [r, c] of [[1, 1], [3, 70], [65, 33], [96, 64]] as const) {
    const a = Float32Array.from({ length: r * c }, (_, k) => k * 0.5 - 7);
    const t = transpose2d(tensor('float32', [r, c], a));
    assert.deepEqual(t.shape, [c, r]);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) assert.equal(t.data[j * r + i], a[i * c + j], `[${r}×${c}] at ${i},${j}`);
  }
});
