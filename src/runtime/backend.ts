/**
 * The engine boundary. Everything above runtime/ talks to these interfaces; only
 * ort_backend.ts imports onnxruntime, so a browser build can swap in onnxruntime-web.
 */
import type { Tensor } from '../tensor.ts';

export interface SessionOptions {
  /** Threads for one op; defaults to the machine's core count. */
  intraOpThreads?: number;
  /** Where the model bytes came from, for error messages. */
  label?: string;
  /**
   * The folder the model's external-data locations are relative to (they name files there).
   * Absent: the model embeds all its data.
   */
  externalDataDir?: string;
  /**
   * Keep initializers as loaded instead of repacking them per kernel, so sessions mapping one
   * external-data file share its pages (ORT's session.disable_prepacking).
   */
  disablePrepacking?: boolean;
}

export interface CompiledSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Run once; fetch the named outputs (all by default). */
  run(feeds: Readonly<Record<string, Tensor>>, fetches?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /**
   * Whether a run reads CPU input tensors in place (onnxruntime-node). Then weights fed as graph
   * inputs cost no copy per run, and sessions may share held weights (session.ts). onnxruntime-web
   * copies every input into the WASM heap on every run, so it keeps weights as initializers.
   */
  readonly inputsWithoutCopy?: boolean;
  compile(model: Uint8Array, opts?: SessionOptions): Promise<CompiledSession>;
}
