/** Adapters for stories260K written to a temp folder: three methods with different virtual-token counts. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintModel } from '../../src/adapter/fingerprint.ts';
import { saveAdapter } from '../../src/adapter/save.ts';
import type { GoldenCase } from '../../src/check/golden.ts';
import type { LoadedModel } from '../../src/pretrained/model.ts';
import { createRng } from '../../src/data/rng.ts';
import { readSafetensors } from '../../src/formats/safetensors.ts';
import type { Generator } from '../../src/infer/generator.ts';
import { prefixFromTable } from '../../src/infer/kv.ts';
import type { TaskPrefix } from '../../src/infer/kv.ts';
import { prefixTuning } from '../../src/methods/prefix_tuning.ts';
import { promptTuning } from '../../src/methods/prompt_tuning.ts';
import { pTuning } from '../../src/methods/p_tuning.ts';
import type { PromptMethod } from '../../src/methods/types.ts';
import type { Tensor } from '../../src/tensor.ts';
import { tensor } from '../../src/tensor.ts';

export const TEMPLATE = '{text}\nThe story is about a';
export const VERBALIZER = { girl: ' girl', boy: ' boy' };

function normal(shape: readonly number[], seed: number, std: number): Tensor<'float32'> {
  const r = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = std * Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12))) * Math.cos(2 * Math.PI * r());
  return tensor('float32', shape, data);
}

/** Writes adapters "soft7" (prompt tuning, 7), "ptune3" (p-tuning MLP, 3), "prefix4" (prefix tuning, 4) under a temp folder. */
export function writeAdapters(model: LoadedModel): { root: string; dirs: Record<string, string> } {
  const root = mkdtempSync(join(tmpdir(), 'softprompt-infer-'));
  const fingerprint = fingerprintModel(model, model.dir);
  const specs: [string, PromptMethod, number][] = [
    ['soft7', promptTuning(model.config, { numVirtualTokens: 7 }), 1.0],
    ['ptune3', pTuning(model.config, { numVirtualTokens: 3, encoderHiddenSize: 16 }), 0.5],
    ['prefix4', prefixTuning(model.config, { numVirtualTokens: 4 }), 1.0],
  ];
  const dirs: Record<string, string> = {};
  specs.forEach(([name, method, std], k) => {
    const trainable = Object.fromEntries(method.params.map((p, i) => [p.name, normal(p.shape, 100 * k + i + 1, std)]));
    dirs[name] = saveAdapter(join(root, name), {
      method,
      trainable,
      config: model.config,
      fingerprint,
      meta: { template: { source: TEMPLATE }, verbalizer: VERBALIZER, label_field: 'label' },
    }).dir;
  });
  return { root, dirs };
}

/** A golden case's generation checks: the two prompts, and per prefix (none, soft prompt, prefix table) the wanted ids. */
export async function goldenGenerationCases(c: GoldenCase, gen: Generator): Promise<{
  prompts: number[][];
  cases: { key: string; prefix: TaskPrefix | null; steps: number; want: number[][] }[];
}> {
  const file = readSafetensors(join(c.dir, 'forward.safetensors'));
  const [soft] = await gen.promptPrefixes([file.get('gen.prompt_embeddings')!]);
  const prefix = prefixFromTable(c.model.config, file.get('gen.prefix_embeddings')!);
  const prompts = [0, 1].map((r) => Array.from(file.get(`gen.input_ids.${r}`)!.data as BigInt64Array, Number));
  const cases = ([['generated_ids', null], ['generated_ids_prompt_tuning', soft!], ['generated_ids_prefix_tuning', prefix]] as const).map(([key, p]) => {
    const ref = file.get(`gen.${key}`)!;
    const steps = ref.shape[1]!;
    const want = [0, 1].map((r) => Array.from((ref.data as BigInt64Array).slice(r * steps, (r + 1) * steps), Number));
    return { key, prefix: p, steps, want };
  });
  return { prompts, cases };
}
