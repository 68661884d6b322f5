/**
 * The browser host's file system (host.ts's `fs`, node:fs's names): in memory. The web worker
 * writes the fetched model, tokenizer and data files into it, and the core reads them (and writes
 * its adapters, checkpoints and metrics log) through the same calls it makes on Node.
 */
import { dirname, resolve } from './path.ts';

const files = new Map<string, Uint8Array>();
const dirs = new Set<string>(['/']);
const enc = new TextEncoder();
const dec = new TextDecoder();

class FsError extends Error {
  constructor(readonly code: string, syscall: string, path: string) {
    super(`${code}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory' : code === 'EEXIST' ? 'file exists' : 'error'}, ${syscall} '${path}'`);
  }
}

type Data = string | Uint8Array | ArrayBufferView;
const bytesOf = (d: Data): Uint8Array =>
  typeof d === 'string' ? enc.encode(d) : d instanceof Uint8Array ? d : new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
type Encoding = string | { encoding?: string | null } | null | undefined;
const encodingOf = (o: Encoding): string | null | undefined => (typeof o === 'string' ? o : o?.encoding);

function need(path: string, syscall: string): Uint8Array {
  const p = resolve(path);
  const f = files.get(p);
  if (f) return f;
  throw new FsError(dirs.has(p) ? 'EISDIR' : 'ENOENT', syscall, path);
}

function parentMustExist(p: string, syscall: string): void {
  if (!dirs.has(dirname(p))) throw new FsError('ENOENT', syscall, p);
}

export interface MemStats {
  size: number;
  mtimeMs: number;
  isFile(): boolean;
  isDirectory(): boolean;
}
function stats(p: string, syscall: string): MemStats {
  const r = resolve(p);
  const f = files.get(r);
  if (!f && !dirs.has(r)) throw new FsError('ENOENT', syscall, p);
  return { size: f?.byteLength ?? 0, mtimeMs: 0, isFile: () => f !== undefined, isDirectory: () => f === undefined };
}

export function existsSync(p: string): boolean {
  const r = resolve(p);
  return files.has(r) || dirs.has(r);
}
export function statSync(p: string): MemStats {
  return stats(p, 'stat');
}
export function lstatSync(p: string): MemStats {
  return stats(p, 'lstat');
}
export function readFileSync(p: string, o?: Encoding): never | string | Uint8Array {
  const b = need(p, 'open');
  return encodingOf(o) ? dec.decode(b) : b.slice();
}
export function writeFileSync(p: string, data: Data): void {
  const r = resolve(p);
  parentMustExist(r, 'open');
  files.set(r, bytesOf(data).slice());
}
export function appendFileSync(p: string, data: Data): void {
  const r = resolve(p);
  parentMustExist(r, 'open');
  const old = files.get(r) ?? new Uint8Array(0);
  const add = bytesOf(data);
  const b = new Uint8Array(old.byteLength + add.byteLength);
  b.set(old);
  b.set(add, old.byteLength);
  files.set(r, b);
}
export function mkdirSync(p: string, o?: { recursive?: boolean }): void {
  const r = resolve(p);
  if (files.has(r)) throw new FsError('EEXIST', 'mkdir', p);
  if (dirs.has(r)) {
    if (!o?.recursive) throw new FsError('EEXIST', 'mkdir', p);
    return;
  }
  if (!dirs.has(dirname(r))) {
    if (!o?.recursive) throw new FsError('ENOENT', 'mkdir', p);
    mkdirSync(dirname(r), o);
  }
  dirs.add(r);
}
export function readdirSync(p: string): string[] {
  const r = resolve(p);
  if (!dirs.has(r)) throw new FsError('ENOENT', 'scandir', p);
  const prefix = r === '/' ? '/' : `${r}/`;
  const names = new Set<string>();
  for (const k of [...files.keys(), ...dirs]) if (k.startsWith(prefix) && k !== r) names.add(k.slice(prefix.length).split('/')[0]!);
  return [...names].sort();
}
export function rmSync(p: string, o?: { recursive?: boolean; force?: boolean }): void {
  const r = resolve(p);
  if (files.delete(r)) return;
  if (!dirs.has(r)) {
    if (!o?.force) throw new FsError('ENOENT', 'rm', p);
    return;
  }
  const prefix = `${r}/`;
  for (const k of [...files.keys()]) if (k.startsWith(prefix)) files.delete(k);
  for (const k of [...dirs]) if (k.startsWith(prefix)) dirs.delete(k);
  dirs.delete(r);
}
export function unlinkSync(p: string): void {
  need(p, 'unlink');
  files.delete(resolve(p));
}
let tempCount = 0;
export function mkdtempSync(prefix: string): string {
  const p = `${prefix}${(++tempCount).toString(36).padStart(6, '0')}`;
  mkdirSync(p, { recursive: true });
  return resolve(p);
}
export function renameSync(from: string, to: string): void {
  const a = resolve(from);
  const b = resolve(to);
  const f = files.get(a);
  if (f) {
    parentMustExist(b, 'rename');
    files.delete(a);
    files.set(b, f);
    return;
  }
  if (!dirs.has(a)) throw new FsError('ENOENT', 'rename', from);
  const move = (k: string): string => b + k.slice(a.length);
  for (const k of [...files.keys()]) if (k.startsWith(`${a}/`)) files.set(move(k), files.get(k)!) && files.delete(k);
  for (const k of [...dirs]) if (k === a || k.startsWith(`${a}/`)) dirs.delete(k) && dirs.add(move(k));
}
export function copyFileSync(from: string, to: string): void {
  writeFileSync(to, need(from, 'copyfile'));
}

// File descriptors: reads at a position, writes appended (what atomic writes and safetensors reads do).
const fds = new Map<number, { path: string; chunks: Uint8Array[] | null }>();
let nextFd = 3;
export function openSync(p: string, flags: string = 'r'): number {
  const r = resolve(p);
  if (flags.startsWith('r')) need(p, 'open');
  else parentMustExist(r, 'open');
  const fd = nextFd++;
  fds.set(fd, { path: r, chunks: flags.startsWith('r') ? null : [] });
  if (!flags.startsWith('r')) files.set(r, new Uint8Array(0));
  return fd;
}
function fdOf(fd: number): { path: string; chunks: Uint8Array[] | null } {
  const f = fds.get(fd);
  if (!f) throw new FsError('EBADF', 'fd', String(fd));
  return f;
}
export function writeSync(fd: number, data: Data, offset = 0, length?: number): number {
  const f = fdOf(fd);
  const b = bytesOf(data);
  const part = b.slice(offset, length === undefined ? undefined : offset + length);
  f.chunks!.push(part);
  return part.byteLength;
}
function flush(f: { path: string; chunks: Uint8Array[] | null }): void {
  if (!f.chunks) return;
  const total = f.chunks.reduce((s, c) => s + c.byteLength, 0);
  const b = new Uint8Array(total);
  let o = 0;
  for (const c of f.chunks) (b.set(c, o), (o += c.byteLength));
  files.set(f.path, b);
}
export function fsyncSync(fd: number): void {
  flush(fdOf(fd));
}
export function closeSync(fd: number): void {
  const f = fdOf(fd);
  flush(f);
  fds.delete(fd);
}
export function fstatSync(fd: number): MemStats {
  return stats(fdOf(fd).path, 'fstat');
}
export function readSync(fd: number, into: Uint8Array, offset: number, length: number, position: number | null): number {
  const src = need(fdOf(fd).path, 'read');
  const start = position ?? 0;
  const n = Math.max(0, Math.min(length, src.byteLength - start));
  into.set(src.subarray(start, start + n), offset);
  return n;
}

/** The file's text (or bytes) in one chunk: an async iterable, as readline and the CSV reader consume it. */
export function createReadStream(p: string, o?: Encoding): AsyncIterable<string | Uint8Array> & { destroy(): void; close(): void } {
  const b = need(p, 'open');
  const text = encodingOf(o) ? dec.decode(b) : null;
  return {
    async *[Symbol.asyncIterator]() {
      yield text ?? b;
    },
    destroy() {},
    close() {},
  };
}

export const promises = {
  readFile: async (p: string, o?: Encoding) => readFileSync(p, o),
  writeFile: async (p: string, d: Data) => writeFileSync(p, d),
  stat: async (p: string) => statSync(p),
  mkdir: async (p: string, o?: { recursive?: boolean }) => mkdirSync(p, o),
  readdir: async (p: string) => readdirSync(p),
  rm: async (p: string, o?: { recursive?: boolean; force?: boolean }) => rmSync(p, o),
};
export const { readFile, writeFile, stat, mkdir, readdir, rm } = promises;
export const constants = { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 };
export function accessSync(p: string): void {
  if (!existsSync(p)) throw new FsError('ENOENT', 'access', p);
}

export default {
  existsSync, statSync, lstatSync, readFileSync, writeFileSync, appendFileSync, mkdirSync, readdirSync, rmSync, renameSync, unlinkSync, mkdtempSync,
  copyFileSync, openSync, writeSync, fsyncSync, closeSync, fstatSync, readSync, createReadStream, promises, constants, accessSync,
};
