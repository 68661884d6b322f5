/**
 * The adapter registry of `softprompt serve`: every sub-folder of the adapters folder that is an
 * adapter folder, by name. Names come from the folder listing only and must match
 * {@link ADAPTER_NAME}; a model name from a request is only ever looked up in the registry's map,
 * never joined into a path. An adapter that fails to load (bad name, missing or corrupt files, made
 * for another model) is reported with the reason and skipped; the others load.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { loadAdapter } from '../adapter/load.ts';
import { ADAPTER_NAME, ADAPTER_NAME_MAX, isValidAdapterName } from '../adapter/name.ts';
import type { AdapterModel } from '../adapter/load.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { ADAPTER_CONFIG_FILE } from '../adapter/types.ts';
import { SoftpromptError } from '../errors.ts';

export { ADAPTER_NAME, isValidAdapterName } from '../adapter/name.ts';

export interface RegistryEntry {
  readonly name: string;
  readonly dir: string;
  readonly adapter: LoadedAdapter;
}

export interface SkippedEntry {
  readonly name: string;
  readonly dir: string;
  /** Why it was skipped. */
  readonly reason: string;
}

export interface Registry {
  /** Loaded adapters by name (sorted by name). */
  readonly adapters: ReadonlyMap<string, RegistryEntry>;
  readonly skipped: readonly SkippedEntry[];
  /** name → folder of the loaded adapters (what the engine takes). */
  dirs(): Record<string, string>;
}

export interface RegistryOptions {
  /** Each skipped adapter and each loading warning, as one line. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /** Names no adapter may take (the base model's name). */
  reserved?: readonly string[];
}

/**
 * Scans `dir` for adapters and loads each against `model`. Hidden entries (".git") and plain files
 * are ignored; a sub-folder with an invalid name, without adapter_config.json, or that does not
 * load is skipped with a warning naming it and the reason. A missing `dir` is an error.
 */
export function loadRegistry(dir: string, model: AdapterModel, opts: RegistryOptions = {}): Registry {
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, 'SoftpromptWarning'));
  const root = resolve(dir);
  if (!existsSync(root)) throw new SoftpromptError(`--adapters ${dir}: no such folder`);
  if (!statSync(root).isDirectory()) throw new SoftpromptError(`--adapters ${dir}: expected a folder of adapter folders, but this is a file`);
  const reserved = new Set(opts.reserved ?? []);
  // Hash the base model once, not once per adapter.
  const fingerprint = model.weights ? fingerprintModel({ config: model.config, weights: model.weights }) : undefined;

  const adapters = new Map<string, RegistryEntry>();
  const skipped: SkippedEntry[] = [];
  const skip = (name: string, path: string, reason: string): void => {
    skipped.push({ name, dir: path, reason });
    warn(`adapter "${name}" (${path}) skipped: ${reason}`);
  };

  for (const name of readdirSync(root).sort()) {
    if (name.startsWith('.')) continue;
    const path = join(root, name);
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory(); // follows symlinks
    } catch (e) {
      skip(name, path, `cannot be read: ${(e as Error).message}`);
      continue;
    }
    if (!isDir) continue;
    if (!isValidAdapterName(name)) {
      skip(name, path, `invalid name: an adapter's folder name must match ${ADAPTER_NAME.source} (letters, digits, '.', '_', '-'; ${ADAPTER_NAME_MAX} characters at most; a letter or digit first)`);
      continue;
    }
    if (reserved.has(name)) {
      skip(name, path, `the name "${name}" is the base model's; rename the folder`);
      continue;
    }
    if (!existsSync(join(path, ADAPTER_CONFIG_FILE))) {
      skip(name, path, `not an adapter folder: it has no ${ADAPTER_CONFIG_FILE}`);
      continue;
    }
    try {
      const adapter = loadAdapter(path, model, {
        onWarning: (m) => warn(`adapter "${name}": ${m}`),
        ...(fingerprint ? { fingerprint } : {}),
      });
      adapters.set(name, { name, dir: adapter.dir, adapter });
    } catch (e) {
      skip(name, path, e instanceof Error ? e.message : String(e));
    }
  }
  return {
    adapters,
    skipped,
    dirs: () => Object.fromEntries([...adapters.values()].map((a) => [a.name, a.dir])),
  };
}
