/**
 * Engine failures as the client sees them (issue 16): a 500 in OpenAI's error shape that says
 * nothing about the engine's internals (ONNX Runtime's allocator messages, tensor shapes, stack
 * frames); the server's log keeps the original error.
 */
import { GraphError } from '../errors.ts';
import { EngineWorkerError } from '../infer/wire_errors.ts';
import { ApiError } from './errors.ts';

/** Errors that are the engine's fault even though they are typed (never the request's). */
export function isEngineFailure(err: unknown): boolean {
  // RuntimeError (runtime/ort_backend.ts) by name: importing it would load onnxruntime-node here.
  return (err instanceof Error && err.name === 'RuntimeError') || err instanceof GraphError || err instanceof RangeError || err instanceof EngineWorkerError;
}

export function engineFailure(): ApiError {
  return new ApiError(500, 'the model failed on this request (an internal error, logged by the server); retry, or report it if it persists', null, 'server_error', 'engine_error');
}
