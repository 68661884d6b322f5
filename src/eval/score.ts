/**
 * Rank-classification scoring of an encoded split: one compiled scorer for a model (and adapter),
 * the {soft:N} slot check, the context an example must fit, and the classification report.
 */
import type { LoadedAdapter } from '../adapter/types.ts';
import { padIdOf } from '../data/collate.ts';
import type { EncodedExample } from '../data/encode.ts';
import { Template } from '../data/template.ts';
import { SoftpromptError } from '../errors.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { classificationReport } from './metrics.ts';
import type { ClassificationReport } from './metrics.ts';
import { RankScorer } from './rank.ts';

/** A progress line scoring reports to (the CLI's Progress is one). */
export interface ScoreProgress {
  update(label: string, done: number, total: number): void;
  end(): void;
}

export interface ScorerOptions {
  /** Examples per forward pass (each is one row, its labels packed after the prompt). Default 16. */
  batchSize?: number;
  /** Most labels any verbalizer used with this scorer has (batchRows counts candidates). Default 2. */
  maxLabels?: number;
  lengthNormalize?: boolean;
  /** The template has {soft:N} slots (see {@link checkSoftSlots}). */
  softSlots?: boolean;
}

/**
 * Checks a template's {soft:N} slots against the adapter: they must add up to its virtual tokens,
 * and only methods that place embeddings can fill them. Returns whether the scorer needs softSlots.
 */
export function checkSoftSlots(template: Template, adapter: LoadedAdapter | undefined, warn: (m: string) => void): boolean {
  const slots = template.softTokens;
  const where = template.origin ? ` (${template.origin})` : '';
  if (slots === 0) {
    if (adapter?.meta?.template && new Template(adapter.meta.template.source).softTokens > 0) {
      warn(`the adapter ${adapter.dir} was trained with its virtual tokens at {soft:N} slots of its template; this template has none, so they go before the input`);
    }
    return false;
  }
  if (!adapter) throw new SoftpromptError(`the template${where} has {soft:N} slots (${slots} virtual tokens); a hard prompt has nothing to fill them with: pass --adapter DIR`);
  const n = adapter.method.numVirtualTokens;
  if (adapter.method.kind === 'prefix_tuning') {
    throw new SoftpromptError(`the template${where} has {soft:N} slots but ${adapter.dir} is a prefix-tuning adapter (its prefix lives in every layer's keys/values, not in the input); drop the slots`);
  }
  if (slots !== n) {
    throw new SoftpromptError(
      `the template${where} has {soft:N} slots for ${slots} virtual tokens but the adapter ${adapter.dir} has ${n} (adapter_config.json num_virtual_tokens); the slots must add up to ${n}`,
    );
  }
  return true;
}

/** One compiled scorer for the model (and adapter), reused for every setting and template. */
export function createScorer(model: LoadedModel, adapter: LoadedAdapter | undefined, opts: ScorerOptions = {}): Promise<RankScorer> {
  return RankScorer.create(model.config, model.weights, adapter?.method ?? null, {
    batchRows: (opts.batchSize ?? 16) * Math.max(1, opts.maxLabels ?? 2),
    padId: padIdOf(model.tokenizer),
    lengthNormalize: opts.lengthNormalize ?? false,
    softSlots: opts.softSlots ?? false,
    ...(adapter ? { params: adapter.params } : {}),
  });
}

/** Scores encoded examples and reports against the verbalizer's label set (in chunks, for the progress line), with each example's predicted label. */
export async function scoreSplit(
  scorer: RankScorer,
  examples: readonly EncodedExample[],
  labels: readonly string[],
  progress?: { bar: ScoreProgress; label: string },
): Promise<ClassificationReport & { readonly predicted: readonly string[] }> {
  const predictions: number[] = [];
  const chunk = Math.max(64, scorer.options.batchRows * 4);
  for (let start = 0; start < examples.length; start += chunk) {
    progress?.bar.update(progress.label, start, examples.length);
    const result = await scorer.score(examples.slice(start, start + chunk));
    predictions.push(...result.predictions);
  }
  progress?.bar.update(progress.label, examples.length, examples.length);
  progress?.bar.end();
  const predicted = predictions.map((p, i) => (examples[i]!.labels ?? labels)[p]!);
  // predicted is not enumerable, so reports compare and print as before.
  return Object.defineProperty(classificationReport(examples.map((e) => e.label!), predicted, labels), 'predicted', { value: predicted }) as ClassificationReport & { readonly predicted: readonly string[] };
}

/** The context an example must fit: the model's positions minus the adapter's virtual tokens. */
export function contextOf(model: LoadedModel, adapter: LoadedAdapter | undefined): { maxLength: number; text: string } {
  const virtual = adapter?.method.numVirtualTokens ?? 0;
  const maxLength = model.config.maxPositions - virtual;
  if (maxLength < 2) throw new SoftpromptError(`the adapter's ${virtual} virtual tokens leave no room in the model's ${model.config.maxPositions} positions`);
  return { maxLength, text: virtual > 0 ? `${maxLength} tokens = ${model.config.maxPositions} positions - ${virtual} virtual tokens` : `${maxLength} tokens` };
}
