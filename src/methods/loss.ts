/**
 * Causal-LM cross-entropy evaluated only where a label is counted: hidden states are
 * gathered at those positions *before* the LM head, so a 50k-vocabulary head runs on
 * N rows instead of B·S.
 */
import * as op from '../graph/ops/index.ts';
import type { Value } from '../graph/types.ts';
import type { CausalLM } from '../models/types.ts';

/**
 * hidden: [B, S, d]; positions: [N] flat indices b·S + t whose logits predict targets [N].
 * Returns the mean negative log-likelihood over the N targets (a scalar).
 */
export function gatheredLoss(model: CausalLM, hidden: Value, positions: Value, targets: Value): Value {
  const d = model.config.hiddenSize;
  const rows = op.gather(op.reshape(hidden, [-1, d]), positions); // [N, d]
  const logp = op.logSoftmax(model.lmHead(rows), -1); // [N, V]
  const picked = op.gatherElements(logp, op.unsqueeze(targets, [1]), 1); // [N, 1]
  return op.neg(op.reduceMean(picked, [0, 1], false));
}

/** Per-row log-probabilities of the targets [N] (for rank classification). */
export function gatheredLogProbs(model: CausalLM, hidden: Value, positions: Value, targets: Value): Value {
  const d = model.config.hiddenSize;
  const rows = op.gather(op.reshape(hidden, [-1, d]), positions);
  const logp = op.logSoftmax(model.lmHead(rows), -1);
  return op.squeeze(op.gatherElements(logp, op.unsqueeze(targets, [1]), 1), [1]);
}
