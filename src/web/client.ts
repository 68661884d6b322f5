/**
 * softprompt/web: the page's side. A SoftpromptWorker runs the model in a Web Worker (worker.ts);
 * files come from fetch, a file picker (File) or any ArrayBuffer. No Node built-ins.
 */
import type { TrainEvent } from '../train/events.ts';
import type { FileBytes, RequestMessage, Requests, RequestType, Responses, WorkerMessage } from './protocol.ts';

export type { FileBytes, Requests, Responses, WebTrainOptions, WebMethod } from './protocol.ts';
export type { TrainEvent } from '../train/events.ts';

/** The files of a Hugging Face model folder the worker reads (optional ones may be missing). */
export const MODEL_FILES = { required: ['config.json', 'model.safetensors', 'tokenizer.json'], optional: ['tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'] } as const;

export class WebClientError extends Error {}

export interface WorkerOptions {
  /** URL of dist/web/worker.js. */
  workerUrl: string | URL;
  /** WASM threads; more than 1 needs a cross-origin-isolated page (COOP/COEP headers). Default 1. */
  numThreads?: number;
  /** URL prefix of onnxruntime-web's ort-wasm-simd-threaded.{mjs,wasm} (default: beside worker.js). */
  wasmPaths?: string;
  /** 'webgpu' only where navigator.gpu exists; untested (no GPU here). Default 'wasm'. */
  executionProvider?: 'wasm' | 'webgpu';
}

export interface FetchProgress {
  file: string;
  loaded: number;
  total?: number;
}

/** Fetches `names` from `baseUrl` (a folder URL); optional names that answer 404 are skipped. */
export async function fetchFiles(
  baseUrl: string | URL,
  names: readonly string[],
  opts: { optional?: readonly string[]; onProgress?: (p: FetchProgress) => void; signal?: AbortSignal } = {},
): Promise<FileBytes> {
  const base = new URL(String(baseUrl).endsWith('/') ? String(baseUrl) : `${String(baseUrl)}/`, globalThis.location?.href);
  const out: FileBytes = {};
  for (const name of [...names, ...(opts.optional ?? [])]) {
    const url = new URL(name, base);
    const res = await fetch(url, opts.signal ? { signal: opts.signal } : {});
    if (!res.ok) {
      if (opts.optional?.includes(name) && res.status === 404) continue;
      throw new WebClientError(`${url}: HTTP ${res.status} ${res.statusText}`);
    }
    const total = Number(res.headers.get('content-length')) || undefined;
    if (!res.body || !opts.onProgress) {
      out[name] = await res.arrayBuffer();
      continue;
    }
    const reader = res.body.getReader();
    const parts: Uint8Array[] = [];
    let loaded = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      loaded += value.byteLength;
      opts.onProgress({ file: name, loaded, ...(total !== undefined ? { total } : {}) });
    }
    const all = new Uint8Array(loaded);
    let o = 0;
    for (const p of parts) (all.set(p, o), (o += p.byteLength));
    out[name] = all;
  }
  return out;
}

/** Files picked by the user (an <input type=file multiple>), by name. */
export async function readFiles(files: Iterable<File> | ArrayLike<File>): Promise<FileBytes> {
  const out: FileBytes = {};
  for (const f of Array.from(files as ArrayLike<File>)) out[f.name] = await f.arrayBuffer();
  return out;
}

/** The page's handle on the worker: each method is one request; training streams TrainEvents. */
export class SoftpromptWorker {
  readonly #worker: Worker;
  #next = 1;
  readonly #pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  /** Every training event (start, step, stop, checkpoint). */
  onEvent: ((e: TrainEvent) => void) | null = null;
  /** What `init` reported: the backend's name and whether the page is cross-origin isolated. */
  info: Responses['init'] | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
      const m = e.data;
      if (m.type === 'event') return this.onEvent?.(m.event);
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.value as never);
      else {
        const err = new WebClientError(m.message);
        err.name = m.name;
        p.reject(err);
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      for (const p of this.#pending.values()) p.reject(new WebClientError(`worker failed: ${e.message}`));
      this.#pending.clear();
    };
  }

  static async create(opts: WorkerOptions): Promise<SoftpromptWorker> {
    const w = new SoftpromptWorker(new Worker(opts.workerUrl, { type: 'module' }));
    const wasmPaths = opts.wasmPaths ?? new URL('./', new URL(String(opts.workerUrl), globalThis.location?.href)).href;
    w.info = await w.request('init', { numThreads: opts.numThreads ?? 1, wasmPaths, ...(opts.executionProvider ? { executionProvider: opts.executionProvider } : {}) });
    return w;
  }

  request<K extends RequestType>(type: K, payload: Requests[K], transfer: Transferable[] = []): Promise<Responses[K]> {
    const id = this.#next++;
    return new Promise<Responses[K]>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: never) => void, reject });
      this.#worker.postMessage({ id, type, payload } as RequestMessage, transfer);
    });
  }

  /** Puts a model folder's files into the worker and opens it (refused up front when too large for the WASM heap). */
  async loadModel(files: FileBytes, dir = '/model'): Promise<Responses['openModel']> {
    for (const f of MODEL_FILES.required) if (!(f in files)) throw new WebClientError(`model files: ${f} is missing (need ${MODEL_FILES.required.join(', ')})`);
    await this.request('writeFiles', { dir, files });
    return this.request('openModel', { dir });
  }

  /** Puts data files (JSONL/CSV/TSV) into the worker under `dir`; returns their worker paths by name. */
  async putData(files: FileBytes, dir = '/data'): Promise<Record<string, string>> {
    await this.request('writeFiles', { dir, files });
    return Object.fromEntries(Object.keys(files).map((n) => [n, `${dir}/${n}`]));
  }

  /** Trains in the worker; `onEvent` sees every update. Rejects with name "AbortError" after abort(). */
  async train(options: Requests['train']['options'], onEvent?: (e: TrainEvent) => void): Promise<Responses['train']> {
    const prev = this.onEvent;
    if (onEvent) this.onEvent = onEvent;
    try {
      return await this.request('train', { options });
    } finally {
      this.onEvent = prev;
    }
  }

  /** Uses an adapter .zip (PEFT's files + softprompt.json, e.g. zipped from the Node CLI's --out) as the worker's adapter. */
  async loadAdapter(zip: Uint8Array | ArrayBuffer): Promise<Responses['loadAdapter']> {
    return this.request('loadAdapter', { zip: zip instanceof Uint8Array ? zip : new Uint8Array(zip) });
  }

  /** Stops a running training at its next update. */
  abort(): void {
    this.#worker.postMessage({ id: 0, type: 'abort' } satisfies RequestMessage);
  }

  terminate(): void {
    this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(new WebClientError('worker terminated'));
    this.#pending.clear();
  }
}
