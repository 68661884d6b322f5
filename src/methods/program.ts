/**
 * Builds the one graph a method trains and evaluates with: frozen model + method
 * entry + gathered loss, then the pruned backward for the method's params only.
 */
import type { ModelConfig } from '../formats/hf_config.ts';
import type { WeightStore } from '../formats/weights.ts';
import { SoftpromptError } from '../errors.ts';
import { gradients, type RecomputeMode } from '../graph/autodiff.ts';
import { Graph } from '../graph/graph.ts';
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import { buildModel } from '../models/registry.ts';
import type { CausalLM, FloatDType } from '../models/types.ts';
import { gatheredLogProbs, gatheredLoss } from './loss.ts';
import { defaultRecompute } from '../runtime/large.ts';
import type { PromptMethod } from './types.ts';

/** Feed names shared by the graph and methods/batch.ts. */
export const FEEDS = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  lossPositions: 'loss_positions',
  lossTargets: 'loss_targets',
  /** [B] task id per row (methods with numTasks). */
  taskIds: 'task_ids',
  /**
   * [B, S] where each sequence slot takes its embedding from (programs with softSlots): index j < B·n
   * is row j/n's virtual token j%n, index B·n + b·T + t is token t of row b. See methods/batch.ts.
   */
  sequenceOrder: 'sequence_order',
  /** [B, M] segment of each key slot (programs with segments): 0 shared, k > 0 the k-th packed continuation. */
  segmentIds: 'segment_ids',
} as const;

export interface ProgramOptions {
  dtype?: FloatDType;
  /**
   * Activation checkpointing (graph/autodiff.ts RecomputeMode; `true` is `full`): recompute each
   * layer's forward, or all of it but its projections (`selective`), in the backward pass instead
   * of keeping its activations. Default: runtime/large.ts defaultRecompute (selective for large
   * models, none for small ones).
   */
  recompute?: boolean | RecomputeMode;
  /** Output "loss" (mean NLL over the counted targets). Default true. */
  loss?: boolean;
  /** Output "grad.<param>" for each method param. Default true when there is a method. */
  gradients?: boolean;
  /** Output "logprobs" [N]: log p(target) at each counted position (rank classification). */
  logprobs?: boolean;
  /** Output "logits" [B, S, V] at every position (generation, parity tests). */
  fullLogits?: boolean;
  /** Also output "grad.virtual_tokens" (the encoder output's gradient; p-tuning diagnostics). */
  virtualTokenGradient?: boolean;
  /**
   * The virtual tokens go where each row says (a template's {soft:N} slots) instead of before the
   * input: adds the `sequence_order` input. Needs a method that places embeddings.
   */
  softSlots?: boolean;
  /**
   * Several continuations packed after one shared prompt, each seeing only the prompt and itself:
   * adds the `segment_ids` input (see methods/batch.ts). Rank classification uses it.
   */
  segments?: boolean;
}

export interface Program {
  readonly graph: Graph;
  readonly model: CausalLM;
  readonly method: PromptMethod | null;
  readonly outputs: readonly string[];
}

export function buildProgram(config: ModelConfig, weights: WeightStore, method: PromptMethod | null, opts: ProgramOptions = {}): Program {
  const dtype = opts.dtype ?? 'float32';
  const g = new Graph(`softprompt_${config.modelType}_${method?.kind ?? 'base'}`);
  const model = buildModel(g, config, weights, { dtype });
  const ids = g.input(FEEDS.inputIds, 'int64', ['B', 'T']);
  const mask = g.input(FEEDS.attentionMask, 'int64', ['B', 'M']);
  const positionIds = g.input(FEEDS.positionIds, 'int64', ['B', 'S']);
  const params: Record<string, Value> = {};
  for (const p of method?.params ?? []) params[p.name] = g.input(p.name, dtype, p.shape);

  let embeds = model.embedTokens(ids);
  let virtual: Value | null = null;
  let past;
  if (opts.softSlots && (!method || method.kind === 'prefix_tuning')) {
    throw new SoftpromptError(
      `{soft:N} slots place virtual-token embeddings inside the input; ${method ? 'prefix tuning puts its prefix into every layer\'s keys/values, so it has no tokens to place' : 'there is no method'}. Use prompt tuning, p-tuning or multitask prompt tuning`,
    );
  }
  if (method) {
    const taskIds = method.numTasks ? g.input(FEEDS.taskIds, 'int64', ['B']) : undefined;
    const entry = method.enter(model, params, taskIds ? { taskIds } : {});
    if (entry.placement === 'embeddings') {
      virtual = entry.virtualTokens;
      // [n, d] → [B, n, d] (per-example tokens already are).
      const batch = op.slice(op.shapeOf(ids), [0], [0], [1]);
      const vt = entry.perExample ? virtual : op.expand(op.unsqueeze(virtual, [0]), op.concat([batch, g.ints([1, 1])], 0), ['B', 1, 1]);
      if (opts.softSlots) {
        // One table of every row's virtual tokens then every row's tokens, gathered into sequence order.
        const d = config.hiddenSize;
        const order = g.input(FEEDS.sequenceOrder, 'int64', ['B', 'S']);
        embeds = op.gather(op.concat([op.reshape(vt, [-1, d]), op.reshape(embeds, [-1, d])], 0), order);
      } else {
        embeds = op.concat([vt, embeds], 1);
      }
    } else {
      past = entry.past(ids);
    }
  }
  const segmentIds = opts.segments ? g.input(FEEDS.segmentIds, 'int64', ['B', 'M']) : undefined;
  const { hidden } = model.forward({ embeds, positionIds, attentionMask: mask, past, ...(segmentIds ? { segmentIds } : {}) });

  const outputs: string[] = [];
  const wantLoss = opts.loss ?? true;
  const wantGrads = (opts.gradients ?? method !== null) && method !== null;
  if (wantLoss || wantGrads || opts.logprobs) {
    const positions = g.input(FEEDS.lossPositions, 'int64', ['N']);
    const targets = g.input(FEEDS.lossTargets, 'int64', ['N']);
    if (opts.logprobs) outputs.push(g.output('logprobs', gatheredLogProbs(model, hidden, positions, targets)).name);
    if (wantLoss || wantGrads) {
      const loss = gatheredLoss(model, hidden, positions, targets);
      if (wantLoss) outputs.push(g.output('loss', loss).name);
      if (wantGrads) {
        const names = method!.params.map((p) => p.name);
        const wrt = names.map((n) => params[n]!);
        const extra = opts.virtualTokenGradient && virtual && !names.includes(virtual.name) ? [virtual] : [];
        const grads = gradients(loss, [...wrt, ...extra], undefined, { recompute: opts.recompute ?? defaultRecompute(weights) });
        names.forEach((n, i) => outputs.push(g.output(`grad.${n}`, grads[i]!).name));
        if (extra.length) outputs.push(g.output('grad.virtual_tokens', grads[names.length]!).name);
      }
    }
  }
  if (opts.fullLogits) outputs.push(g.output('logits', model.lmHead(hidden)).name);
  return { graph: g, model, method, outputs };
}
