/**
 * Prompt transfer: a new run starts from an existing adapter's trainable tensors (`train
 * --init-from DIR`), e.g. a library task's prompt. The method and every shape must match.
 */
import { loadAdapter } from '../adapter/load.ts';
import type { AdapterModel } from '../adapter/load.ts';
import { SoftpromptError } from '../errors.ts';
import type { PromptMethod } from '../methods/types.ts';
import { tensor } from '../tensor.ts';
import type { Tensor } from '../tensor.ts';

/** An adapter cannot seed the run: another method, a missing tensor or another shape. */
export class InitFromError extends SoftpromptError {}

/** Copies of the trainable tensors of the adapter in `dir`, checked against `method`. */
export function initFromAdapter(dir: string, method: PromptMethod, model: AdapterModel, onWarning?: (message: string) => void): Record<string, Tensor<'float32'>> {
  const adapter = loadAdapter(dir, model, onWarning ? { onWarning } : {});
  const where = `--init-from ${adapter.dir}`;
  const src = adapter.trainMethod;
  if (src.kind !== method.kind) {
    throw new InitFromError(`${where}: the adapter trains ${src.kind} (${adapter.peftType}${adapter.trainable === adapter.params && adapter.peftType === 'P_TUNING' ? ', saved without its encoder' : ''}) but this run trains ${method.kind}; pass the same --method`);
  }
  const out: Record<string, Tensor<'float32'>> = {};
  for (const p of method.params) {
    const t = adapter.trainable[p.name];
    if (!t) throw new InitFromError(`${where}: the adapter has no trainable tensor "${p.name}" (it has ${Object.keys(adapter.trainable).join(', ')}); train with the adapter's method settings`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new InitFromError(`${where}: tensor "${p.name}" has shape [${t.shape.join(', ')}] but this run's ${method.kind} needs [${p.shape.join(', ')}]; match --virtual-tokens and the encoder settings to the adapter`);
    }
    out[p.name] = tensor('float32', p.shape, Float32Array.from(t.data as ArrayLike<number>));
  }
  const extra = Object.keys(adapter.trainable).filter((k) => !method.params.some((p) => p.name === k));
  if (extra.length) throw new InitFromError(`${where}: the adapter has trainable tensors this run does not use (${extra.join(', ')}); match the encoder settings to the adapter`);
  return out;
}
