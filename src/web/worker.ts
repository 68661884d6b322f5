/**
 * The Web Worker: holds the model, trains and serves the page's requests so the page stays
 * responsive. Files arrive as bytes and live in the worker's memory file system.
 */
// The memory file system, installed before any core module touches a file.
import { memoryFs } from './host/index.ts';
import { join } from './host/path.ts';
import { ADAPTER_ZIP_FILES, adapterZip, zipAdapterFiles } from '../adapter/archive.ts';
import { loadAdapterDir } from '../adapter/load.ts';
import { ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE } from '../adapter/types.ts';
import { readRecords } from '../data/readers.ts';
import { createEngine } from '../infer/engine.ts';
import type { Engine } from '../infer/engine.ts';
import { setBackend } from '../runtime/session.ts';
import { createWebBackend } from '../runtime/web_backend.ts';
import { loadModel } from '../pretrained/model.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { trainAdapter, WebError } from './core.ts';
import { checkHeapBudget } from './memory.ts';
import type { RequestMessage, Requests, Responses, WorkerMessage } from './protocol.ts';

interface WorkerScope {
  postMessage(m: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<RequestMessage>) => void) | null;
  crossOriginIsolated?: boolean;
}
const scope = globalThis as unknown as WorkerScope;

const ADAPTER_DIR = '/adapter';

let model: LoadedModel | null = null;
let engine: Engine | null = null;
let engineHasAdapter = false;
let trained = false;
let running: AbortController | null = null;

function needModel(): LoadedModel {
  if (!model) throw new WebError('no model: send openModel first');
  return model;
}

/** The inference engine over the model, with the trained adapter as task "adapter" once there is one. */
async function getEngine(): Promise<Engine> {
  if (engine && engineHasAdapter === trained) return engine;
  await engine?.close();
  engine = await createEngine({ model: needModel(), adapters: trained ? { adapter: ADAPTER_DIR } : {}, onWarning: (m) => console.warn(m) });
  engineHasAdapter = trained;
  return engine;
}

const handlers: { [K in keyof Requests]: (p: Requests[K]) => Promise<Responses[K]> } = {
  async init(p) {
    const backend = await createWebBackend({ numThreads: p.numThreads, ...(p.wasmPaths !== undefined ? { wasmPaths: p.wasmPaths } : {}), ...(p.executionProvider ? { executionProvider: p.executionProvider } : {}) });
    setBackend(backend);
    return { backend: backend.name, crossOriginIsolated: scope.crossOriginIsolated === true };
  },
  async writeFiles(p) {
    memoryFs.mkdirSync(p.dir, { recursive: true });
    let bytes = 0;
    for (const [name, data] of Object.entries(p.files)) {
      if (name.includes('/')) throw new WebError(`writeFiles: file name "${name}" must not contain "/"`);
      const b = data instanceof Uint8Array ? data : new Uint8Array(data);
      memoryFs.writeFileSync(join(p.dir, name), b);
      bytes += b.byteLength;
    }
    return { bytes };
  },
  async openModel(p) {
    const estimate = checkHeapBudget(p.dir);
    await engine?.close();
    engine = null;
    model = await loadModel(p.dir);
    const c = model.config;
    let parameters = 0;
    for (const name of model.weights.names()) parameters += model.weights.info(name).shape.reduce((a, b) => a * b, 1);
    return { modelType: c.modelType, numLayers: c.numLayers, hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, parameters, heapEstimateBytes: estimate };
  },
  async train(p) {
    const m = needModel();
    // The engine's sessions hold copies of the weights; free them while training (see memory.ts).
    await engine?.close();
    engine = null;
    // A new run replaces the adapter (the trainer refuses a folder that holds another run's checkpoints).
    memoryFs.rmSync(ADAPTER_DIR, { recursive: true, force: true });
    trained = false;
    running = new AbortController();
    try {
      const r = await trainAdapter(m, { ...p.options, out: ADAPTER_DIR }, (event) => scope.postMessage({ type: 'event', event }), running.signal);
      trained = true;
      return { ...r, adapterDir: ADAPTER_DIR };
    } finally {
      running = null;
    }
  },
  async classify(p) {
    const e = await getEngine();
    const res = await e.classify(p.texts.map((text) => ({ task: p.adapter ? 'adapter' : null, input: text, template: p.template, verbalizer: p.verbalizer })));
    return { labels: res.map((r) => r.label), scores: res.map((r) => r.scores) };
  },
  async evaluate(p) {
    const e = await getEngine();
    const labelField = p.labelField ?? 'label';
    let n = 0;
    let correct = 0;
    let batch: Record<string, string>[] = [];
    const flush = async (): Promise<void> => {
      const res = await e.classify(batch.map((r) => ({ task: p.adapter ? 'adapter' : null, input: r, template: p.template, verbalizer: p.verbalizer })));
      res.forEach((r, i) => (correct += r.label === batch[i]![labelField] ? 1 : 0));
      n += batch.length;
      batch = [];
    };
    for await (const r of readRecords(p.file)) {
      batch.push(r as Record<string, string>);
      if (batch.length === 32) await flush();
    }
    if (batch.length) await flush();
    return { accuracy: n ? correct / n : 0, n, correct };
  },
  async generate(p) {
    const e = await getEngine();
    const [r] = await e.generate([{ task: p.adapter ? 'adapter' : null, prompt: p.prompt, maxNewTokens: p.maxNewTokens, temperature: 0 }]);
    return { text: r!.text, ids: r!.ids };
  },
  async loadAdapter(p) {
    const files = zipAdapterFiles(p.zip instanceof Uint8Array ? p.zip : new Uint8Array(p.zip), 'adapter.zip');
    for (const f of [ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE]) if (!files.has(f)) throw new WebError(`adapter.zip: ${f} is missing`);
    await engine?.close();
    engine = null;
    // The upload replaces the page's adapter (trained or uploaded before).
    trained = false;
    memoryFs.rmSync(ADAPTER_DIR, { recursive: true, force: true });
    memoryFs.mkdirSync(ADAPTER_DIR, { recursive: true });
    for (const f of ADAPTER_ZIP_FILES) if (files.has(f)) memoryFs.writeFileSync(join(ADAPTER_DIR, f), files.bytes(f));
    try {
      // Checked against the model now (shapes, base-model fingerprint), not at the first request.
      const a = loadAdapterDir(ADAPTER_DIR, needModel(), (m) => console.warn(m));
      trained = true;
      return { peftType: a.peftType, numVirtualTokens: a.method.numVirtualTokens, template: a.meta?.template?.source ?? null, verbalizer: a.meta?.verbalizer ?? null };
    } catch (e) {
      memoryFs.rmSync(ADAPTER_DIR, { recursive: true, force: true });
      throw e;
    }
  },
  async zipAdapter() {
    if (!trained) throw new WebError('no adapter yet: train first');
    return { zip: adapterZip(Object.fromEntries(ADAPTER_ZIP_FILES.map((f) => [f, memoryFs.readFileSync(join(ADAPTER_DIR, f)) as Uint8Array]))) };
  },
};

scope.onmessage = (e: MessageEvent<RequestMessage>): void => {
  const msg = e.data;
  if (msg.type === 'abort') {
    running?.abort();
    return;
  }
  const handler = handlers[msg.type] as (p: unknown) => Promise<Responses[keyof Responses]>;
  handler(msg.payload).then(
    (value) => scope.postMessage({ id: msg.id, type: 'result', value }),
    (err: unknown) => {
      const er = err instanceof Error ? err : new Error(String(err));
      scope.postMessage({ id: msg.id, type: 'error', message: er.message, name: er.name });
    },
  );
};
