/**
 * A continual prompt library: one frozen base model and many named task prompts in one folder.
 *
 *   LIB/library.json         {format: "softprompt-library", version: 1, base_model, tasks}
 *   LIB/tasks/<name>/        a normal adapter folder (adapter_config.json, adapter_model.safetensors,
 *                            softprompt.json, report.html when the run had one)
 *
 * Adding or retraining a task writes only tasks/<name>/ (assembled in a temporary folder and
 * renamed into place, so a crash never leaves half a task) and library.json (written atomically);
 * every other task's files stay byte-identical, so its predictions cannot change.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { loadAdapter } from '../adapter/load.ts';
import { ADAPTER_NAME_MAX, isValidAdapterName } from '../adapter/name.ts';
import { parseSoftpromptMeta } from '../adapter/meta.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE } from '../adapter/types.ts';
import { SoftpromptError } from '../errors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { loadModelDir } from '../formats/model_dir.ts';

export const LIBRARY_FILE = 'library.json';
export const LIBRARY_FORMAT = 'softprompt-library';
export const LIBRARY_VERSION = 1;
export const TASKS_DIR = 'tasks';
/** The files of a run folder that make a task (report.html only when present). */
export const TASK_FILES = [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, SOFTPROMPT_FILE] as const;
export const OPTIONAL_TASK_FILES = ['report.html'] as const;

/** A library operation refused: bad name, wrong model, existing task, malformed library.json. */
export class LibraryError extends SoftpromptError {}

export interface LibraryTask {
  /** Relative to the library folder: "tasks/<name>". */
  dir: string;
  added: string;
  updated: string;
  /** PEFT type of the adapter (PROMPT_TUNING, P_TUNING, PREFIX_TUNING). */
  method: string;
  virtual_tokens: number;
  /** The adapter's dev metrics from its softprompt.json (null when it has none). */
  metrics: Record<string, unknown> | null;
  /** sha256 of each file of the task folder, as added. */
  files: Record<string, string>;
}

export interface LibraryManifest {
  format: typeof LIBRARY_FORMAT;
  version: typeof LIBRARY_VERSION;
  base_model: { path: string; fingerprint: string };
  tasks: Record<string, LibraryTask>;
}

export interface Library {
  /** Absolute path of the library folder. */
  readonly dir: string;
  readonly manifest: LibraryManifest;
}

/** Throws a LibraryError unless `name` is a valid task name. */
export function validateTaskName(name: string): void {
  if (!isValidAdapterName(name)) {
    throw new LibraryError(
      `invalid task name ${JSON.stringify(name)}: use 1-${ADAPTER_NAME_MAX} letters, digits, ".", "_" or "-", starting with a letter or digit, without ".."`,
    );
  }
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function writeManifest(dir: string, manifest: LibraryManifest): void {
  writeFileAtomic(join(dir, LIBRARY_FILE), [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]);
}

/** Creates an empty library in `dir` (which must not hold one) for the model folder `modelDir`. */
export function createLibrary(dir: string, modelDir: string): Library {
  const root = resolve(dir);
  if (existsSync(join(root, LIBRARY_FILE))) throw new LibraryError(`${join(root, LIBRARY_FILE)} already exists: ${root} is a library already`);
  const model = loadModelDir(modelDir);
  const fp = fingerprintModel(model, model.dir);
  mkdirSync(join(root, TASKS_DIR), { recursive: true });
  const manifest: LibraryManifest = {
    format: LIBRARY_FORMAT,
    version: LIBRARY_VERSION,
    base_model: { path: model.dir, fingerprint: fp.sha256 },
    tasks: {},
  };
  writeManifest(root, manifest);
  return { dir: root, manifest };
}

/** Opens the library in `dir`, checking library.json. */
export function openLibrary(dir: string): Library {
  const root = resolve(dir);
  const file = join(root, LIBRARY_FILE);
  if (!existsSync(file)) throw new LibraryError(`${file}: not found; create the library with \`softprompt library init ${dir} --model MODEL_DIR\``);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LibraryError(`${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const m = raw as Partial<LibraryManifest> | null;
  if (typeof m !== 'object' || m === null || m.format !== LIBRARY_FORMAT) throw new LibraryError(`${file}: field "format" must be "${LIBRARY_FORMAT}"`);
  if (m.version !== LIBRARY_VERSION) throw new LibraryError(`${file}: field "version" is ${JSON.stringify(m.version)}; this softprompt reads version ${LIBRARY_VERSION}`);
  const bm = m.base_model;
  if (typeof bm !== 'object' || bm === null || typeof bm.path !== 'string' || typeof bm.fingerprint !== 'string') {
    throw new LibraryError(`${file}: field "base_model" must be {path, fingerprint}`);
  }
  if (typeof m.tasks !== 'object' || m.tasks === null || Array.isArray(m.tasks)) throw new LibraryError(`${file}: field "tasks" must be an object`);
  for (const name of Object.keys(m.tasks)) validateTaskName(name);
  return { dir: root, manifest: m as LibraryManifest };
}

/** The tasks, sorted by name. */
export function listTasks(lib: Library): (LibraryTask & { name: string; path: string })[] {
  return Object.keys(lib.manifest.tasks)
    .sort()
    .map((name) => ({ name, path: join(lib.dir, lib.manifest.tasks[name]!.dir), ...lib.manifest.tasks[name]! }));
}

/** The absolute folder of task `name` (which must exist). */
export function taskDir(lib: Library, name: string): string {
  validateTaskName(name);
  const t = lib.manifest.tasks[name];
  if (!t) throw new LibraryError(`no task "${name}" in ${lib.dir} (tasks: ${Object.keys(lib.manifest.tasks).sort().join(', ') || 'none'})`);
  return join(lib.dir, t.dir);
}

export interface AddTaskOptions {
  /** Replace an existing task of that name (retraining). */
  replace?: boolean;
  onWarning?: (message: string) => void;
}

/**
 * Adds the adapter in the run folder `fromRunDir` as task `name`: copies only its adapter files
 * into tasks/<name>/ (through a temporary folder and a rename) and records it in library.json.
 * Refuses an adapter trained on another base model (its softprompt.json fingerprint differs).
 */
export function addTask(lib: Library, name: string, fromRunDir: string, opts: AddTaskOptions = {}): Library {
  validateTaskName(name);
  const src = resolve(fromRunDir);
  const existing = lib.manifest.tasks[name];
  if (existing && !opts.replace) throw new LibraryError(`task "${name}" already exists in ${lib.dir}; pass --replace to retrain it`);
  if (!existsSync(src) || !statSync(src).isDirectory()) throw new LibraryError(`${src}: not an adapter folder (no such directory)`);
  for (const f of TASK_FILES) {
    if (!existsSync(join(src, f))) throw new LibraryError(`${join(src, f)}: not found; a library task needs ${TASK_FILES.join(', ')} (a softprompt run folder)`);
  }
  const metaPath = join(src, SOFTPROMPT_FILE);
  let rawMeta: unknown;
  try {
    rawMeta = JSON.parse(readFileSync(metaPath, 'utf8'));
  } catch (e) {
    throw new LibraryError(`${metaPath}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const meta = parseSoftpromptMeta(rawMeta, metaPath);
  const fp = meta.base_model?.sha256;
  if (fp === undefined) throw new LibraryError(`${metaPath}: field "base_model" is missing, so the adapter's base model cannot be checked against the library's`);
  if (fp !== lib.manifest.base_model.fingerprint) {
    throw new LibraryError(
      `${metaPath}: the adapter was trained on another base model: its base_model.sha256 is ${fp}` +
        `${meta.base_model?.path ? ` (${meta.base_model.path})` : ''} but the library's base model ${lib.manifest.base_model.path} has fingerprint ${lib.manifest.base_model.fingerprint}`,
    );
  }
  // The adapter must load for the library's model (shapes, PEFT fields).
  const model = loadModelDir(lib.manifest.base_model.path);
  const adapter = loadAdapter(src, { config: model.config }, { onWarning: opts.onWarning ?? (() => {}) });

  const tasksRoot = join(lib.dir, TASKS_DIR);
  mkdirSync(tasksRoot, { recursive: true });
  const rel = `${TASKS_DIR}/${name}`;
  const dest = join(lib.dir, rel);
  const tmp = join(tasksRoot, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const files: Record<string, string> = {};
  try {
    mkdirSync(tmp);
    for (const f of [...TASK_FILES, ...OPTIONAL_TASK_FILES]) {
      if (!existsSync(join(src, f))) continue;
      copyFileSync(join(src, f), join(tmp, f));
      files[f] = sha256File(join(tmp, f));
    }
    if (existsSync(dest)) {
      // A replaced task (or a folder left by a crash before library.json named it): swap it out.
      const old = join(tasksRoot, `.${name}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
      renameSync(dest, old);
      renameSync(tmp, dest);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, dest);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const now = new Date().toISOString();
  const manifest: LibraryManifest = {
    ...lib.manifest,
    tasks: {
      ...lib.manifest.tasks,
      [name]: {
        dir: rel,
        added: existing?.added ?? now,
        updated: now,
        method: adapter.peftType,
        virtual_tokens: adapter.method.numVirtualTokens,
        metrics: meta.metrics ?? null,
        files,
      },
    },
  };
  writeManifest(lib.dir, manifest);
  return { dir: lib.dir, manifest };
}

/** Removes task `name`: its entry from library.json first, then its folder. */
export function removeTask(lib: Library, name: string): Library {
  const dir = taskDir(lib, name);
  const tasks = { ...lib.manifest.tasks };
  delete tasks[name];
  const manifest = { ...lib.manifest, tasks };
  writeManifest(lib.dir, manifest);
  rmSync(dir, { recursive: true, force: true });
  return { dir: lib.dir, manifest };
}

/** Names of task files whose bytes differ from the hashes recorded when the task was added. */
export function changedFiles(lib: Library, name: string): string[] {
  const dir = taskDir(lib, name);
  const recorded = lib.manifest.tasks[name]!.files ?? {};
  const present = existsSync(dir) ? readdirSync(dir) : [];
  const changed = Object.keys(recorded).filter((f) => !present.includes(f) || sha256File(join(dir, f)) !== recorded[f]);
  return [...changed, ...present.filter((f) => !(f in recorded))].sort();
}
