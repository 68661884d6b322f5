/**
 * The browser's memory ceiling. onnxruntime-web 1.30 ships only 32-bit WASM builds, so every
 * session's weights, activations and scratch share one heap of at most 4 GiB. Each compiled graph
 * holds its own copy of the weights (they are initializers in the model bytes, which are themselves
 * copied into the heap while the session is created). The largest model is checked here, from the
 * safetensors headers alone, before any weight is read.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';
import { readHfConfig } from '../formats/model_dir.ts';
import { readSafetensorsHeader, readSafetensorsIndex } from '../formats/safetensors.ts';
import type { SafetensorsHeader } from '../formats/safetensors.ts';

export class MemoryBudgetError extends SoftpromptError {}

/** 32-bit WASM: 65536 pages of 64 KiB. */
export const WASM_HEAP_LIMIT = 4 * 2 ** 30;

/**
 * float32 copies of the weights alive in the heap at the worst moment: the inference engine's
 * step, prefix and rank-scoring sessions (3), plus the model bytes of the one being created (1).
 * Training alone needs 2 (its session and, while creating it, the model bytes).
 */
export const WEIGHT_COPIES = 4;
/** Activations, gradients and ORT's arena at the page's batch shapes (measured with stories260K to GPT-2 small: < 0.5 GiB). */
export const ACTIVATION_ALLOWANCE = 512 * 2 ** 20;

function tensorElements(header: SafetensorsHeader): number {
  let n = 0;
  for (const e of header.entries.values()) n += e.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Number of weights in a model folder, from its safetensors header(s). */
export function countParameters(dir: string): number {
  const single = host().path.join(dir, 'model.safetensors');
  if (host().fs.existsSync(single)) return tensorElements(readSafetensorsHeader(single));
  const index = host().path.join(dir, 'model.safetensors.index.json');
  if (!host().fs.existsSync(index)) throw new MemoryBudgetError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  const shards = new Set(readSafetensorsIndex(index).weightMap.values());
  let n = 0;
  for (const s of shards) n += tensorElements(readSafetensorsHeader(host().path.join(dir, s)));
  return n;
}

export function estimateHeapBytes(parameters: number): number {
  return WEIGHT_COPIES * 4 * parameters + ACTIVATION_ALLOWANCE;
}

/** Refuses a model whose estimate exceeds the heap, before loading it; returns the estimate. */
export function checkHeapBudget(dir: string, limit = WASM_HEAP_LIMIT): number {
  readHfConfig(host().path.join(dir, 'config.json')); // a clear error for a folder that is no model
  host().fs.statSync(dir);
  const params = countParameters(dir);
  const need = estimateHeapBytes(params);
  if (need > limit) {
    const gib = (b: number): string => (b / 2 ** 30).toFixed(2);
    const maxParams = Math.floor((limit - ACTIVATION_ALLOWANCE) / (WEIGHT_COPIES * 4));
    throw new MemoryBudgetError(
      `${dir}: ${(params / 1e6).toFixed(0)}M parameters need about ${gib(need)} GiB of WASM heap (${WEIGHT_COPIES} float32 copies of the weights + activations), ` +
        `more than the ${gib(limit)} GiB a 32-bit WebAssembly build of onnxruntime-web can address; ` +
        `the browser build takes models up to about ${(maxParams / 1e6).toFixed(0)}M parameters: train this one with the Node CLI`,
    );
  }
  return need;
}
