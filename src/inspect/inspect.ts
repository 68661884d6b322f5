/**
 * What an adapter's virtual tokens look like from the vocabulary: for each one, its nearest
 * tokens by cosine similarity and by L2 distance, its norm against the vocabulary's typical row
 * norm, and how far it moved from its recorded initialisation.
 *
 * Prompt tuning and p-tuning put their rows in the input-embedding space, so these questions make
 * sense. A prefix-tuning row is a per-layer key/value prefix: no token lives in that space, so only
 * its norm and its drift are reported.
 */
import type { LoadedAdapter, PeftType } from '../adapter/types.ts';
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { inputEmbeddingTable } from '../methods/init.ts';
import type { Tensor } from '../tensor.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { InspectError } from './errors.ts';
import { initReference } from './init_ref.ts';
import type { InitReference } from './init_ref.ts';
import { cosine, l2, norm, row } from './vectors.ts';
import { Vocabulary } from './vocab.ts';
import type { NormStats, TokenScore } from './vocab.ts';

/** The frozen model an adapter is inspected against (src/cli/eval.ts's LoadedModel has it). */
export interface InspectModel {
  readonly config: ModelConfig;
  readonly weights: WeightStore;
  readonly tokenizer: Tokenizer;
}

export interface InspectOptions {
  /** Neighbours listed per virtual token and measure. Default 5. */
  top?: number;
  /** A vocabulary already built for this model (saves recomputing the norms). */
  vocabulary?: Vocabulary;
}

/** How far a trained row is from its initial row. */
export interface Drift {
  readonly cosine: number;
  readonly l2: number;
  readonly initNorm: number;
  /** The vocabulary token whose embedding the row started as (text, vocab and labels inits), else null. */
  readonly initToken: { readonly id: number; readonly text: string } | null;
}

export interface VirtualTokenReport {
  readonly index: number;
  readonly norm: number;
  /** norm / the vocabulary's median row norm (null outside token space). */
  readonly normRatio: number | null;
  /** Highest cosine first (empty outside token space). */
  readonly byCosine: readonly TokenScore[];
  /** Smallest L2 distance first (empty outside token space). */
  readonly byL2: readonly TokenScore[];
  readonly drift: Drift | null;
}

export interface AdapterInspection {
  readonly dir: string;
  readonly peftType: PeftType;
  readonly numVirtualTokens: number;
  /** Row width: the hidden size, or a prefix's 2 × layers × kv heads × head dim. */
  readonly width: number;
  /** Whether the rows live in the input-embedding space (not for prefix tuning). */
  readonly tokenSpace: boolean;
  /** Things a reader should know (e.g. why a prefix has no neighbours). */
  readonly notes: readonly string[];
  readonly vocabulary: { readonly size: number; readonly norms: NormStats } | null;
  /** The recorded init without its values, or null when none is recorded. */
  readonly init: Omit<InitReference, 'values'> | null;
  readonly tokens: readonly VirtualTokenReport[];
  /** Each virtual token's nearest token by cosine, and those tokens decoded together (token space only). */
  readonly projection: { readonly ids: readonly number[]; readonly text: string } | null;
}

/** The prompt an adapter feeds (for p-tuning, the encoder's output), [n, width]. */
export function promptOf(adapter: LoadedAdapter): Tensor<'float32'> {
  // Multitask: the shared prompt, which PEFT saves as prompt_embeddings (each task scales it by its factors).
  const t = adapter.params['prompt_embeddings'] ?? (adapter.peftType === 'MULTITASK_PROMPT_TUNING' ? adapter.params['embedding.weight'] : undefined);
  if (!t || t.dtype !== 'float32' || t.shape.length !== 2) {
    throw new InspectError(`${adapter.dir}: the adapter has no float32 [n, width] "prompt_embeddings" to inspect`);
  }
  return t as Tensor<'float32'>;
}

/** The vocabulary of a model's input-embedding table. */
export function modelVocabulary(model: InspectModel): Vocabulary {
  return new Vocabulary(inputEmbeddingTable(model.config, model.weights), model.tokenizer);
}

export const PREFIX_NOTE =
  'PREFIX_TUNING: each virtual token is a per-layer key/value prefix (2 × layers × key/value heads × head dim wide), ' +
  'not an input embedding, so it has no nearest vocabulary tokens; shown are its norm and its drift from the init';

export const MULTITASK_NOTE =
  'MULTITASK_PROMPT_TUNING: shown is the shared prompt (saved as prompt_embeddings); each task multiplies it elementwise by its rank-r factors prefix_task_cols · prefix_task_rows';

/** Inspects `adapter` against `model` (see the module comment). */
export function inspectAdapter(adapter: LoadedAdapter, model: InspectModel, opts: InspectOptions = {}): AdapterInspection {
  const top = opts.top ?? 5;
  if (!Number.isInteger(top) || top < 1) throw new InspectError(`top must be a positive integer, got ${top}`);
  const prompt = promptOf(adapter);
  const [n, width] = prompt.shape as [number, number];
  const tokenSpace = adapter.peftType !== 'PREFIX_TUNING';
  const notes: string[] = [];
  if (!tokenSpace) notes.push(PREFIX_NOTE);
  if (adapter.peftType === 'MULTITASK_PROMPT_TUNING') notes.push(MULTITASK_NOTE);
  const vocab = tokenSpace ? (opts.vocabulary ?? modelVocabulary(model)) : null;
  if (vocab && vocab.dim !== width) {
    throw new InspectError(`${adapter.dir}: the prompt is ${width} wide but the model's embeddings are ${vocab.dim} wide; inspect it with its own base model (--model)`);
  }

  const ref = initReference(adapter, model);
  if (ref?.unavailable) notes.push(`drift not computed: ${ref.unavailable}`);
  else if (!ref) notes.push('drift not computed: the adapter records no init');
  const initValues = ref?.values;
  // Only inits that copy vocabulary rows start on a token.
  const initFromTokens = ref !== null && !ref.spec.startsWith('random') && tokenSpace;

  const tokens: VirtualTokenReport[] = [];
  for (let i = 0; i < n; i++) {
    const v = row(prompt.data, width, i);
    const nrm = norm(v);
    let drift: Drift | null = null;
    if (initValues) {
      const u = row(initValues.data, width, i);
      let initToken: Drift['initToken'] = null;
      if (initFromTokens && vocab) {
        const exact = vocab.nearestByL2(u, 1)[0];
        if (exact && exact.score === 0) initToken = { id: exact.id, text: exact.text };
      }
      drift = { cosine: cosine(v, u), l2: l2(v, u), initNorm: norm(u), initToken };
    }
    tokens.push({
      index: i,
      norm: nrm,
      normRatio: vocab ? nrm / vocab.normStats.median : null,
      byCosine: vocab ? vocab.nearestByCosine(v, top) : [],
      byL2: vocab ? vocab.nearestByL2(v, top) : [],
      drift,
    });
  }
  let projection: AdapterInspection['projection'] = null;
  if (vocab) {
    const ids = tokens.map((t) => t.byCosine[0]!.id);
    projection = { ids, text: model.tokenizer.decode(ids) };
  }
  const init = ref ? { spec: ref.spec, source: ref.source, seed: ref.seed, ...(ref.unavailable !== undefined ? { unavailable: ref.unavailable } : {}) } : null;
  return {
    dir: adapter.dir,
    peftType: adapter.peftType,
    numVirtualTokens: n,
    width,
    tokenSpace,
    notes,
    vocabulary: vocab ? { size: vocab.size, norms: vocab.normStats } : null,
    init,
    tokens,
    projection,
  };
}
