/**
 * The Node edge of adapter loading: a path names an adapter folder or a .zip of one (the browser
 * demo's download); both come back as AdapterFiles.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FormatError } from '../errors.ts';
import { safetensorsWeightStore } from '../formats/weights.ts';
import { zipAdapterFiles } from './archive.ts';
import type { AdapterFiles } from './archive.ts';
import { ADAPTER_CONFIG_FILE } from './types.ts';

const ZIP_MAGIC = [0x50, 0x4b]; // "PK"

function folderFiles(root: string): AdapterFiles {
  const path = (name: string): string => join(root, name);
  return {
    root,
    path,
    has: (name) => existsSync(path(name)),
    text(name) {
      try {
        return readFileSync(path(name), 'utf8');
      } catch (err) {
        throw new FormatError(path(name), `cannot be read: ${(err as Error).message}`);
      }
    },
    weights: (name) => safetensorsWeightStore(path(name)),
  };
}

/** The adapter at `dir`: a folder, or a .zip file holding one. */
export function openAdapterFiles(dir: string): AdapterFiles {
  const root = resolve(dir);
  if (!existsSync(root)) throw new FormatError(root, 'adapter folder does not exist');
  if (statSync(root).isDirectory()) return folderFiles(root);
  const bytes = readFileSync(root);
  if (root.toLowerCase().endsWith('.zip') || (bytes[0] === ZIP_MAGIC[0] && bytes[1] === ZIP_MAGIC[1])) return zipAdapterFiles(bytes, root);
  throw new FormatError(root, `expected an adapter folder (with ${ADAPTER_CONFIG_FILE}) or a .zip of one, but this is a file that is neither`);
}
