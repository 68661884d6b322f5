/**
 * Models by Hugging Face Hub id (`--model HuggingFaceTB/SmolLM2-135M`): only the files softprompt
 * loads are fetched (config, tokenizer files, safetensors weights or their shards), never a
 * repository's other copies of the weights (pytorch_model.bin, onnx/, gguf...). Files land in the
 * standard HF cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else ~/.cache/huggingface/hub), so
 * Python tools share them; `HF_TOKEN` authenticates gated models. Datasets are fetched whole.
 *
 * The Hub behind one small interface (HubClient), so the file selection is tested without network.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';

export type RepoType = 'model' | 'dataset';

export interface HubClient {
  /** Every file path of the repository (recursive). */
  listFiles(repo: string, type: RepoType): Promise<string[]>;
  /** Downloads one file into the cache; returns its local path (inside the revision's snapshot folder). */
  downloadFile(repo: string, type: RepoType, path: string): Promise<string>;
  /** Downloads the whole repository; returns its local snapshot folder. */
  snapshot(repo: string, type: RepoType): Promise<string>;
}

/** Files that help but are not needed (a tokenizer's config and special tokens, generation defaults). */
const OPTIONAL = ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];
const INDEX = 'model.safetensors.index.json';

/** The shard files an index names, checked to be plain relative names. */
function shardsOf(indexPath: string, repo: string): string[] {
  let index: unknown;
  try {
    index = JSON.parse(host().fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    throw new SoftpromptError(`${repo}: ${INDEX} is not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const map = (index as { weight_map?: unknown }).weight_map;
  if (map === null || typeof map !== 'object') throw new SoftpromptError(`${repo}: ${INDEX} has no weight_map`);
  const files = [...new Set(Object.values(map as Record<string, unknown>))];
  for (const f of files) {
    if (typeof f !== 'string' || f === '' || f.includes('..') || f.startsWith('/')) throw new SoftpromptError(`${repo}: ${INDEX} names a shard ${JSON.stringify(f)} that is not a file of the repository`);
  }
  return files as string[];
}

/**
 * Fetches what softprompt loads from model repository `repo` and returns the local folder holding
 * it. Refuses, naming the repository, one without config.json, tokenizer.json or safetensors weights.
 */
export async function downloadModel(repo: string, client: HubClient): Promise<string> {
  const files = new Set(await client.listFiles(repo, 'model'));
  const missing = ['config.json', 'tokenizer.json'].filter((f) => !files.has(f));
  if (missing.length > 0) {
    throw new SoftpromptError(
      `${repo} has no ${missing.join(' or ')} at its top level; softprompt needs a Hugging Face model folder with config.json, tokenizer.json (a fast tokenizer) and safetensors weights`,
    );
  }
  // Refuse before fetching anything when there are no safetensors weights.
  if (!files.has(INDEX) && !files.has('model.safetensors')) {
    const other = [...files].filter((f) => /\.(bin|pt|pth|ckpt|gguf|onnx|h5|msgpack)$/.test(f));
    throw new SoftpromptError(
      `${repo} has no model.safetensors or ${INDEX}${other.length ? ` (only ${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''})` : ''}; softprompt reads safetensors weights`,
    );
  }
  const config = await client.downloadFile(repo, 'model', 'config.json');
  await client.downloadFile(repo, 'model', 'tokenizer.json');
  for (const f of OPTIONAL) if (files.has(f)) await client.downloadFile(repo, 'model', f);
  if (files.has(INDEX)) {
    const index = await client.downloadFile(repo, 'model', INDEX);
    for (const shard of shardsOf(index, repo)) {
      if (!files.has(shard)) throw new SoftpromptError(`${repo}: ${INDEX} names ${shard}, which the repository does not have`);
      await client.downloadFile(repo, 'model', shard);
    }
  } else {
    await client.downloadFile(repo, 'model', 'model.safetensors');
  }
  return host().path.dirname(config);
}

/** The files of a PEFT adapter repository softprompt reads (softprompt.json when present). */
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors'];

/** Fetches an adapter repository's PEFT files (and softprompt.json) and returns the local folder holding them. */
export async function downloadAdapter(repo: string, client: HubClient): Promise<string> {
  const files = new Set(await client.listFiles(repo, 'model'));
  const missing = ADAPTER_FILES.filter((f) => !files.has(f));
  if (missing.length > 0) {
    throw new SoftpromptError(`${repo} has no ${missing.join(' or ')} at its top level; a PEFT adapter repository holds adapter_config.json and adapter_model.safetensors`);
  }
  const config = await client.downloadFile(repo, 'model', ADAPTER_FILES[0]!);
  for (const f of [...ADAPTER_FILES.slice(1), ...(files.has('softprompt.json') ? ['softprompt.json'] : [])]) await client.downloadFile(repo, 'model', f);
  return host().path.dirname(config);
}

/** Where and how the Hub is read: the token (else $HF_TOKEN), a revision, the cache folder. */
export interface HubOptions {
  token?: string | undefined;
  revision?: string | undefined;
  cacheDir?: string | undefined;
}

/** The real Hub, through @huggingface/hub (the token, else HF_TOKEN when set, authenticates). */
export async function huggingFaceHub(env: Readonly<Record<string, string | undefined>> = process.env, opts: HubOptions = {}): Promise<HubClient> {
  const hub = await import('@huggingface/hub');
  const token = opts.token ?? env['HF_TOKEN'] ?? env['HUGGING_FACE_HUB_TOKEN'];
  const auth = {
    ...(token ? { accessToken: token } : {}),
    ...(opts.revision !== undefined ? { revision: opts.revision } : {}),
  };
  const cache = opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {};
  const designation = (name: string, type: RepoType) => ({ type, name });
  return {
    async listFiles(repo, type) {
      const out: string[] = [];
      for await (const f of hub.listFiles({ repo: designation(repo, type), recursive: true, ...auth })) if (f.type === 'file') out.push(f.path);
      return out;
    },
    downloadFile: (repo, type, path) => hub.downloadFileToCacheDir({ repo: designation(repo, type), path, ...auth, ...cache }),
    snapshot: (repo, type) => hub.snapshotDownload({ repo: designation(repo, type), ...auth, ...cache }),
  };
}
