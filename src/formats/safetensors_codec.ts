/**
 * safetensors from and to bytes (https://github.com/huggingface/safetensors); browser-safe. The
 * file readers and the atomic writer (Node) are in safetensors.ts, which re-exports this module.
 *
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then the data buffer.
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
 * the data buffer) plus an optional "__metadata__" map of strings.
 *
 * Reading: F32, F16, BF16 (both upcast exactly to float32), F64, I64, I32, BOOL.
 * Writing: float32 tensors as F32, F16 or BF16 (round to nearest even); float64 as F64, int64 as I64,
 * int32 as I32, bool as BOOL. Host byte order is assumed little-endian (true on every Node platform).
 */
import { FormatError, UnsupportedDtypeError } from '../errors.ts';
import { numel, tensor } from '../tensor.ts';
import type { DType, Tensor, TypedArrayOf } from '../tensor.ts';
import { decodeBf16, decodeF16, encodeBf16, encodeF16 } from './half.ts';

/** Element size of every dtype the safetensors spec defines, so sizes can be checked even for dtypes we do not decode. */
const SPEC_ITEM_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

/** The dtypes we decode, and the host dtype each becomes. */
const DECODED: Readonly<Record<string, DType>> = {
  F32: 'float32', F16: 'float32', BF16: 'float32', F64: 'float64', I64: 'int64', I32: 'int32', BOOL: 'bool',
};
export const READABLE_DTYPES: readonly string[] = Object.keys(DECODED);

/** Python's safetensors refuses headers above 100 MB; a larger length means the file is not safetensors. */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsEntry {
  readonly name: string;
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte range inside the data buffer (which starts at `dataStart` in the file). */
  readonly begin: number;
  readonly end: number;
}

export interface SafetensorsHeader {
  readonly metadata: Record<string, string>;
  /** In header order. */
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  /** File offset of the data buffer: 8 + header length. */
  readonly dataStart: number;
}

export type TensorSource = Record<string, Tensor> | ReadonlyMap<string, Tensor>;

export interface WriteOptions {
  /** Storage dtype for float32 tensors (default F32). Other dtypes are stored as they are. */
  readonly dtype?: 'F32' | 'F16' | 'BF16';
}

// ---------------------------------------------------------------------------------------------
// Header

/** Read and validate the 8-byte length prefix; returns the header length. */
export function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) {
    throw new FormatError(file, `not a safetensors file: it has ${fileSize} bytes, fewer than the 8-byte header length prefix`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new FormatError(file, `corrupt header: header length ${n} exceeds the ${fileSize - 8} bytes after the length prefix (file has ${fileSize} bytes; truncated or not safetensors)`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(file, `corrupt header: header length ${n} is larger than the 100 MB safetensors limit`);
  }
  return Number(n);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parse and validate the JSON header. `dataLength` is the number of bytes after the header;
 * the check that they hold every tensor is what catches truncated files.
 */
export function parseSafetensorsHeader(json: Uint8Array, file: string, dataLength: number): SafetensorsHeader {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (err) {
    throw new FormatError(file, `corrupt header: the ${json.length}-byte header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed)) throw new FormatError(file, 'corrupt header: the header must be a JSON object');

  const metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, value] of Object.entries(parsed)) {
    if (name === '__metadata__') {
      if (!isObject(value)) throw new FormatError(file, 'corrupt header: "__metadata__" must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new FormatError(file, `corrupt header: "__metadata__.${k}" must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    entries.set(name, parseEntry(name, value, file));
  }
  checkLayout([...entries.values()], file, dataLength, 8 + json.length + dataLength);
  return { metadata, entries, dataStart: 8 + json.length };
}

function parseEntry(name: string, value: unknown, file: string): SafetensorsEntry {
  const where = `tensor "${name}"`;
  if (!isObject(value)) throw new FormatError(file, `corrupt header: ${where} must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw new FormatError(file, `corrupt header: ${where} has no string "dtype"`);
  const itemSize = SPEC_ITEM_SIZE[dtype];
  if (itemSize === undefined) {
    throw new UnsupportedDtypeError(file, dtype, `${where}; supported: ${READABLE_DTYPES.join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegInt)) {
    throw new FormatError(file, `corrupt header: ${where} "shape" must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegInt)) {
    throw new FormatError(file, `corrupt header: ${where} "data_offsets" must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw new FormatError(file, `corrupt header: ${where} data_offsets [${begin}, ${end}] end before they begin`);
  const expected = numel(shape) * itemSize;
  if (end - begin !== expected) {
    throw new FormatError(file, `corrupt header: ${where} data_offsets [${begin}, ${end}] span ${end - begin} bytes, but ${dtype} shape [${shape.join(', ')}] needs ${expected}`);
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** Every tensor must lie inside the data buffer, and no two may overlap. */
function checkLayout(entries: SafetensorsEntry[], file: string, dataLength: number, fileSize: number): void {
  const needed = entries.reduce((m, e) => Math.max(m, e.end), 0);
  if (needed > dataLength) {
    throw new FormatError(file, `truncated: header says ${needed} bytes of tensor data, but only ${dataLength} follow the header (file has ${fileSize} bytes)`);
  }
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) {
      throw new FormatError(file, `corrupt header: tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Copy `bytes` into a fresh, aligned buffer (the source may sit at any byte offset). */
function aligned(bytes: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

/** Decode one tensor from exactly its bytes. */
export function decodeTensor(entry: SafetensorsEntry, bytes: Uint8Array, file: string): Tensor {
  const host = DECODED[entry.dtype];
  if (host === undefined) {
    throw new UnsupportedDtypeError(file, entry.dtype, `tensor "${entry.name}"; supported: ${READABLE_DTYPES.join(', ')}`);
  }
  // Reuse the buffer when it is already ours and aligned, else copy (offsets may be unaligned; I64 needs 8).
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
  const buf = own ? (bytes.buffer as ArrayBuffer) : aligned(bytes);
  switch (entry.dtype) {
    case 'F32': return tensor('float32', entry.shape, new Float32Array(buf));
    case 'F16': return tensor('float32', entry.shape, decodeF16(new Uint16Array(buf)));
    case 'BF16': return tensor('float32', entry.shape, decodeBf16(new Uint16Array(buf)));
    case 'F64': return tensor('float64', entry.shape, new Float64Array(buf));
    case 'I64': return tensor('int64', entry.shape, new BigInt64Array(buf));
    case 'I32': return tensor('int32', entry.shape, new Int32Array(buf));
    default: return tensor('bool', entry.shape, new Uint8Array(buf));
  }
}

/** Parse a whole safetensors file held in memory. `fileLabel` names it in error messages. */
export function parseSafetensors(bytes: Uint8Array, fileLabel: string): Map<string, Tensor> {
  return parseSafetensorsWithMetadata(bytes, fileLabel).tensors;
}

export function parseSafetensorsWithMetadata(bytes: Uint8Array, fileLabel: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const n = headerLength(bytes.subarray(0, 8), bytes.byteLength, fileLabel);
  const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), fileLabel, bytes.byteLength - 8 - n);
  const data = bytes.subarray(header.dataStart);
  const tensors = new Map<string, Tensor>();
  for (const e of header.entries.values()) {
    tensors.set(e.name, decodeTensor(e, data.subarray(e.begin, e.end), fileLabel));
  }
  return { tensors, metadata: header.metadata };
}

// ---------------------------------------------------------------------------------------------
// Sharded checkpoints: model.safetensors.index.json

export interface SafetensorsIndex {
  readonly metadata: Record<string, unknown>;
  /** Tensor name -> shard file name (relative to the index's folder). */
  readonly weightMap: ReadonlyMap<string, string>;
}

export function parseSafetensorsIndex(text: string, file: string): SafetensorsIndex {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `not valid JSON (${(err as Error).message})`);
  }
  if (!isObject(parsed) || !isObject(parsed.weight_map)) {
    throw new FormatError(file, 'a safetensors index must be a JSON object with a "weight_map" object (tensor name -> shard file)');
  }
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(parsed.weight_map)) {
    // Shards are plain file names next to the index; refusing paths keeps a bad index from reading elsewhere.
    if (typeof shard !== 'string' || shard === '' || /[\\/]/.test(shard) || shard === '.' || shard === '..') {
      throw new FormatError(file, `weight_map["${name}"] must be a shard file name in the same folder, got ${JSON.stringify(shard)}`);
    }
    weightMap.set(name, shard);
  }
  const metadata = isObject(parsed.metadata) ? parsed.metadata : {};
  return { metadata, weightMap };
}

// ---------------------------------------------------------------------------------------------
// Writing

const STORED: Readonly<Record<Exclude<DType, 'float32'>, string>> = {
  float64: 'F64', int64: 'I64', int32: 'I32', bool: 'BOOL',
};

function bytesOf(data: TypedArrayOf[DType] | Uint16Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Header bytes plus one lazily produced chunk per tensor, sorted by name (writeSafetensors streams them). */
export function planSafetensors(tensors: TensorSource, metadata: Record<string, string> | undefined, opts: WriteOptions, label: string): { header: Uint8Array; chunks: Array<() => Uint8Array> } {
  const floatDtype = opts.dtype ?? 'F32';
  const list = (tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors)) as Array<[string, Tensor]>;
  list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const json: Record<string, unknown> = {};
  if (metadata !== undefined) json.__metadata__ = { ...metadata };
  const chunks: Array<() => Uint8Array> = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__' || name === '') throw new FormatError(label, `cannot write a tensor named ${JSON.stringify(name)}`);
    if (t.data.length !== numel(t.shape)) {
      throw new FormatError(label, `cannot write tensor "${name}": data has ${t.data.length} elements but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`);
    }
    const dtype = t.dtype === 'float32' ? floatDtype : STORED[t.dtype];
    const itemSize = SPEC_ITEM_SIZE[dtype]!;
    const size = t.data.length * itemSize;
    json[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
    chunks.push(() => {
      if (dtype === 'F16') return bytesOf(encodeF16(t.data as Float32Array));
      if (dtype === 'BF16') return bytesOf(encodeBf16(t.data as Float32Array));
      return bytesOf(t.data);
    });
  }
  // Pad with spaces to a multiple of 8 so the data buffer starts aligned, as the Python library does.
  let text = JSON.stringify(json);
  const raw = new TextEncoder().encode(text);
  const padded = raw.length + ((8 - (raw.length % 8)) % 8);
  text += ' '.repeat(padded - raw.length);
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(new TextEncoder().encode(text), 8);
  return { header, chunks };
}

/** Serialize tensors (sorted by name) to safetensors bytes. */
export function serializeSafetensors(tensors: TensorSource, metadata?: Record<string, string>, opts: WriteOptions = {}): Uint8Array {
  const { header, chunks } = planSafetensors(tensors, metadata, opts, '<memory>');
  const parts = [header, ...chunks.map((c) => c())];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

