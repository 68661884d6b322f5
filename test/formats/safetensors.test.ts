import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UnsupportedDtypeError } from '../../src/errors.ts';
import { float32, int64, tensor } from '../../src/tensor.ts';
import type { Tensor } from '../../src/tensor.ts';
import {
  parseSafetensors, readSafetensors, readSafetensorsHeader, readSafetensorsMetadata,
  serializeSafetensors, writeSafetensors,
} from '../../src/formats/safetensors.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/formats/half.ts';
import { TINY_GPT2, assertThrowsWith, rawSafetensors, tempDir } from './helpers.ts';

const headerJson = (bytes: Uint8Array): Record<string, unknown> => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
};

test('round trip F32, I64, I32, F64, BOOL with metadata, scalars and empty tensors', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'a.safetensors');
  const src: Record<string, Tensor> = {
    'w.f32': float32([2, 3], [1.5, -2, 0, 3.25, -0, 1e-30]),
    'ids': int64([4], [0n, -1n, 9007199254740993n, -(2n ** 63n)]),
    'i32': tensor('int32', [2], Int32Array.from([-7, 2 ** 31 - 1])),
    'f64': tensor('float64', [], Float64Array.from([Math.PI])),
    'mask': tensor('bool', [3], Uint8Array.from([1, 0, 1])),
    'empty': float32([0, 4], []),
  };
  writeSafetensors(path, src, { format: 'pt', note: 'hello' });
  assert.deepEqual(readdirSync(dir), ['a.safetensors'], 'no temporary file left behind');

  const back = readSafetensors(path);
  assert.deepEqual([...back.keys()].sort(), Object.keys(src).sort());
  for (const [name, want] of Object.entries(src)) {
    const got = back.get(name)!;
    assert.equal(got.dtype, want.dtype, name);
    assert.deepEqual(got.shape, want.shape, name);
    assert.deepEqual(got.data, want.data, name);
  }
  assert.ok(Object.is(back.get('w.f32')!.data[4], -0), 'negative zero survives');
  assert.deepEqual(readSafetensorsMetadata(path), { format: 'pt', note: 'hello' });

  // Layout like the Python library: header padded with spaces to 8 bytes, tensors sorted by name.
  const bytes = readFileSync(path);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const hdr = headerJson(bytes);
  const names = Object.keys(hdr).filter((k) => k !== '__metadata__');
  assert.deepEqual(names, [...names].sort());
  const offsets = names.map((k) => (hdr[k] as { data_offsets: number[] }).data_offsets);
  for (let i = 1; i < offsets.length; i++) assert.equal(offsets[i]![0], offsets[i - 1]![1], 'contiguous data');
  assert.deepEqual(hdr.ids, { dtype: 'I64', shape: [4], data_offsets: offsets[names.indexOf('ids')] });

  // serializeSafetensors gives the same bytes as the file, and a Map source gives the same too.
  assert.deepEqual(serializeSafetensors(src, { format: 'pt', note: 'hello' }), new Uint8Array(bytes));
  assert.deepEqual(serializeSafetensors(new Map(Object.entries(src)), { format: 'pt', note: 'hello' }), new Uint8Array(bytes));
});

test('writeSafetensors replaces an existing file atomically', (t) => {
  const path = join(tempDir(t), 'w.safetensors');
  writeSafetensors(path, { a: float32([1], [1]) });
  writeSafetensors(path, { b: float32([2], [2, 3]) });
  const back = readSafetensors(path);
  assert.deepEqual([...back.keys()], ['b']);
  assert.deepEqual(readSafetensorsMetadata(path), {});
});

test('float16 and bfloat16 known bit patterns decode exactly', () => {
  assert.equal(f16BitsToF32(0x3c00), 1);
  assert.equal(f16BitsToF32(0xc000), -2);
  assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  assert.equal(f16BitsToF32(0x03ff), 1023 * 2 ** -24);
  assert.equal(f16BitsToF32(0x0400), 2 ** -14);
  assert.equal(f16BitsToF32(0x7bff), 65504);
  assert.equal(f16BitsToF32(0x7c00), Infinity);
  assert.equal(f16BitsToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
  assert.ok(Object.is(f16BitsToF32(0x8000), -0));
  assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  assert.equal(bf16BitsToF32(0x3f80), 1);
  assert.equal(bf16BitsToF32(0xc000), -2);
  assert.equal(bf16BitsToF32(0x7f80), Infinity);
  assert.equal(bf16BitsToF32(0x0001), 2 ** -133);
  assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
});

test('F16 and BF16 tensors in a file decode to those values', () => {
  const f16 = Uint16Array.from([0x3c00, 0xc000, 0x0001, 0x7c00]);
  const bf16 = Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0x4049]);
  const data = new Uint8Array(16);
  data.set(new Uint8Array(f16.buffer), 0);
  data.set(new Uint8Array(bf16.buffer), 8);
  const bytes = rawSafetensors({
    h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
    b: { dtype: 'BF16', shape: [2, 2], data_offsets: [8, 16] },
  }, data);
  const m = parseSafetensors(bytes, 'mem.safetensors');
  assert.equal(m.get('h')!.dtype, 'float32');
  assert.deepEqual([...m.get('h')!.data], [1, -2, 2 ** -24, Infinity]);
  assert.deepEqual(m.get('b')!.shape, [2, 2]);
  assert.deepEqual([...m.get('b')!.data], [1, -2, Infinity, 3.140625]);
});

test('float32 -> float16 / bfloat16 rounds to nearest, ties to even', () => {
  assert.equal(f32ToF16Bits(1), 0x3c00);
  assert.equal(f32ToF16Bits(-2), 0xc000);
  assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00, 'tie goes to even (down)');
  assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie goes to even (up)');
  assert.equal(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20), 0x3c01, 'above the tie rounds up');
  assert.equal(f32ToF16Bits(65504), 0x7bff);
  assert.equal(f32ToF16Bits(65519), 0x7bff);
  assert.equal(f32ToF16Bits(65520), 0x7c00, 'halfway to 65536 overflows to inf');
  assert.equal(f32ToF16Bits(-1e10), 0xfc00);
  assert.equal(f32ToF16Bits(2 ** -24), 0x0001);
  assert.equal(f32ToF16Bits(2 ** -25), 0x0000, 'half the smallest subnormal ties to zero');
  assert.equal(f32ToF16Bits(2 ** -25 * 1.5), 0x0001);
  assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002, 'subnormal tie to even');
  assert.equal(f32ToF16Bits(2 ** -14 - 2 ** -26), 0x0400, 'rounds up into the smallest normal');
  assert.equal(f32ToF16Bits(-0), 0x8000);
  assert.equal(f32ToF16Bits(Infinity), 0x7c00);
  assert.equal(f32ToF16Bits(NaN) & 0x7c00, 0x7c00);
  assert.notEqual(f32ToF16Bits(NaN) & 0x3ff, 0);
  assert.equal(f32ToBf16Bits(1), 0x3f80);
  assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80, 'tie to even (down)');
  assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82, 'tie to even (up)');
  assert.equal(f32ToBf16Bits(Math.PI), 0x4049);
  assert.equal(f32ToBf16Bits(3.4e38), 0x7f80, 'overflows to inf');
  assert.equal(f32ToBf16Bits(NaN) & 0x7f80, 0x7f80);
  assert.notEqual(f32ToBf16Bits(NaN) & 0x7f, 0);
});

test('every non-NaN float16 / bfloat16 bit pattern survives decode then encode', () => {
  for (let h = 0; h < 65536; h++) {
    if ((h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0) {
      const back = f32ToF16Bits(f16BitsToF32(h));
      if (back !== h) assert.fail(`f16 0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
    if ((h & 0x7f80) !== 0x7f80 || (h & 0x7f) === 0) {
      const back = f32ToBf16Bits(bf16BitsToF32(h));
      if (back !== h) assert.fail(`bf16 0x${h.toString(16)} came back as 0x${back.toString(16)}`);
    }
  }
});

// Independent reference roundings, computed in float64 arithmetic rather than on bit patterns.

function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Nearest float16 value (as a number), by scaling to units of the float16 ulp. */
function refF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // guard log2 rounding
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const r = roundHalfEven(a / ulp) * ulp;
  return Math.sign(x) * (r >= 65520 ? Infinity : r);
}

/** Nearest bfloat16 value: choose between the two neighbours that bracket x. */
function refBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  const lo = u[0]! & 0xffff0000;
  u[0] = lo;
  const down = f[0]!;
  u[0] = lo + 0x10000;
  const up = f[0]!;
  const dDown = Math.abs(x - down);
  const dUp = Math.abs(up - x);
  if (dDown < dUp) return down;
  if (dUp < dDown) return up;
  return ((lo >>> 16) & 1) === 0 ? down : up;
}

test('F16 and BF16 copies of tiny-gpt2 load back as the rounded float32 values', (t) => {
  const dir = tempDir(t);
  const original = readSafetensors(join(TINY_GPT2, 'model.safetensors'));
  // Values that float16 represents exactly must come back unchanged.
  const exact = float32([8], [1, -2, 0.5, 65504, 2 ** -24, 1023 * 2 ** -24, 1 + 2 ** -10, -0.333251953125]);
  const src = new Map(original);
  src.set('exact', exact);

  for (const dtype of ['F16', 'BF16'] as const) {
    const path = join(dir, `model.${dtype}.safetensors`);
    writeSafetensors(path, src, { format: 'pt' }, { dtype });
    const hdr = readSafetensorsHeader(path);
    assert.ok([...hdr.entries.values()].every((e) => e.dtype === dtype));
    const back = readSafetensors(path);
    assert.deepEqual([...back.keys()].sort(), [...src.keys()].sort());
    const ref = dtype === 'F16' ? refF16 : refBf16;
    let maxRel = 0;
    for (const [name, orig] of original) {
      const got = back.get(name)!;
      assert.equal(got.dtype, 'float32');
      assert.deepEqual(got.shape, orig.shape);
      for (let i = 0; i < orig.data.length; i++) {
        const x = orig.data[i] as number;
        const y = got.data[i] as number;
        if (y !== ref(x)) assert.fail(`${dtype} ${name}[${i}]: ${x} became ${y}, expected ${ref(x)}`);
        if (Math.abs(x) >= 2 ** -14) maxRel = Math.max(maxRel, Math.abs(y - x) / Math.abs(x));
      }
    }
    assert.ok(maxRel <= (dtype === 'F16' ? 2 ** -11 : 2 ** -8), `${dtype} max relative error ${maxRel}`);
    assert.ok(maxRel > 0, 'the weights really were rounded');
    if (dtype === 'F16') assert.deepEqual(back.get('exact')!.data, exact.data);
  }
});

test('unaligned data offsets decode correctly (I64 needs 8-byte alignment)', () => {
  const i64 = BigInt64Array.from([1n, -2n]);
  const f32 = Float32Array.from([1.5, -0.25]);
  const f64 = Float64Array.from([Math.E]);
  const data = new Uint8Array(3 + 16 + 8 + 8);
  data.set([1, 0, 1], 0);
  data.set(new Uint8Array(i64.buffer), 3);
  data.set(new Uint8Array(f32.buffer), 19);
  data.set(new Uint8Array(f64.buffer), 27);
  // An unpadded 1-byte-longer header makes the data start unaligned as well.
  const header = {
    m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] },
    i: { dtype: 'I64', shape: [2], data_offsets: [3, 19] },
    f: { dtype: 'F32', shape: [2], data_offsets: [19, 27] },
    d: { dtype: 'F64', shape: [1], data_offsets: [27, 35] },
  };
  for (const pad of ['', ' ', '  ', '   ']) {
    const m = parseSafetensors(rawSafetensors(undefined, data, JSON.stringify(header) + pad), 'x.safetensors');
    assert.deepEqual(m.get('m')!.data, Uint8Array.from([1, 0, 1]));
    assert.deepEqual(m.get('i')!.data, i64);
    assert.deepEqual(m.get('f')!.data, f32);
    assert.deepEqual(m.get('d')!.data, f64);
  }
});

test('errors: too short, header length too large, bad JSON', (t) => {
  const dir = tempDir(t);
  const short = join(dir, 'short.safetensors');
  writeFileSync(short, new Uint8Array(5));
  assertThrowsWith(() => readSafetensors(short), FormatError, [short, '5 bytes', 'fewer than the 8-byte']);

  const big = join(dir, 'big.safetensors');
  const bytes = rawSafetensors({});
  new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
  writeFileSync(big, bytes);
  assertThrowsWith(() => readSafetensors(big), FormatError, [big, 'header length 1000 exceeds']);
  assertThrowsWith(() => readSafetensorsHeader(big), FormatError, [big, 'header length 1000 exceeds']);

  const json = join(dir, 'json.safetensors');
  writeFileSync(json, rawSafetensors(undefined, new Uint8Array(0), '{"a": {"dtype": "F32",'));
  assertThrowsWith(() => readSafetensors(json), FormatError, [json, 'not valid UTF-8 JSON']);

  const arr = join(dir, 'arr.safetensors');
  writeFileSync(arr, rawSafetensors([1, 2]));
  assertThrowsWith(() => readSafetensors(arr), FormatError, [arr, 'must be a JSON object']);

  const meta = join(dir, 'meta.safetensors');
  writeFileSync(meta, rawSafetensors({ __metadata__: { epoch: 3 } }));
  assertThrowsWith(() => readSafetensors(meta), FormatError, [meta, '__metadata__.epoch', 'string']);
});

test('errors: truncated data', (t) => {
  const dir = tempDir(t);
  const full = readFileSync(join(TINY_GPT2, 'model.safetensors'));
  const n = Number(full.readBigUInt64LE(0));
  const dataBytes = full.length - 8 - n;
  const path = join(dir, 'cut.safetensors');
  writeFileSync(path, full.subarray(0, 8 + n + 1000));
  for (const read of [() => readSafetensors(path), () => readSafetensorsHeader(path)]) {
    assertThrowsWith(read, FormatError, [path, 'truncated', `header says ${dataBytes} bytes`, 'only 1000 follow']);
  }
});

test('errors: data_offsets that mismatch the shape, overlap, or are malformed', () => {
  const data = new Uint8Array(32);
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{ a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, ['tensor "a"', '[0, 20]', 'span 20 bytes', 'needs 24']],
    [{ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, ['"a" [0, 16]', '"b" [8, 24]', 'overlap']],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, ['tensor "a"', 'end before they begin']],
    [{ a: { dtype: 'F32', shape: [2], data_offsets: [0] } }, ['tensor "a"', 'data_offsets']],
    [{ a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, ['tensor "a"', 'shape']],
    [{ a: { dtype: 'F32', shape: [16], data_offsets: [0, 64] } }, ['truncated', 'header says 64 bytes', 'only 32 follow']],
    [{ a: { shape: [2], data_offsets: [0, 8] } }, ['tensor "a"', 'dtype']],
    [{ a: 'nope' }, ['tensor "a"', 'must be an object']],
  ];
  for (const [header, parts] of cases) {
    assertThrowsWith(() => parseSafetensors(rawSafetensors(header, data), 'bad.safetensors'), FormatError, ['bad.safetensors', ...parts]);
  }
});

test('errors: unsupported dtypes name file, tensor and dtype', (t) => {
  const dir = tempDir(t);
  for (const dtype of ['I8', 'F8_E4M3', 'U16']) {
    const path = join(dir, `${dtype}.safetensors`);
    const size = dtype === 'U16' ? 8 : 4;
    writeFileSync(path, rawSafetensors({ q: { dtype, shape: [4], data_offsets: [0, size] } }, new Uint8Array(size)));
    const err = assertThrowsWith(() => readSafetensors(path), UnsupportedDtypeError, [path, 'tensor "q"', `"${dtype}"`, 'F32, F16, BF16']);
    assert.equal((err as UnsupportedDtypeError).dtype, dtype);
    // The header alone is still readable: the dtype is valid safetensors, we just do not decode it.
    assert.equal(readSafetensorsHeader(path).entries.get('q')!.dtype, dtype);
  }
  // A dtype that safetensors itself does not define fails while reading the header.
  const odd = join(dir, 'odd.safetensors');
  writeFileSync(odd, rawSafetensors({ q: { dtype: 'Q4_K', shape: [4], data_offsets: [0, 4] } }, new Uint8Array(4)));
  assertThrowsWith(() => readSafetensorsHeader(odd), UnsupportedDtypeError, [odd, 'tensor "q"', '"Q4_K"']);
});

test('writing rejects tensors whose data does not match their shape', () => {
  const bad = { dtype: 'float32', shape: [3], data: new Float32Array(2) } as const;
  assertThrowsWith(() => serializeSafetensors({ bad }), FormatError, ['tensor "bad"', '2 elements', 'needs 3']);
});

test('getTransposed reads a 2-D weight in row blocks and equals transposing get(), for F32, F16 and BF16', async (t) => {
  const { safetensorsWeightStore, transpose2d } = await import('../../src/formats/weights.ts');
  const dir = tempDir(t);
  // 150 rows: two full 64-row blocks and a partial one; odd column count.
  const rows = 150, cols = 37;
  const w = float32([rows, cols], Array.from({ length: rows * cols }, (_, i) => Math.sin(i) * 3));
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const path = join(dir, `${dtype}.safetensors`);
    writeSafetensors(path, { w, v: float32([2], [1, 2]) }, undefined, { dtype });
    const store = safetensorsWeightStore(path);
    const got = store.getTransposed!('w', [rows, cols]);
    assert.deepEqual(got.shape, [cols, rows]);
    assert.deepEqual(Array.from(got.data), Array.from(transpose2d(store.get('w')).data), dtype);
    assert.throws(() => store.getTransposed!('w', [cols, rows]), /shape/, `${dtype}: a wrong shape is refused`);
  }
});
