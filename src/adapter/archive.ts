/**
 * An adapter's files by name, wherever they are: a folder (files.ts, Node) or a .zip archive in
 * memory, the browser demo's download. Browser-safe: the archive is parsed from bytes.
 */
import { unzipSync, zipSync } from 'fflate';
import { FormatError } from '../errors.ts';
import { parseSafetensors } from '../formats/safetensors_codec.ts';
import { memoryWeightStore } from '../formats/weight_store.ts';
import type { WeightStore } from '../formats/weight_store.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from './types.ts';

export interface AdapterFiles {
  /** The folder or .zip (LoadedAdapter.dir). */
  readonly root: string;
  /** A file's name in messages: root/name in a folder, root:name in a .zip. */
  path(name: string): string;
  has(name: string): boolean;
  /** The file's text; a missing or unreadable file throws a FormatError naming it. */
  text(name: string): string;
  /** The file's bytes, as text() fails. */
  bytes(name: string): Uint8Array;
  weights(name: string): WeightStore;
}

/** The archive's adapter files: at its top level, or in its one top-level folder (a zipped adapter folder). */
function adapterEntries(entries: Record<string, Uint8Array>, all: readonly string[], label: string): Map<string, Uint8Array> {
  const names = all.filter((n) => !n.endsWith('/'));
  const configs = names.filter((n) => n === ADAPTER_CONFIG_FILE || n.endsWith(`/${ADAPTER_CONFIG_FILE}`));
  const top = configs.includes(ADAPTER_CONFIG_FILE) ? '' : configs.length === 1 && configs[0]!.split('/').length === 2 ? configs[0]!.slice(0, -ADAPTER_CONFIG_FILE.length) : null;
  if (top === null) {
    const where = configs.length > 1 ? `${configs.length} of them (${configs.join(', ')}); zip one adapter` : `none; it holds: ${names.slice(0, 8).join(', ') || 'no files'}${names.length > 8 ? ', ...' : ''}`;
    throw new FormatError(label, `is not an adapter archive: it needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE} at its top level (or in one folder), found ${where}`);
  }
  const out = new Map<string, Uint8Array>();
  for (const n of Object.keys(entries)) if (n.startsWith(top) && !n.slice(top.length).includes('/')) out.set(n.slice(top.length), entries[n]!);
  return out;
}

/** The files of a .zip's bytes (`label` names it in messages): adapter_config.json, adapter_model.safetensors, softprompt.json. */
export function zipAdapterFiles(bytes: Uint8Array, label: string): AdapterFiles {
  let entries: Record<string, Uint8Array>;
  const all: string[] = [];
  try {
    // Only the files an adapter has are inflated; anything else in the archive is skipped.
    const wanted = new Set([ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE]);
    entries = unzipSync(bytes, { filter: (f) => (all.push(f.name), wanted.has(f.name.split('/').at(-1)!)) });
  } catch (e) {
    throw new FormatError(label, `is not a readable .zip archive (${e instanceof Error ? e.message : String(e)}); the download is corrupt or truncated`);
  }
  const files = adapterEntries(entries, all, label);
  const path = (name: string): string => `${label}:${name}`;
  const need = (name: string): Uint8Array => {
    const b = files.get(name);
    if (b === undefined) throw new FormatError(path(name), `not found in the archive (it holds: ${[...files.keys()].join(', ')})`);
    return b;
  };
  return {
    root: label,
    path,
    has: (name) => files.has(name),
    text: (name) => new TextDecoder().decode(need(name)),
    bytes: need,
    weights: (name) => memoryWeightStore(parseSafetensors(need(name), path(name)), path(name)),
  };
}

/** The files a .zip of an adapter carries, in this order. */
export const ADAPTER_ZIP_FILES = [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE] as const;

/** One .zip of an adapter's files (the browser demo's download). Stored, not deflated: float32 weights barely compress. */
export function adapterZip(files: Readonly<Partial<Record<(typeof ADAPTER_ZIP_FILES)[number], Uint8Array>>>): Uint8Array {
  const out: Record<string, Uint8Array> = {};
  for (const f of ADAPTER_ZIP_FILES) if (files[f] !== undefined) out[f] = files[f];
  if (!out[ADAPTER_CONFIG_FILE] || !out[ADAPTER_WEIGHTS_FILE]) throw new FormatError('adapter .zip', `needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE}`);
  return zipSync(out, { level: 0 });
}
