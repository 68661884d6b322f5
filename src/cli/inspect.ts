/**
 * `softprompt inspect`: what a trained prompt means in terms of the vocabulary. One adapter: its
 * virtual tokens' nearest tokens, norms and drift from the init. `--compare A B ...`: a
 * similarity matrix between prompts. `--discretize --data FILE`: the prompt projected onto its
 * nearest tokens, evaluated beside the soft one.
 */
import { Command } from 'commander';
import { adapterPrompt } from '../adapter/prompt.ts';
import type { LoadedAdapter } from '../adapter/types.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import { classificationReport } from '../eval/metrics.ts';
import type { ClassificationReport } from '../eval/metrics.ts';
import type { RankScorer } from '../eval/rank.ts';
import { comparePrompts } from '../inspect/compare.ts';
import { discretize } from '../inspect/discretize.ts';
import type { Discretized } from '../inspect/discretize.ts';
import { InspectError } from '../inspect/errors.ts';
import { comparisonJson, formatComparison, formatInspection, inspectionJson } from '../inspect/format.ts';
import { inspectAdapter, modelVocabulary, promptOf } from '../inspect/inspect.ts';
import { adapterModelHint, taskOf } from '../inspect/resolve.ts';
import { quoteToken } from '../inspect/vocab.ts';
import type { Tensor } from '../tensor.ts';
import { intArg, required, textArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { checkSoftSlots, contextOf, createScorer } from '../eval/score.ts';
import { describeVerbalizer, reportJson, warnEncoding } from './eval.ts';
import { encodeSplit } from '../data/split.ts';
import { loadAdapterDir } from '../adapter/load.ts';
import { loadModel } from '../pretrained/model.ts';
import { readSplit } from '../data/readers.ts';
import type { EncodedSplit, PromptSpec } from '../data/split.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import { formatTable, percent } from '../inspect/table.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

/** Flags of `softprompt inspect` after config-file merging. */
export interface InspectFlags {
  model?: string;
  top?: number;
  json?: boolean;
  compare?: boolean;
  discretize?: boolean;
  data?: string;
  maxExamples?: number;
  batchSize?: number;
  template?: string;
  verbalizer?: string;
  labelField?: string;
  lengthNormalize?: boolean;
}

/** A model for `adapters`: --model, else the one the first adapter names, else the usual resolution. */
export async function modelForAdapters(adapters: readonly string[], flag: string | undefined): Promise<{ model: LoadedModel; from: string }> {
  const hints = adapters.map((a) => adapterModelHint(a)); // also fails early on a folder that is no adapter
  if (flag !== undefined) return { model: await loadModel(flag), from: '--model' };
  const hint = hints.find((h) => h !== null);
  if (hint) return { model: await loadModel(hint.path), from: hint.from };
  const model = await loadModel(undefined);
  return { model, from: model.source === 'flag' ? '--model' : model.source };
}

/** The prompt spec for evaluating an adapter: flags first, then its softprompt.json. */
function promptSpecFor(adapter: LoadedAdapter, flags: InspectFlags, fromCli: (key: keyof InspectFlags) => boolean): PromptSpec {
  const recorded = adapterPrompt(adapter);
  let template: Template;
  if (flags.template !== undefined) {
    const t = textArg(flags.template, '--template', fromCli('template'));
    template = new Template(t.text, { source: t.origin });
  } else if (recorded.template) {
    template = recorded.template;
  } else {
    throw new SoftpromptError(`no template: the adapter ${adapter.dir} has none in softprompt.json; pass --template TEXT (e.g. '{text}\\nThe story is about a')`);
  }
  let verbalizer: Verbalizer;
  if (flags.verbalizer !== undefined) verbalizer = verbalizerArg(flags.verbalizer);
  else if (recorded.verbalizer) verbalizer = recorded.verbalizer;
  else throw new SoftpromptError(`no verbalizer: the adapter ${adapter.dir} has none in softprompt.json; pass --verbalizer JSON (e.g. '{"girl": " girl", "boy": " boy"}')`);
  const truncate = adapter.meta?.training?.['truncate_field'];
  return {
    template,
    verbalizer,
    labelField: flags.labelField ?? recorded.labelField,
    truncateField: typeof truncate === 'string' && template.fields.includes(truncate) ? truncate : undefined,
  };
}

/** Rank classification of encoded examples under the given params of the scorer's method. */
export async function scoreWith(scorer: RankScorer, split: EncodedSplit, labels: readonly string[], params: Readonly<Record<string, Tensor>>): Promise<ClassificationReport> {
  const r = await scorer.score(split.examples, params);
  return classificationReport(
    split.examples.map((e) => e.label!),
    r.predictions.map((p) => labels[p]!),
    labels,
  );
}

export interface DiscretizeOutcome {
  readonly discretized: Discretized;
  readonly soft: ClassificationReport;
  readonly hard: ClassificationReport;
  readonly data: string;
}

/** Projects `adapter` onto the vocabulary and evaluates the hard and the soft prompt on `flags.data` with one scorer. */
export async function runDiscretize(
  adapter: LoadedAdapter,
  model: LoadedModel,
  flags: InspectFlags,
  io: Io = processIo,
  fromCli: (key: keyof InspectFlags) => boolean = () => true,
): Promise<DiscretizeOutcome> {
  const data = required(flags.data, '--data', 'the labelled dev split to evaluate the soft and the discretised prompt on (e.g. validation.jsonl)');
  const disc = discretize(adapter, modelVocabulary(model), model.tokenizer);
  const prompt = promptSpecFor(adapter, flags, fromCli);
  const records = await readSplit(data, flags.maxExamples);
  const context = contextOf(model, adapter);
  const split = encodeSplit(records, prompt, { k: 0, strategy: 'random', seed: 0 }, undefined, model.tokenizer, context.maxLength);
  warnEncoding(io, split, 'discretize', context.text);
  const labels = prompt.verbalizer.labels;
  const recorded = adapter.meta?.training?.['length_normalize'];
  const lengthNormalize = flags.lengthNormalize ?? (recorded === true);
  // One compiled graph: the hard prompt is only other params for the same method.
  const softSlots = checkSoftSlots(prompt.template, adapter, (m) => io.err(`softprompt: warning: ${m}`));
  const scorer = await createScorer(model, adapter, { batchSize: flags.batchSize ?? 16, maxLabels: labels.length, lengthNormalize, softSlots });
  try {
    const soft = await scoreWith(scorer, split, labels, adapter.params);
    const hard = await scoreWith(scorer, split, labels, disc.params);
    return { discretized: disc, soft, hard, data };
  } finally {
    await scorer.release();
  }
}

function discretizeLines(o: DiscretizeOutcome, adapter: LoadedAdapter, prompt: string): string[] {
  const out: string[] = [];
  out.push(`adapter     ${adapter.dir} (${adapter.peftType}, ${adapter.method.numVirtualTokens} virtual tokens)`);
  out.push(`data        ${o.data} (${o.soft.n} examples)`);
  out.push(`verbalizer  ${prompt}`);
  out.push('');
  out.push('each virtual token projected onto its nearest vocabulary token (cosine):');
  const rows = o.discretized.ids.map((id, i) => [String(i), quoteToken(o.discretized.tokens[i]!), String(id), o.discretized.cosines[i]!.toFixed(3)]);
  out.push(...formatTable(['#', 'token', 'id', 'cosine'], rows, ['right', 'left', 'right', 'right']));
  out.push(`hard prompt: ${JSON.stringify(o.discretized.text)}`);
  out.push('');
  const body = [
    ['soft prompt', percent(o.soft.accuracy), percent(o.soft.macroF1)],
    ['hard prompt (nearest tokens)', percent(o.hard.accuracy), percent(o.hard.macroF1)],
  ];
  out.push(...formatTable(['prompt', 'accuracy', 'macro-F1'], body, ['left', 'right', 'right']));
  const gap = (o.soft.accuracy - o.hard.accuracy) * 100;
  out.push(`gap (soft - hard): ${gap >= 0 ? '+' : ''}${gap.toFixed(1)} accuracy points: what the continuous values carry beyond those words`);
  return out;
}

/** Runs `softprompt inspect` with parsed arguments; returns the --json object. */
export async function runInspect(
  adapters: readonly string[],
  flags: InspectFlags,
  io: Io = processIo,
  fromCli: (key: keyof InspectFlags) => boolean = () => true,
): Promise<Record<string, unknown>> {
  const top = flags.top ?? 5;
  if (adapters.length === 0) throw new InspectError('missing ADAPTER: name an adapter folder (e.g. runs/story_gender), or several with --compare');
  if (flags.compare && flags.discretize) throw new InspectError('--compare and --discretize do not go together: discretise one adapter at a time');
  if (flags.compare && adapters.length < 2) {
    throw new InspectError(`--compare needs at least two adapters, got one (${adapters[0]}); e.g. softprompt inspect --compare runs/task_a runs/task_b`);
  }
  if (!flags.compare && adapters.length > 1) throw new InspectError(`got ${adapters.length} adapters; pass --compare to compare them, or inspect one at a time`);
  if (flags.discretize && flags.data === undefined) {
    throw new InspectError('--discretize needs --data FILE: the labelled dev split to evaluate the soft and the discretised prompt on (e.g. validation.jsonl)');
  }
  if (!flags.discretize && flags.data !== undefined) throw new InspectError('--data is only used with --discretize');

  const { model, from } = await modelForAdapters(adapters, flags.model);
  const warn = (m: string): void => io.err(`softprompt: warning: ${m}`);
  const loaded = adapters.map((a) => loadAdapterDir(a, model, warn));
  const base = { command: 'inspect', model: model.dir };

  if (flags.compare) {
    const vocab = modelVocabulary(model);
    const c = comparePrompts(
      loaded.map((a, i) => ({ name: adapters[i]!, prompt: promptOf(a), tokenSpace: a.peftType !== 'PREFIX_TUNING', task: taskOf(a.meta) })),
      vocab,
    );
    const json = { ...base, mode: 'compare', ...comparisonJson(c) };
    if (flags.json) io.out(JSON.stringify(json));
    else {
      io.out(`model  ${model.dir} (from ${from})`);
      for (const l of formatComparison(c)) io.out(l);
    }
    return json;
  }

  const adapter = loaded[0]!;
  if (flags.discretize) {
    const o = await runDiscretize(adapter, model, flags, io, fromCli);
    const d = o.discretized;
    const json = {
      ...base,
      mode: 'discretize',
      adapter: adapter.dir,
      data: o.data,
      n: o.soft.n,
      soft: reportJson(o.soft),
      hard: reportJson(o.hard),
      gap: o.soft.accuracy - o.hard.accuracy,
      projection: { ids: d.ids, tokens: d.tokens, cosines: d.cosines, text: d.text },
    };
    if (flags.json) io.out(JSON.stringify(json));
    else {
      io.out(`model       ${model.dir} (from ${from})`);
      for (const l of discretizeLines(o, adapter, describeVerbalizer(promptSpecFor(adapter, flags, fromCli).verbalizer))) io.out(l);
    }
    return json;
  }

  const ins = inspectAdapter(adapter, model, { top });
  const json = { ...base, mode: 'inspect', ...inspectionJson(ins) };
  if (flags.json) io.out(JSON.stringify(json));
  else {
    io.out(`model       ${model.dir} (from ${from})`);
    for (const l of formatInspection(ins)) io.out(l);
  }
  return json;
}

const INSPECT_HELP = `
For each virtual token: its nearest vocabulary tokens by cosine similarity and by L2 distance
(token text JSON-quoted, so spaces show), its norm and that norm over the vocabulary's median row
norm, and, when the adapter records its init (softprompt.json init + training.seed, or PEFT's
prompt_tuning_init_text), its cosine with and L2 distance from its initial row. A prefix-tuning
adapter's rows are per-layer key/value prefixes, not token embeddings: only norms and drift.

The model: --model, else the one softprompt.json (base_model.path) or adapter_config.json
(base_model_name_or_path) names when that folder exists, else $SOFTPROMPT_MODEL or ../shared.

--compare: cosine similarity of the flattened prompts (mean-pooled when the virtual-token counts
differ; the output says which), and each adapter's nearest other adapter.

--discretize: every virtual token replaced by its nearest token's embedding (cosine), evaluated
beside the soft prompt by rank classification on --data, with the adapter's template and verbalizer.

Examples:
  softprompt inspect runs/story_gender
  softprompt inspect runs/story_gender --top 3 --json
  softprompt inspect --compare runs/story_gender runs/sst2
  softprompt inspect runs/story_gender --discretize --data ../shared/datasets/story_gender/validation.jsonl
`;

/** `softprompt inspect`. */
export function inspectCommand(): Command {
  const cmd = new Command('inspect')
    .description("show what a soft prompt means: each virtual token's nearest vocabulary tokens, norm and drift; compare prompts; discretise one")
    .argument('[adapters...]', 'adapter folder(s) (PEFT files + softprompt.json)')
    .option('--model <dir>', "the base model folder (default: the adapter's, then $SOFTPROMPT_MODEL, then ../shared/models/stories260K)")
    .option('--top <k>', 'neighbours per virtual token and measure', intArg(1), 5)
    .option('--compare', 'compare two or more adapters: similarity matrix and nearest task')
    .option('--discretize', 'project onto the nearest tokens and evaluate that hard prompt beside the soft one (needs --data)')
    .option('--data <file>', 'labelled dev split for --discretize (.jsonl, .csv, .tsv, .parquet)')
    .option('--max-examples <n>', 'with --discretize, evaluate only the first N examples', intArg(1))
    .option('--batch-size <n>', 'examples per forward pass when evaluating', intArg(1), 16)
    .option('--template <text>', "with --discretize, the template (default: the adapter's)")
    .option('--verbalizer <json|file>', "with --discretize, the verbalizer (default: the adapter's)")
    .option('--label-field <name>', "with --discretize, the gold label field (default: the adapter's, else \"label\")")
    .option('--length-normalize', 'with --discretize, rank labels by mean log-probability per token')
    .option('--json', 'print one JSON object as the last line of stdout');
  withConfigFile(cmd, { structured: ['verbalizer'] });
  cmd.addHelpText('after', INSPECT_HELP);
  cmd.action(async (adapters: string[], _opts: unknown, self: Command) => {
    await runInspect(adapters, self.opts<InspectFlags>(), processIo, (key) => self.getOptionValueSource(key) === 'cli');
  });
  return cmd;
}
