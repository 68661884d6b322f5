/**
 * The worker thread of WorkerEngine (worker_engine.ts): loads the model and the adapters, owns the
 * one Engine and with it every ORT session, and answers the calling thread's messages. Calls
 * overlap here as they do in process (the Engine batches them); each abort message aborts its
 * call's (or row's) AbortController.
 */
// Node's file system, paths and hashing for the core (host.ts).
import '../host_node.ts';
import { parentPort, workerData } from 'node:worker_threads';
import { fingerprintModel } from '../adapter/fingerprint.ts';
import { loadAdapter } from '../adapter/load.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { loadModel } from '../pretrained/model.ts';
import { createEngine } from '../infer/engine.ts';
import type { Engine } from '../infer/engine.ts';
import type { DetokenizeOptions, ScoreRequest, TokenizeOptions } from '../infer/types.ts';
import { toWire } from '../infer/wire_errors.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker_engine.ts';

if (!parentPort) throw new Error('engine_worker.ts runs as a worker thread (see worker_engine.ts)');
const port = parentPort;
const init = workerData as WorkerInit;
const send = (m: FromWorker): void => port.postMessage(m);

interface Controls {
  call: AbortController;
  rows: AbortController[];
}
const controls = new Map<number, Controls>();

async function start(): Promise<Engine> {
  const model = await loadModel(init.model);
  let loaded: Record<string, LoadedAdapter> | undefined;
  if (init.adaptersReported && init.adapters !== undefined && typeof init.adapters === 'object') {
    // Loaded and reported by the caller already: load them quietly, hashing the base model once.
    const fingerprint = fingerprintModel({ config: model.config, weights: model.weights });
    loaded = {};
    for (const [name, dir] of Object.entries(init.adapters)) {
      try {
        loaded[name] = loadAdapter(dir, model, { onWarning: () => {}, fingerprint });
      } catch {
        // createEngine loads it again and reports why it does not load.
      }
    }
  }
  const { adaptersReported: _, ...opts } = init;
  return createEngine({ ...opts, model, ...(loaded ? { loaded } : {}), onWarning: (message) => send({ kind: 'warning', message }) });
}

async function answer(engine: Engine, m: Exclude<ToWorker, { op: 'abort' }>): Promise<void> {
  const c: Controls = { call: new AbortController(), rows: [] };
  controls.set(m.id, c);
  try {
    let value: unknown;
    if (m.op === 'generate' || m.op === 'classify') {
      c.rows = m.rowSignals.map(() => new AbortController());
      const signals = m.rowSignals.map((has, i) => (has ? c.rows[i]!.signal : undefined));
      value = m.op === 'generate' ? await engine.generate(m.requests, { signal: c.call.signal, signals }) : await engine.classify(m.requests, { signals });
    } else if (m.op === 'stream') {
      for await (const chunk of engine.generateStream(m.request, { signal: c.call.signal })) send({ kind: 'chunk', id: m.id, chunk });
    } else {
      const a = m.args;
      switch (m.method) {
        case 'score':
          value = await engine.score(a[0] as ScoreRequest[], { signal: c.call.signal });
          break;
        case 'tokenize':
          value = await engine.tokenize(a[0] as string, a[1] as TokenizeOptions);
          break;
        case 'detokenize':
          value = await engine.detokenize(a[0] as number[], a[1] as DetokenizeOptions);
          break;
        case 'close':
          await engine.close();
          break;
      }
    }
    send({ kind: 'result', id: m.id, value });
  } catch (e) {
    send({ kind: 'error', id: m.id, error: toWire(e) });
  } finally {
    controls.delete(m.id);
  }
}

try {
  const engine = await start();
  port.on('message', (m: ToWorker) => {
    if (m.op !== 'abort') return void answer(engine, m);
    const c = controls.get(m.id);
    (m.row === undefined ? c?.call : c?.rows[m.row])?.abort();
  });
  send({ kind: 'ready', baseModel: engine.baseModel, tokenizerInfo: engine.tokenizerInfo, tasks: engine.tasks(), skipped: [...engine.skipped] });
} catch (e) {
  send({ kind: 'failed', error: toWire(e) });
}
