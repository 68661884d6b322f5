/**
 * The inference engine's public shape: what infer/ implements and serve/ and the CLI call.
 * One frozen model, many named tasks (adapters). Each task becomes a KV prefix computed once;
 * a batch may mix tasks, virtual-token counts and rows with no task.
 */

/** Sampling settings of one request. temperature 0 (the default) is greedy. */
export interface SamplingOptions {
  /** New tokens to generate at most (>= 1). */
  maxNewTokens: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  /** Seed of this request's sampler (same seed, same request → same text). */
  seed?: number;
  /** Stop before any of these strings (the stop string itself is not returned). */
  stop?: readonly string[];
  /** Stop at the model's EOS token (default true). */
  stopAtEos?: boolean;
}

export interface GenerateRequest extends SamplingOptions {
  /** Adapter name from the registry, or null for the bare base model. */
  task: string | null;
  prompt: string;
}

export type FinishReason = 'length' | 'stop' | 'eos';

export interface GenerateResult {
  text: string;
  /** The generated token ids (without the prompt). */
  ids: number[];
  promptTokens: number;
  finishReason: FinishReason;
}

/** A streamed piece of one request's output. */
export interface GenerateChunk {
  text: string;
  ids: number[];
  /** Present on the last chunk. */
  finishReason?: FinishReason;
}

export interface ClassifyRequest {
  task: string | null;
  /** The input: a record for the task's template (e.g. { text: "..." }) or plain text for the `text` field. */
  input: string | Readonly<Record<string, string>>;
  /** Labels → continuation; default the adapter's verbalizer (softprompt.json). */
  verbalizer?: Readonly<Record<string, string>>;
  /** Template; default the adapter's. */
  template?: string;
}

export interface ClassifyResult {
  label: string;
  /** Summed log-probability of each label's continuation, in verbalizer order. */
  scores: Record<string, number>;
}

export interface TaskInfo {
  name: string;
  /** prompt_tuning | p_tuning | prefix_tuning */
  method: string;
  numVirtualTokens: number;
  /** Where the adapter was loaded from. */
  dir: string;
}

export interface GenerateOptions {
  /** Per request, an optional signal that abandons it (the server's timeout, a client gone). */
  readonly signals?: readonly (AbortSignal | undefined)[];
}

/** The engine. Implementations batch internally; calls may overlap. */
export interface InferenceEngine {
  /** The base model's name (its folder's basename) and every loaded task. */
  readonly baseModel: string;
  tasks(): TaskInfo[];
  /** Runs the requests as one or more mixed-task batches; results in request order. */
  generate(requests: readonly GenerateRequest[]): Promise<GenerateResult[]>;
  /**
   * The same, where request i stops decoding (at its next token) once `signals[i]` aborts, and its
   * entry is then null; the other requests of the call are not disturbed.
   */
  generate(requests: readonly GenerateRequest[], options: GenerateOptions): Promise<(GenerateResult | null)[]>;
  /** Streams one request's tokens as they are decoded. */
  generateStream(request: GenerateRequest): AsyncIterable<GenerateChunk>;
  classify(requests: readonly ClassifyRequest[]): Promise<ClassifyResult[]>;
  /** Frees the ORT sessions. */
  close(): Promise<void>;
}
