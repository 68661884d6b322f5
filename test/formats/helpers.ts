/** Shared helpers for the formats tests: temp folders, hand-built files, error assertions. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';

export const SHARED = '/work/shared';
export const TINY_GPT2 = join(SHARED, 'golden/tiny-gpt2');
export const TINY_LLAMA = join(SHARED, 'golden/tiny-llama');
export const STORIES = join(SHARED, 'models/stories260K');

/** A fresh temp folder, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'softprompt-formats-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Bytes of a safetensors file with an arbitrary (possibly invalid) header and data. */
export function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** `fn` throws an instance of `cls` whose message contains every one of `parts`. */
export function assertThrowsWith(fn: () => unknown, cls: ErrorClass, parts: readonly string[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected ${cls.name}, but nothing was thrown`);
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${String(caught)}`);
  for (const p of parts) assert.ok(caught.message.includes(p), `message ${JSON.stringify(caught.message)} should contain ${JSON.stringify(p)}`);
  return caught;
}

/** Bitwise equality of two float arrays (distinguishes -0 and compares NaN payloads). */
export function assertSameBits(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) assert.fail(`${what}: element ${i} differs: ${a[i]} vs ${b[i]}`);
  }
}
