/**
 * The Node edge of adapter loading: a path names an adapter folder or a .zip of one (the browser
 * demo's download); both come back as AdapterFiles.
 */
import { host } from '../host.ts';
import { FormatError } from '../errors.ts';
import { safetensorsWeightStore } from '../formats/weights.ts';
import { zipAdapterFiles } from './archive.ts';
import type { AdapterFiles } from './archive.ts';
import { ADAPTER_CONFIG_FILE } from './types.ts';

const ZIP_MAGIC = [0x50, 0x4b]; // "PK"

function folderFiles(root: string): AdapterFiles {
  const path = (name: string): string => host().path.join(root, name);
  const read = (name: string): Uint8Array => {
    try {
      return host().fs.readFileSync(path(name));
    } catch (err) {
      throw new FormatError(path(name), `cannot be read: ${(err as Error).message}`);
    }
  };
  return {
    root,
    path,
    has: (name) => host().fs.existsSync(path(name)),
    text: (name) => new TextDecoder().decode(read(name)),
    bytes: read,
    weights: (name) => safetensorsWeightStore(path(name)),
  };
}

/** The adapter at `dir`: a folder, or a .zip file holding one. */
export function openAdapterFiles(dir: string): AdapterFiles {
  const root = host().path.resolve(dir);
  if (!host().fs.existsSync(root)) throw new FormatError(root, 'adapter folder does not exist');
  if (host().fs.statSync(root).isDirectory()) return folderFiles(root);
  const bytes = host().fs.readFileSync(root);
  if (root.toLowerCase().endsWith('.zip') || (bytes[0] === ZIP_MAGIC[0] && bytes[1] === ZIP_MAGIC[1])) return zipAdapterFiles(bytes, root);
  throw new FormatError(root, `expected an adapter folder (with ${ADAPTER_CONFIG_FILE}) or a .zip of one, but this is a file that is neither`);
}
