/**
 * The seam between softprompt's core and the platform: file access, paths, hashing, lines of a
 * stream, memory figures. The core reaches them only through `host()`, never by a module-level
 * import of a Node built-in, so the same modules bundle for the browser (esbuild
 * --platform=browser, test/arch/browser.test.ts).
 *
 * The entry point chooses the host: Node entries install node's built-ins (host_node.ts; without
 * it, Node ≥ 20.16 finds them through process.getBuiltinModule), the browser's Web Worker installs
 * an in-memory file system it fills from fetch/File/ArrayBuffer (web/host.ts).
 */
import type * as NodeCrypto from 'node:crypto';
import type * as NodeFs from 'node:fs';
import type * as NodeFsPromises from 'node:fs/promises';
import type * as NodeOs from 'node:os';
import type * as NodePath from 'node:path';
import type * as NodeReadline from 'node:readline';
import type * as NodeUrl from 'node:url';
import { SoftpromptError } from './errors.ts';

/** The file calls the core makes (node:fs's names and signatures). */
export type HostFs = Pick<
  typeof NodeFs,
  | 'existsSync' | 'readFileSync' | 'statSync' | 'readdirSync' | 'mkdirSync' | 'mkdtempSync' | 'rmSync' | 'copyFileSync'
  | 'appendFileSync' | 'openSync' | 'closeSync' | 'writeSync' | 'readSync' | 'fstatSync' | 'fsyncSync' | 'renameSync'
  | 'createReadStream'
>;

export interface Host {
  readonly name: string;
  readonly fs: HostFs;
  readonly fsPromises: Pick<typeof NodeFsPromises, 'readFile' | 'stat'>;
  readonly path: Pick<typeof NodePath, 'join' | 'resolve' | 'dirname' | 'basename' | 'extname'>;
  readonly os: Pick<typeof NodeOs, 'totalmem' | 'freemem' | 'hostname' | 'tmpdir'>;
  readonly crypto: Pick<typeof NodeCrypto, 'createHash' | 'randomBytes'>;
  readonly readline: Pick<typeof NodeReadline, 'createInterface'>;
  readonly url: Pick<typeof NodeUrl, 'fileURLToPath'>;
  /** node:events' setMaxListeners for an AbortSignal (a no-op where no listener warning exists). */
  readonly events: { setMaxListeners(n: number, ...targets: EventTarget[]): void };
}

export class HostError extends SoftpromptError {}

let current: Host | undefined;

/** Installs the platform the core runs on (an entry point calls this once, before any file access). */
export function setHost(h: Host): void {
  current = h;
}

interface BuiltinLoader {
  getBuiltinModule?: (id: string) => unknown;
}

/** Node's built-ins without a static import (process.getBuiltinModule, Node ≥ 20.16 / 22.3). */
function nodeBuiltins(): Host | undefined {
  const get = (globalThis as { process?: BuiltinLoader }).process?.getBuiltinModule;
  if (typeof get !== 'function') return undefined;
  const m = <T>(id: string): T => get(id) as T;
  return {
    name: 'node',
    fs: m('node:fs'),
    fsPromises: m('node:fs/promises'),
    path: m('node:path'),
    os: m('node:os'),
    crypto: m('node:crypto'),
    readline: m('node:readline'),
    url: m('node:url'),
    events: m('node:events'),
  };
}

/** The platform: the one an entry point installed, else Node's built-ins when running on Node. */
export function host(): Host {
  current ??= nodeBuiltins();
  if (current === undefined)
    throw new HostError('no file system here: in the browser, load models, data and adapters from bytes (softprompt/web), or install one with setHost()');
  return current;
}
