/**
 * Which model an adapter belongs to, read from its own files before loading anything: the path
 * softprompt.json recorded (base_model.path), else PEFT's base_model_name_or_path when it is a
 * folder here. Also a short name for the task it was trained on.
 */
import { host } from '../host.ts';
import type { AdapterFiles } from '../adapter/archive.ts';
import { openAdapterFiles } from '../adapter/files.ts';
import { FormatError } from '../errors.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from '../adapter/types.ts';
import type { SoftpromptMeta } from '../adapter/types.ts';

export interface ModelHint {
  readonly path: string;
  /** The file and field it came from. */
  readonly from: string;
}

function readJson(files: AdapterFiles, name: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(files.text(name));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // loadAdapter reports a corrupt file properly, naming it
  }
}

const isModelDir = (p: string): boolean => host().fs.existsSync(p) && host().fs.statSync(p).isDirectory() && host().fs.existsSync(host().path.join(p, 'config.json'));

/**
 * Checks that `dir` looks like an adapter folder or a .zip of one (so a wrong path fails before a
 * model is loaded) and returns the model it names, if that folder exists here.
 */
export function adapterModelHint(dir: string): ModelHint | null {
  const files = openAdapterFiles(dir);
  if (!files.has(ADAPTER_CONFIG_FILE)) {
    throw new FormatError(files.path(ADAPTER_CONFIG_FILE), `not found: this is not an adapter folder (a PEFT adapter holds ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE})`);
  }
  // Relative model paths are relative to the folder, or to the folder holding the .zip.
  const root = host().fs.statSync(files.root).isDirectory() ? files.root : host().path.dirname(files.root);
  const meta = files.has(SOFTPROMPT_FILE) ? readJson(files, SOFTPROMPT_FILE) : null;
  const base = meta?.['base_model'];
  const path = typeof base === 'object' && base !== null ? (base as Record<string, unknown>)['path'] : undefined;
  if (typeof path === 'string' && isModelDir(host().path.resolve(root, path))) return { path: host().path.resolve(root, path), from: `${SOFTPROMPT_FILE} base_model.path` };
  const name = readJson(files, ADAPTER_CONFIG_FILE)?.['base_model_name_or_path'];
  if (typeof name === 'string' && name !== '' && isModelDir(host().path.resolve(root, name))) return { path: host().path.resolve(root, name), from: `${ADAPTER_CONFIG_FILE} base_model_name_or_path` };
  return null;
}

/** "story_gender/train.jsonl" for a run trained on .../story_gender/train.jsonl; undefined when not recorded. */
export function taskOf(meta: SoftpromptMeta | null): string | undefined {
  const train = meta?.training?.['train'];
  if (typeof train !== 'string' || train === '') return undefined;
  return host().path.join(host().path.basename(host().path.dirname(train)), host().path.basename(train));
}
