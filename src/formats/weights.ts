/**
 * File-backed WeightStores (Node): one safetensors file or a sharded checkpoint, headers parsed up
 * front and data read on demand. The WeightStore interface and the in-memory store are in
 * weight_store.ts (browser-safe), re-exported here.
 */
import { host } from '../host.ts';
import { FormatError, MissingTensorError } from '../errors.ts';
import { SafetensorsFile, readSafetensorsIndex } from './safetensors.ts';
import { checkShape, toFloat32, transpose2d, transposeRowsInto } from './weight_store.ts';
import { tensor } from '../tensor.ts';
import type { WeightStore } from './weight_store.ts';

export * from './weight_store.ts';

/**
 * A store over safetensors files: `where` maps each tensor name to its opened file.
 * Headers are parsed up front (cheap, and validates every file); data is read on demand.
 */
function fileWeightStore(source: string, where: ReadonlyMap<string, SafetensorsFile>): WeightStore {
  const locate = (name: string): { file: SafetensorsFile; dtype: string; shape: readonly number[] } => {
    const file = where.get(name);
    const e = file?.entry(name);
    if (file === undefined || e === undefined) throw new MissingTensorError(source, name);
    return { file, dtype: e.dtype, shape: e.shape };
  };
  return {
    source,
    names: () => [...where.keys()].sort(),
    has: (name) => where.has(name),
    info(name) {
      const { dtype, shape } = locate(name);
      return { dtype, shape };
    },
    get(name, expectedShape) {
      const { file, shape } = locate(name);
      checkShape(file.path, name, shape, expectedShape);
      return toFloat32(file.read(name)!, file.path, name);
    },
    getTransposed(name, expectedShape) {
      const { file, dtype, shape } = locate(name);
      checkShape(file.path, name, shape, expectedShape);
      const [rows, cols] = expectedShape;
      // Other dtypes (F64) take get()'s path and a transpose in memory.
      if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') return transpose2d(toFloat32(file.read(name)!, file.path, name));
      const out = new Float32Array(rows * cols);
      file.forEachRowBlock(name, 64, (block, row0) => transposeRowsInto(block, row0, rows, cols, out));
      return tensor('float32', [cols, rows], out);
    },
  };
}

/** One model.safetensors file. */
export function safetensorsWeightStore(path: string): WeightStore {
  const file = SafetensorsFile.open(path);
  return fileWeightStore(path, new Map(file.names().map((n) => [n, file])));
}

/** A sharded checkpoint: model.safetensors.index.json plus the shard files it names. */
export function shardedWeightStore(indexPath: string): WeightStore {
  const index = readSafetensorsIndex(indexPath);
  const dir = host().path.dirname(indexPath);
  const shards = new Map<string, SafetensorsFile>();
  const where = new Map<string, SafetensorsFile>();
  for (const [name, shardName] of index.weightMap) {
    let shard = shards.get(shardName);
    if (shard === undefined) {
      const shardPath = host().path.join(dir, shardName);
      if (!host().fs.existsSync(shardPath)) {
        throw new FormatError(indexPath, `shard "${shardName}" (holding "${name}") is missing: ${shardPath} does not exist`);
      }
      shard = SafetensorsFile.open(shardPath);
      shards.set(shardName, shard);
    }
    if (shard.entry(name) === undefined) {
      throw new FormatError(indexPath, `weight_map puts "${name}" in shard "${shardName}", but that shard has no such tensor`);
    }
    where.set(name, shard);
  }
  return fileWeightStore(indexPath, where);
}
