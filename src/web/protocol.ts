/** Messages between the page (client.ts) and the training worker (worker.ts). */
import type { TrainEvent } from '../train/events.ts';
import type { ScheduleKind } from '../train/schedule.ts';

/** File name → bytes; a folder's files as the page fetched or picked them. */
export type FileBytes = Record<string, ArrayBuffer | Uint8Array>;

/** The --method values the page offers (multitask needs per-task data the demo does not have). */
export type WebMethod = 'prompt-tuning' | 'p-tuning' | 'prefix-tuning';

/** The `softprompt train` flags the page offers, by their library names; unset ones take TRAIN_DEFAULTS. */
export interface WebTrainOptions {
  train: string;
  template: string;
  verbalizer: Readonly<Record<string, string>>;
  out: string;
  lr?: number;
  steps?: number;
  epochs?: number;
  method?: WebMethod;
  virtualTokens?: number;
  init?: string;
  labelField?: string;
  batchSize?: number;
  seed?: number;
  schedule?: ScheduleKind;
  warmupSteps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  maxTrainExamples?: number;
}

export interface Requests {
  /** Start onnxruntime-web: threads (1 unless the page is cross-origin isolated) and where its wasm files are served. */
  init: { numThreads: number; wasmPaths?: string; executionProvider?: 'wasm' | 'webgpu' };
  /** Put files into the worker's memory file system under `dir`. */
  writeFiles: { dir: string; files: FileBytes };
  /** Open the model folder `dir` (config.json, model.safetensors, tokenizer files). Checks the memory budget first. */
  openModel: { dir: string };
  train: { options: Omit<WebTrainOptions, 'out'> & { out?: string } };
  /** Rank-classify texts with the trained adapter (or none: zero-shot) and the given template/verbalizer. */
  classify: { texts: string[]; adapter: boolean; template: string; verbalizer: Record<string, string> };
  /** Accuracy over a JSONL/CSV split in the memory file system. */
  evaluate: { file: string; adapter: boolean; template: string; verbalizer: Record<string, string>; labelField?: string };
  /** Greedy (temperature 0) unless told otherwise. */
  generate: { prompt: string; adapter: boolean; maxNewTokens: number };
  /** The adapter as one .zip: adapter_config.json, adapter_model.safetensors, softprompt.json. */
  zipAdapter: Record<string, never>;
  /** Use an adapter from a .zip (e.g. trained by the Node CLI) as the page's adapter; checked against the model now. */
  loadAdapter: { zip: Uint8Array };
}

export interface Responses {
  init: { backend: string; crossOriginIsolated: boolean };
  writeFiles: { bytes: number };
  openModel: { modelType: string; numLayers: number; hiddenSize: number; vocabSize: number; parameters: number; heapEstimateBytes: number };
  train: { steps: number; lastLoss: number | null; elapsedSeconds: number; adapterDir: string };
  classify: { labels: string[]; scores: Record<string, number>[] };
  evaluate: { accuracy: number; n: number; correct: number };
  generate: { text: string; ids: number[] };
  zipAdapter: { zip: Uint8Array };
  loadAdapter: { peftType: string; numVirtualTokens: number; template: string | null; verbalizer: Record<string, string> | null };
}

export type RequestType = keyof Requests;
export type RequestMessage = { [K in RequestType]: { id: number; type: K; payload: Requests[K] } }[RequestType] | { id: number; type: 'abort' };
export type WorkerMessage =
  | { id: number; type: 'result'; value: Responses[RequestType] }
  | { id: number; type: 'error'; message: string; name: string }
  | { type: 'event'; event: TrainEvent };
