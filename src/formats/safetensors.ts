/**
 * safetensors files (https://github.com/huggingface/safetensors): the Node edge over
 * safetensors_codec.ts (parsing and serializing bytes), which this module re-exports.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header, then the data buffer.
 * The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
 * the data buffer) plus an optional "__metadata__" map of strings.
 *
 * Reading: F32, F16, BF16 (both upcast exactly to float32), F64, I64, I32, BOOL.
 * Writing: float32 tensors as F32, F16 or BF16 (round to nearest even); float64 as F64, int64 as I64,
 * int32 as I32, bool as BOOL. Host byte order is assumed little-endian (true on every Node platform).
 */
import { host } from '../host.ts';
import { FormatError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { writeFileAtomic } from './atomic.ts';
import { decodeTensor, headerLength, parseSafetensors, parseSafetensorsHeader, parseSafetensorsIndex, planSafetensors } from './safetensors_codec.ts';
import type { SafetensorsEntry, SafetensorsHeader, SafetensorsIndex, TensorSource, WriteOptions } from './safetensors_codec.ts';

export * from './safetensors_codec.ts';

/** Read every tensor of a safetensors file. */
export function readSafetensors(path: string): Map<string, Tensor> {
  return parseSafetensors(host().fs.readFileSync(path), path);
}

/** Read only the header (cheap: does not touch the data). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = host().fs.openSync(path, 'r');
  try {
    const size = host().fs.fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) readExactly(fd, prefix, 0, path); // else headerLength reports the short file
    const n = headerLength(prefix, size, path);
    const json = new Uint8Array(n);
    readExactly(fd, json, 8, path);
    return parseSafetensorsHeader(json, path, size - 8 - n);
  } finally {
    host().fs.closeSync(fd);
  }
}

export function readSafetensorsMetadata(path: string): Record<string, string> {
  return readSafetensorsHeader(path).metadata;
}

function readExactly(fd: number, into: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < into.byteLength) {
    const got = host().fs.readSync(fd, into, done, into.byteLength - done, position + done);
    if (got === 0) throw new FormatError(file, `truncated: expected ${into.byteLength} bytes at offset ${position}, file ended after ${done}`);
    done += got;
  }
}

/**
 * A safetensors file opened lazily: the header is parsed and validated now, and each tensor's
 * bytes are read from disk only when asked for.
 */
export class SafetensorsFile {
  private constructor(readonly path: string, readonly header: SafetensorsHeader) {}

  static open(path: string): SafetensorsFile {
    return new SafetensorsFile(path, readSafetensorsHeader(path));
  }

  names(): string[] {
    return [...this.header.entries.keys()];
  }

  entry(name: string): SafetensorsEntry | undefined {
    return this.header.entries.get(name);
  }

  /**
   * Calls `each(block, row0)` for consecutive blocks of `blockRows` rows of a 2-D tensor, each
   * decoded to float32 (F32, F16, BF16), reading one block at a time through one buffer.
   */
  forEachRowBlock(name: string, blockRows: number, each: (block: Float32Array, row0: number) => void): void {
    const e = this.header.entries.get(name);
    if (e === undefined || e.shape.length !== 2) throw new FormatError(this.path, `"${name}" is not a 2-D tensor`);
    const [rows, cols] = e.shape as [number, number];
    const rowBytes = (e.end - e.begin) / rows;
    const buf = new Uint8Array(Math.min(rows, blockRows) * rowBytes);
    const fd = host().fs.openSync(this.path, 'r');
    try {
      for (let r0 = 0; r0 < rows; r0 += blockRows) {
        const n = Math.min(blockRows, rows - r0);
        const bytes = buf.subarray(0, n * rowBytes);
        readExactly(fd, bytes, this.header.dataStart + e.begin + r0 * rowBytes, this.path);
        const t = decodeTensor({ ...e, shape: [n, cols] }, bytes, this.path);
        if (t.dtype !== 'float32') throw new FormatError(this.path, `"${name}" is ${e.dtype}, not a float tensor`);
        each(t.data as Float32Array, r0);
      }
    } finally {
      host().fs.closeSync(fd);
    }
  }

  /** Read one tensor; undefined if the file has no such tensor. */
  read(name: string): Tensor | undefined {
    const e = this.header.entries.get(name);
    if (e === undefined) return undefined;
    const bytes = new Uint8Array(e.end - e.begin);
    const fd = host().fs.openSync(this.path, 'r');
    try {
      readExactly(fd, bytes, this.header.dataStart + e.begin, this.path);
    } finally {
      host().fs.closeSync(fd);
    }
    return decodeTensor(e, bytes, this.path);
  }
}

export function readSafetensorsIndex(path: string): SafetensorsIndex {
  return parseSafetensorsIndex(host().fs.readFileSync(path, 'utf8'), path);
}

/** Write a safetensors file atomically (temporary file + rename), one tensor at a time. */
export function writeSafetensors(path: string, tensors: TensorSource, metadata?: Record<string, string>, opts: WriteOptions = {}): void {
  const { header, chunks } = planSafetensors(tensors, metadata, opts, path);
  writeFileAtomic(path, (function* () {
    yield header;
    for (const c of chunks) yield c();
  })());
}
