/**
 * Where the model and the dataset come from when a command can run without being told (the
 * demo): the flag, then an environment variable, then `../shared` beside the working directory
 * or the checkout, then a Hugging Face Hub download. With none of them it fails with a message
 * that says what to provide, rather than a stack trace.
 *
 * The hub step (`@huggingface/hub`, see hub.ts) runs only for a value that looks like a hub id
 * and is not a local path, or for a configured default repository; tests inject a fake.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';
import { SUPPORTED_MODEL_TYPES } from '../formats/hf_config.ts';
import { downloadModel, huggingFaceHub } from './hub.ts';

export type ResolvedSource = 'flag' | 'env' | 'shared' | 'hub';

export interface Resolved {
  /** An absolute path: a model folder, or a dataset folder or file. */
  readonly path: string;
  readonly source: ResolvedSource;
}

/** Downloads a hub repository and returns its local folder. Throws when it cannot. */
export type HubDownloader = (repo: string, type: 'model' | 'dataset') => Promise<string>;

export interface ResolveOptions {
  /** Environment to read SOFTPROMPT_MODEL / SOFTPROMPT_DATA / SOFTPROMPT_SHARED from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default process.cwd(). */
  cwd?: string;
  /** The checkout's root, whose ../shared is searched. Default: derived from this file's location. */
  packageRoot?: string;
  /** Hub repository tried when nothing local is found (a flag or env value that looks like owner/name is tried as well). */
  hubRepo?: string;
  /** Replaces the @huggingface/hub download (tests); null turns the hub step off. */
  download?: HubDownloader | null;
}

let root: string | undefined;

/** The package's root: the nearest folder above this module with a package.json (src/ runs from source, dist/src/ compiled). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const from = host().path.dirname(host().url.fileURLToPath(import.meta.url));
  for (let dir = from; host().path.dirname(dir) !== dir; dir = host().path.dirname(dir)) {
    if (host().fs.existsSync(host().path.join(dir, 'package.json'))) return (root = dir);
  }
  return (root = host().path.resolve(from, '..', '..'));
}

export const MODEL_ENV = 'SOFTPROMPT_MODEL';
export const DATA_ENV = 'SOFTPROMPT_DATA';
export const SHARED_ENV = 'SOFTPROMPT_SHARED';
/** The model and dataset looked for inside a shared folder. */
export const SHARED_MODEL = 'models/stories260K';
export const SHARED_DATASET = 'datasets/story_gender';

/** Could `s` be a hub id (owner/name) rather than a path? */
export function looksLikeHubId(s: string): boolean {
  return /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(s) && !s.includes('..');
}

/** Candidate shared folders, in the order searched: $SOFTPROMPT_SHARED (explicit, so first), ../shared beside the working directory, beside the checkout. */
export function sharedRoots(opts: ResolveOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const roots = [env[SHARED_ENV], host().path.join(opts.cwd ?? process.cwd(), '..', 'shared'), host().path.join(opts.packageRoot ?? packageRoot(), '..', 'shared')];
  return [...new Set(roots.filter((r): r is string => r !== undefined && r !== '').map((r) => host().path.resolve(r)))];
}

interface Kind {
  readonly what: 'model' | 'dataset';
  readonly flag: string;
  readonly env: string;
  readonly shared: string;
  /** Whether a shared candidate is complete. */
  readonly complete: (dir: string) => boolean;
  /** What to provide, as lines of the final message. */
  readonly layout: string;
  readonly isDirOnly: boolean;
}

const MODEL: Kind = {
  what: 'model',
  flag: '--model',
  env: MODEL_ENV,
  shared: SHARED_MODEL,
  complete: (dir) => host().fs.existsSync(host().path.join(dir, 'config.json')) && host().fs.existsSync(host().path.join(dir, 'tokenizer.json')),
  layout:
    `a Hugging Face model folder (model_type ${SUPPORTED_MODEL_TYPES.join(', ')}) holding config.json, model.safetensors ` +
    '(or model.safetensors.index.json with its shards) and tokenizer.json',
  isDirOnly: true,
};

const DATASET: Kind = {
  what: 'dataset',
  flag: '--data',
  env: DATA_ENV,
  shared: SHARED_DATASET,
  complete: (dir) => host().fs.existsSync(host().path.join(dir, 'train.jsonl')) && host().fs.existsSync(host().path.join(dir, 'validation.jsonl')),
  layout: 'a dataset folder holding train.jsonl and validation.jsonl (one {"text", "label"} object per line), or a data file',
  isDirOnly: false,
};

/** The Hub through @huggingface/hub: a model's loadable files only, a dataset whole (see hub.ts). */
async function hubDownload(repo: string, type: 'model' | 'dataset'): Promise<string> {
  const client = await huggingFaceHub();
  return type === 'model' ? downloadModel(repo, client) : client.snapshot(repo, type);
}

async function fromHub(kind: Kind, repo: string, opts: ResolveOptions): Promise<{ path?: string; problem?: string }> {
  const download = opts.download === undefined ? hubDownload : opts.download;
  if (download === null) return { problem: 'hub downloads are turned off' };
  try {
    return { path: host().path.resolve(await download(repo, kind.what)) };
  } catch (e) {
    return { problem: `could not download ${kind.what} "${repo}" from the Hugging Face Hub: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** A value given by flag or env: an existing path, else a hub id, else an error naming where it came from. */
async function given(kind: Kind, value: string, source: 'flag' | 'env', opts: ResolveOptions): Promise<Resolved> {
  const where = source === 'flag' ? kind.flag : `$${kind.env}`;
  const path = host().path.resolve(opts.cwd ?? process.cwd(), value);
  if (host().fs.existsSync(path)) {
    if (kind.isDirOnly && !host().fs.statSync(path).isDirectory()) {
      throw new SoftpromptError(`${where} ${value}: is a file, but a ${kind.what} is ${kind.layout}`);
    }
    return { path, source };
  }
  if (looksLikeHubId(value)) {
    const hub = await fromHub(kind, value, opts);
    if (hub.path !== undefined) return { path: hub.path, source: 'hub' };
    throw new SoftpromptError(`${where} ${value}: no such ${kind.what} folder here, and ${hub.problem}. Pass ${kind.flag} with ${kind.layout}`);
  }
  throw new SoftpromptError(`${where} ${value}: no such ${kind.what} folder${kind.isDirOnly ? '' : ' or file'} (${path}); it should be ${kind.layout}`);
}

async function resolveKind(kind: Kind, flag: string | undefined, opts: ResolveOptions): Promise<Resolved> {
  if (flag !== undefined && flag !== '') return given(kind, flag, 'flag', opts);
  const env = (opts.env ?? process.env)[kind.env];
  if (env !== undefined && env !== '') return given(kind, env, 'env', opts);
  const looked: string[] = [];
  for (const root of sharedRoots(opts)) {
    const dir = host().path.join(root, kind.shared);
    looked.push(dir);
    if (host().fs.existsSync(dir) && host().fs.statSync(dir).isDirectory() && kind.complete(dir)) return { path: dir, source: 'shared' };
  }
  let hubLine: string;
  if (opts.hubRepo !== undefined) {
    const hub = await fromHub(kind, opts.hubRepo, opts);
    if (hub.path !== undefined) return { path: hub.path, source: 'hub' };
    hubLine = `  (hub: ${hub.problem})`;
  } else {
    hubLine = '  (no hub repository to download from is configured)';
  }
  throw new SoftpromptError(
    [
      `no ${kind.what} found. Provide one of:`,
      `  ${kind.flag} PATH         ${kind.layout}`,
      `  ${kind.env}=PATH  the same, from the environment`,
      `  ../shared/${kind.shared.split('\\').join('/')}  beside the working directory or the checkout (or ${SHARED_ENV}=DIR holding ${kind.shared})`,
      `Looked in: ${looked.join(', ') || '(no shared folder candidates)'}`,
      hubLine,
    ].join('\n'),
  );
}

/** The model folder: --model, then $SOFTPROMPT_MODEL, then ../shared/models/stories260K, then the hub. */
export function resolveModel(flag?: string, opts: ResolveOptions = {}): Promise<Resolved> {
  return resolveKind(MODEL, flag, opts);
}

/** The dataset (folder or file): --data, then $SOFTPROMPT_DATA, then ../shared/datasets/story_gender, then the hub. */
export function resolveDataset(flag?: string, opts: ResolveOptions = {}): Promise<Resolved> {
  return resolveKind(DATASET, flag, opts);
}
