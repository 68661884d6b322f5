/**
 * A Hugging Face model folder: config.json plus model.safetensors, or a sharded
 * model.safetensors.index.json with its shards. (generation_config.json is read when present.)
 */
import { host } from '../host.ts';
import { FormatError } from '../errors.ts';
import { parseGenerationConfig, parseHfConfig } from './hf_config.ts';
import type { GenerationConfig, ModelConfig } from './hf_config.ts';
import { safetensorsWeightStore, shardedWeightStore } from './weights.ts';
import type { WeightStore } from './weights.ts';

export type { WeightInfo, WeightStore } from './weights.ts';
export { memoryWeightStore } from './weights.ts';

export interface ModelDir {
  readonly dir: string;
  readonly configPath: string;
  readonly config: ModelConfig;
  /** The safetensors file, or the index file of a sharded checkpoint. */
  readonly weightsPath: string;
  readonly weights: WeightStore;
  /** From generation_config.json, if the folder has one. */
  readonly generation?: GenerationConfig;
}

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';

export function loadModelDir(dir: string): ModelDir {
  const root = host().path.resolve(dir);
  if (!host().fs.existsSync(root)) throw new FormatError(root, 'model folder does not exist');
  if (!host().fs.statSync(root).isDirectory()) throw new FormatError(root, 'expected a Hugging Face model folder, but this is a file');

  const configPath = host().path.join(root, CONFIG_FILE);
  if (!host().fs.existsSync(configPath)) {
    throw new FormatError(configPath, `not found: a Hugging Face model folder needs ${CONFIG_FILE} (the model's architecture: model_type, sizes, ...)`);
  }
  const config = readHfConfig(configPath);

  const single = host().path.join(root, WEIGHTS_FILE);
  const index = host().path.join(root, WEIGHTS_INDEX_FILE);
  let weightsPath: string;
  let weights: WeightStore;
  if (host().fs.existsSync(single)) {
    weightsPath = single;
    weights = safetensorsWeightStore(single);
  } else if (host().fs.existsSync(index)) {
    weightsPath = index;
    weights = shardedWeightStore(index);
  } else {
    const legacy = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5'].filter((f) => host().fs.existsSync(host().path.join(root, f)));
    const hint = legacy.length > 0
      ? `; found ${legacy.join(', ')}, which is not supported: convert the weights to safetensors`
      : '';
    throw new FormatError(root, `no weights found: looked for ${WEIGHTS_FILE} and ${WEIGHTS_INDEX_FILE}${hint}`);
  }

  const genPath = host().path.join(root, 'generation_config.json');
  let generation: GenerationConfig | undefined;
  if (host().fs.existsSync(genPath)) {
    let raw: unknown;
    try {
      raw = JSON.parse(host().fs.readFileSync(genPath, 'utf8'));
    } catch (err) {
      throw new FormatError(genPath, `not valid JSON (${(err as Error).message})`);
    }
    generation = parseGenerationConfig(raw, genPath);
  }
  return { dir: root, configPath, config, weightsPath, weights, generation };
}

/** Read and normalize a config.json file. */
export function readHfConfig(path: string): ModelConfig {
  let text: string;
  try {
    text = host().fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new FormatError(path, `cannot read config: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new FormatError(path, `not valid JSON (${(err as Error).message})`);
  }
  return parseHfConfig(raw, path);
}
