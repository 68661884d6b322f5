/**
 * The browser's host (host.ts): an in-memory file system the Web Worker fills from
 * fetch/File/ArrayBuffer, POSIX paths, sha256 from @noble/hashes, and the WASM heap's size as
 * the machine's memory. Importing this module installs it.
 */
import { type Host, type HostFs, setHost } from '../../host.ts';
import * as crypto from './crypto.ts';
import * as fs from './fs.ts';
import * as os from './os.ts';
import * as path from './path.ts';
import * as readline from './readline.ts';

export const MEMORY_HOST: Host = {
  name: 'browser-memory',
  // The memory file system takes node:fs's arguments but not every overload's option type.
  fs: fs as unknown as HostFs,
  fsPromises: fs.promises as unknown as Host['fsPromises'],
  path,
  os,
  crypto: crypto as unknown as Host['crypto'],
  readline: readline as unknown as Host['readline'],
  url: { fileURLToPath: (u: string | URL): string => new URL(String(u)).pathname },
  // Node's listener-count warning does not exist in the browser.
  events: { setMaxListeners: () => {} },
};

setHost(MEMORY_HOST);

/** The worker's own writes (fetched files into the memory file system). */
export const memoryFs = fs;
