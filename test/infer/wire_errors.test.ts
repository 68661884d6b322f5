/**
 * Errors across the engine worker's port (src/infer/wire_errors.ts): each comes back with its
 * class, message and fields, so the server answers as it did for the in-process engine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DataError } from '../../src/data/errors.ts';
import { FormatError, GraphError, SoftpromptError } from '../../src/errors.ts';
import { InferenceError } from '../../src/infer/errors.ts';
import { EngineWorkerError, fromWire, toWire } from '../../src/infer/wire_errors.ts';
import { toApiError } from '../../src/serve/server.ts';

/** Through structured cloning, as postMessage sends it. */
const across = (e: unknown): Error => fromWire(structuredClone(toWire(e)));

test('typed errors keep class, message and fields, and map to the same status', () => {
  const cases: [Error, number][] = [
    [new InferenceError('prompt is 600 tokens; ...', 'prompt'), 400],
    [new DataError('field "text" holds 300000 characters', { file: 'a.jsonl', line: 3, field: 'text' }), 400],
    [new FormatError('/m/model.safetensors', 'truncated'), 400],
    [new GraphError('MatMul: shapes [2, 3] and [4, 5]'), 500],
    [new RangeError('Invalid typed array length: -1'), 500],
    [new EngineWorkerError("the inference engine's worker exited (code 1)"), 500],
  ];
  for (const [e, status] of cases) {
    const back = across(e);
    assert.equal(Object.getPrototypeOf(back), Object.getPrototypeOf(e), e.name);
    assert.equal(back.message, e.message);
    assert.equal(back.name, e.name);
    assert.deepEqual({ ...back }, { ...e });
    assert.equal(toApiError(back).status, status, e.name);
    assert.deepEqual(toApiError(back).body(), toApiError(e).body());
  }
  const field = across(new InferenceError('bad', 'temperature')) as InferenceError;
  assert.equal(field.field, 'temperature');
  const data = across(new DataError('x', { file: 'f.csv', line: 9 })) as DataError;
  assert.deepEqual([data.file, data.line, data.detail], ['f.csv', 9, 'x']);
});

test('a SoftpromptError of a class the calling side does not load keeps its name (RuntimeError: a 500)', () => {
  class RuntimeError extends SoftpromptError {}
  const back = across(new RuntimeError('failed to allocate 380 GB'));
  assert.ok(back instanceof SoftpromptError);
  assert.equal(back.name, 'RuntimeError');
  assert.equal(toApiError(back).status, 500);
  assert.ok(!toApiError(back).message.includes('380 GB'));
  // Anything else is a plain Error with its message.
  assert.equal(across('a string').message, 'a string');
});
