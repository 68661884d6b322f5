/**
 * Errors across the engine worker's message port. Structured cloning keeps only a plain Error's
 * message, so the worker sends each error's class name, message and own plain fields, and the
 * calling thread rebuilds it with the same prototype: `instanceof InferenceError`, `.field`,
 * `.name` and the message come out as the in-process engine throws them, so the server maps them
 * to the same statuses.
 */
import {
  AdapterError, ConfigError, FormatError, GraphError, MissingTensorError, ShapeMismatchError, SoftpromptError,
  UnsupportedDtypeError, UnsupportedModelError,
} from '../errors.ts';
import { DataError } from '../data/errors.ts';
import { MemoryError } from '../models/memory.ts';
import { InferenceError } from './errors.ts';

export interface WireError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** A SoftpromptError of a class not in {@link CLASSES} (onnxruntime's RuntimeError) comes back as a SoftpromptError with its name. */
  readonly softprompt: boolean;
  /** Own fields that clone as they are (field, file, line, status, shapes). */
  readonly fields: Record<string, unknown>;
}

/** The engine failed outside any request's fault: its worker died or could not be reached (a 500). */
export class EngineWorkerError extends SoftpromptError {}

type ErrorClass = abstract new (...args: never[]) => Error;

// Classes the engine's calls can throw, by name; the rest (RankError, onnxruntime's RuntimeError: their
// modules load onnxruntime, which the calling thread need not) keep their name on a SoftpromptError.
const CLASSES: ReadonlyMap<string, ErrorClass> = new Map<string, ErrorClass>([
  InferenceError, SoftpromptError, GraphError, FormatError, MissingTensorError, ShapeMismatchError, UnsupportedDtypeError,
  UnsupportedModelError, ConfigError, AdapterError, DataError, MemoryError, EngineWorkerError,
  RangeError, TypeError, SyntaxError, Error,
].map((c) => [c.name, c]));

const plain = (v: unknown): boolean =>
  v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string'));

export function toWire(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), softprompt: false, fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(err)) if (k !== 'name' && k !== 'message' && k !== 'stack' && plain(v)) fields[k] = v;
  return { name: err.name, message: err.message, stack: err.stack, softprompt: err instanceof SoftpromptError, fields };
}

export function fromWire(w: WireError): Error {
  const cls = CLASSES.get(w.name) ?? (w.softprompt ? SoftpromptError : Error);
  const e = Object.create(cls.prototype) as Error;
  Object.defineProperty(e, 'message', { value: w.message, writable: true, configurable: true });
  Object.assign(e, w.fields);
  if (e.name !== w.name) Object.defineProperty(e, 'name', { value: w.name, writable: true, configurable: true, enumerable: true });
  // The worker's stack (the server's log shows where the engine failed).
  if (w.stack !== undefined) Object.defineProperty(e, 'stack', { value: w.stack, writable: true, configurable: true });
  return e;
}
