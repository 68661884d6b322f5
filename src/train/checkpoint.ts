/**
 * Training checkpoints for exact resume. Each checkpoint is a new folder
 * `checkpoints/step-NNNNNNNN/` (params, optimizer moments, best params, state.json); only
 * after it is complete does `checkpoints/latest.json` — written atomically — point at it.
 * A kill at any moment leaves the pointer on a whole checkpoint. Older folders are removed
 * after the pointer moves.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';
import { writeFileAtomic } from '../formats/atomic.ts';
import { readSafetensors, writeSafetensors } from '../formats/safetensors.ts';
import { tensor } from '../tensor.ts';
import type { Tensor } from '../tensor.ts';
import type { AdamWState } from './adamw.ts';

export const CHECKPOINTS_DIR = 'checkpoints';
const LATEST = 'latest.json';

export class CheckpointError extends SoftpromptError {}

/** The best evaluation so far. */
export interface BestRecord {
  value: number;
  step: number;
  epoch: number;
  metrics: Record<string, number>;
}

/** Where a run stands: everything besides tensors that resume needs. */
export interface TrainerState {
  version: 1;
  /** Optimizer updates done. */
  step: number;
  /** Current epoch (0-based). */
  epoch: number;
  /** Micro-batches of `epoch` already used. */
  batchInEpoch: number;
  examplesSeen: number;
  best: BestRecord | null;
  evalsSinceBest: number;
  elapsedSeconds: number;
  /** The run's recipe (seed, lr, batch size, data, method…); resume refuses a different one. */
  recipe: Record<string, unknown>;
  /** sha256 of the training file's content (absent in checkpoints written before it was recorded). */
  dataSha256?: string;
}

export interface Checkpoint {
  state: TrainerState;
  params: Record<string, Tensor<'float32'>>;
  optimizer: AdamWState;
  /** The params of the best evaluation (absent before the first evaluation). */
  bestParams: Record<string, Tensor<'float32'>> | null;
}

const stepDir = (step: number): string => `step-${String(step).padStart(8, '0')}`;

export function saveCheckpoint(outDir: string, ck: Checkpoint): string {
  const root = host().path.join(outDir, CHECKPOINTS_DIR);
  const name = stepDir(ck.state.step);
  const dir = host().path.join(root, name);
  host().fs.rmSync(dir, { recursive: true, force: true }); // a leftover from a killed attempt at this step
  host().fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(host().path.join(dir, 'params.safetensors'), ck.params, { format: 'pt' });
  const moments: Record<string, Tensor> = {};
  for (const [k, a] of Object.entries(ck.optimizer.m)) moments[`m.${k}`] = tensor('float32', ck.params[k]?.shape ?? [a.length], a);
  for (const [k, a] of Object.entries(ck.optimizer.v)) moments[`v.${k}`] = tensor('float32', ck.params[k]?.shape ?? [a.length], a);
  writeSafetensors(host().path.join(dir, 'optimizer.safetensors'), moments);
  if (ck.bestParams) writeSafetensors(host().path.join(dir, 'best.safetensors'), ck.bestParams, { format: 'pt' });
  const { m: _m, v: _v, ...scalars } = ck.optimizer;
  const json = JSON.stringify({ ...ck.state, optimizer: scalars }, null, 2) + '\n';
  writeFileAtomic(host().path.join(dir, 'state.json'), [new TextEncoder().encode(json)]);
  writeFileAtomic(host().path.join(root, LATEST), [new TextEncoder().encode(JSON.stringify({ dir: name, step: ck.state.step }) + '\n')]);
  for (const other of host().fs.readdirSync(root)) {
    if (other !== name && other.startsWith('step-')) host().fs.rmSync(host().path.join(root, other), { recursive: true, force: true });
  }
  return dir;
}

function float32Record(file: string, tensors: Map<string, Tensor>): Record<string, Tensor<'float32'>> {
  const out: Record<string, Tensor<'float32'>> = {};
  for (const [k, t] of tensors) {
    if (t.dtype !== 'float32') throw new CheckpointError(`${file}: tensor "${k}" is ${t.dtype}, expected float32`);
    out[k] = t as Tensor<'float32'>;
  }
  return out;
}

/** The checkpoint `latest.json` points at, or null when the run has none. */
export function loadLatestCheckpoint(outDir: string): Checkpoint | null {
  const root = host().path.join(outDir, CHECKPOINTS_DIR);
  const pointer = host().path.join(root, LATEST);
  if (!host().fs.existsSync(pointer)) return null;
  let dirName: string;
  try {
    dirName = (JSON.parse(host().fs.readFileSync(pointer, 'utf8')) as { dir: string }).dir;
  } catch (e) {
    throw new CheckpointError(`${pointer}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const dir = host().path.join(root, dirName);
  const stateFile = host().path.join(dir, 'state.json');
  if (!host().fs.existsSync(stateFile)) throw new CheckpointError(`${pointer} points at ${dir}, which has no state.json; the checkpoint folder was removed by hand`);
  let raw: TrainerState & { optimizer: Omit<AdamWState, 'm' | 'v'> };
  try {
    raw = JSON.parse(host().fs.readFileSync(stateFile, 'utf8')) as typeof raw;
  } catch (e) {
    throw new CheckpointError(
      `${stateFile}: not valid JSON (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); the checkpoint is damaged: ` +
        `remove ${dir} and point ${pointer} at an earlier checkpoint, or start afresh without --resume`,
    );
  }
  if (raw === null || typeof raw !== 'object') throw new CheckpointError(`${stateFile}: not a JSON object; the checkpoint is damaged`);
  if (raw.version !== 1) throw new CheckpointError(`${stateFile}: unsupported checkpoint version ${String(raw.version)}`);
  const { optimizer: scalars, ...state } = raw;
  const params = float32Record(host().path.join(dir, 'params.safetensors'), readSafetensors(host().path.join(dir, 'params.safetensors')));
  const moments = readSafetensors(host().path.join(dir, 'optimizer.safetensors'));
  const m: Record<string, Float32Array> = {};
  const v: Record<string, Float32Array> = {};
  for (const [k, t] of moments) {
    const target = k.startsWith('m.') ? m : k.startsWith('v.') ? v : null;
    if (!target || t.dtype !== 'float32') throw new CheckpointError(`${host().path.join(dir, 'optimizer.safetensors')}: unexpected tensor "${k}"`);
    target[k.slice(2)] = t.data as Float32Array;
  }
  const bestFile = host().path.join(dir, 'best.safetensors');
  const bestParams = host().fs.existsSync(bestFile) ? float32Record(bestFile, readSafetensors(bestFile)) : null;
  return { state, params, optimizer: { ...scalars, m, v }, bestParams };
}
