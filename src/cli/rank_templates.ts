/**
 * `softprompt rank-templates`: scores every template × verbalizer pair on a dev split by rank
 * classification and ranks them, best first, with the spread between best and worst. Hard-prompt
 * choice swings accuracy a lot; this shows by how much. One compiled scorer serves every pair.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Command } from 'commander';
import { readAllRecords } from '../data/readers.ts';
import { Template } from '../data/template.ts';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';
import type { ClassificationReport } from '../eval/metrics.ts';
import { intArg, required, textArg, unescapeCli, verbalizerArg } from './args.ts';
import { ConfigFileError, readStructuredFile, withConfigFile } from './config.ts';
import type { StructuredFile } from './config.ts';
import { addPromptOptions, describeVerbalizer, reportJson, warnEncoding } from './eval.ts';
import { contextOf, createScorer, scoreSplit } from '../eval/score.ts';
import { encodeSplit } from '../data/split.ts';
import { loadModel } from '../pretrained/model.ts';
import { readSplit } from '../data/readers.ts';
import { verbalizerEntries } from '../data/verbalizer.ts';
import type { LoadedModel } from '../pretrained/model.ts';
import type { PromptOptionFlags } from './eval.ts';
import type { ShotSetting } from '../data/split.ts';
import { formatTable, oneLine, percent } from '../inspect/table.ts';
import { processIo, Progress } from './output.ts';
import type { Io } from './output.ts';
import type { DataRecord } from '../data/readers.ts';

/** One template to try. */
export interface TemplateChoice {
  readonly name: string;
  readonly template: string;
  readonly instruction?: string | undefined;
  /** Where it was defined (file:line), for messages. */
  readonly origin: string;
}

/** One verbalizer to try. */
export interface VerbalizerChoice {
  readonly name: string;
  readonly verbalizer: Verbalizer;
}

const STRUCTURED = new Set(['.json', '.yaml', '.yml']);

function where(f: StructuredFile, path: (string | number)[]): number | undefined {
  return f.lineOf(path);
}

/**
 * Reads a templates file: a JSON array or YAML list of template strings or
 * `{name, template, instruction?}` objects; any other extension is text with one template per
 * line (`\n` escapes, blank lines and lines starting with `#` skipped).
 */
export function readTemplatesFile(path: string): TemplateChoice[] {
  const out: TemplateChoice[] = [];
  if (STRUCTURED.has(extname(path).toLowerCase())) {
    const f = readStructuredFile(path, 'templates file');
    if (!Array.isArray(f.value)) {
      throw new ConfigFileError(path, 'a templates file must be a list of templates (strings, or {name, template, instruction} objects)', undefined, f.lineOf([]));
    }
    f.value.forEach((item: unknown, i) => {
      const line = where(f, [i]);
      const fail = (detail: string): never => {
        throw new ConfigFileError(path, `template ${i + 1}: ${detail}`, undefined, line);
      };
      const origin = `${path}${line === undefined ? `#${i + 1}` : `:${line}`}`;
      if (typeof item === 'string') {
        out.push({ name: `#${i + 1}`, template: item, origin });
        return;
      }
      if (item === null || typeof item !== 'object' || Array.isArray(item)) return fail('must be a string or a {name, template, instruction} object');
      const o = item as Record<string, unknown>;
      for (const k of Object.keys(o)) if (!['name', 'template', 'instruction'].includes(k)) fail(`unknown key "${k}" (known: name, template, instruction)`);
      if (typeof o['template'] !== 'string') fail('needs "template": the template text');
      if (o['name'] !== undefined && typeof o['name'] !== 'string' && typeof o['name'] !== 'number') fail('"name" must be text');
      if (o['instruction'] !== undefined && typeof o['instruction'] !== 'string') fail('"instruction" must be text');
      out.push({
        name: o['name'] !== undefined ? String(o['name']) : `#${i + 1}`,
        template: o['template'] as string,
        instruction: o['instruction'] as string | undefined,
        origin,
      });
    });
  } else {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigFileError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such templates file' : `cannot read: ${(e as Error).message}`);
    }
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.startsWith('#')) return;
      out.push({ name: `#${out.length + 1}`, template: unescapeCli(line), origin: `${path}:${i + 1}` });
    });
  }
  if (out.length === 0) throw new ConfigFileError(path, 'has no templates');
  return out;
}

/**
 * Reads a verbalizers file (JSON or YAML): a list whose items are label -> text objects, or
 * `{name, verbalizer: {label: text}}`; a single label -> text object is one verbalizer.
 */
export function readVerbalizersFile(path: string): VerbalizerChoice[] {
  const f = readStructuredFile(path, 'verbalizers file');
  const items: unknown[] = Array.isArray(f.value) ? f.value : [f.value];
  const out = items.map((item, i): VerbalizerChoice => {
    const line = Array.isArray(f.value) ? f.lineOf([i]) : f.lineOf([]);
    const origin = `${path}${line === undefined ? '' : `:${line}`}`;
    const fail = (detail: string): never => {
      throw new ConfigFileError(path, `verbalizer ${i + 1}: ${detail}`, undefined, line);
    };
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return fail('must be an object of label -> text (e.g. {"girl": " girl", "boy": " boy"}) or {name, verbalizer}');
    }
    const o = item as Record<string, unknown>;
    if (o['verbalizer'] !== undefined && typeof o['verbalizer'] === 'object') {
      for (const k of Object.keys(o)) if (k !== 'name' && k !== 'verbalizer') fail(`unknown key "${k}" beside "verbalizer" (known: name, verbalizer)`);
      if (o['verbalizer'] === null || Array.isArray(o['verbalizer'])) fail('"verbalizer" must be an object of label -> text');
      const v = new Verbalizer(o['verbalizer'] as Record<string, string>, origin);
      return { name: o['name'] !== undefined ? String(o['name']) : describeVerbalizer(v), verbalizer: v };
    }
    const v = new Verbalizer(o as Record<string, string>, origin);
    return { name: describeVerbalizer(v), verbalizer: v };
  });
  if (out.length === 0) throw new ConfigFileError(path, 'has no verbalizers');
  return out;
}

export interface RankTemplatesOptions {
  readonly model: LoadedModel;
  readonly data: string;
  readonly records: readonly DataRecord[];
  readonly templates: readonly TemplateChoice[];
  readonly verbalizers: readonly VerbalizerChoice[];
  /** Put before every template that has no instruction of its own. */
  readonly instruction?: string | undefined;
  readonly labelField?: string | undefined;
  readonly truncateField?: string | undefined;
  readonly shot?: ShotSetting | undefined;
  readonly demoPool?: readonly DataRecord[] | undefined;
  readonly lengthNormalize?: boolean | undefined;
  readonly batchSize?: number | undefined;
}

export interface RankedPrompt {
  readonly template: TemplateChoice;
  readonly verbalizer: VerbalizerChoice;
  readonly report: ClassificationReport;
  readonly truncated: number;
  readonly demosDropped: number;
}

export interface RankTemplatesResult {
  /** Best first (accuracy, then macro-F1, then file order). */
  readonly results: RankedPrompt[];
  readonly best: RankedPrompt;
  readonly worst: RankedPrompt;
  /** best accuracy − worst accuracy. */
  readonly spread: number;
}

/** Scores every template × verbalizer pair with one compiled scorer and ranks them. */
export async function rankTemplates(opts: RankTemplatesOptions, io: Io = processIo): Promise<RankTemplatesResult> {
  const shot = opts.shot ?? { k: 0, strategy: 'random', seed: 0 };
  const context = contextOf(opts.model, undefined);
  const scorer = await createScorer(opts.model, undefined, {
    ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
    maxLabels: Math.max(...opts.verbalizers.map((v) => v.verbalizer.labels.length)),
    lengthNormalize: opts.lengthNormalize ?? false,
  });
  const bar = new Progress(io);
  const scored: RankedPrompt[] = [];
  try {
    for (const t of opts.templates) {
      const instruction = t.instruction ?? opts.instruction;
      const template = new Template(t.template, { source: t.origin, ...(instruction !== undefined ? { instruction } : {}) });
      for (const v of opts.verbalizers) {
        const what = `template ${t.name} × verbalizer ${v.name}`;
        const prompt = { template, verbalizer: v.verbalizer, labelField: opts.labelField ?? 'label', truncateField: opts.truncateField };
        const split = encodeSplit(opts.records, prompt, shot, opts.demoPool, opts.model.tokenizer, context.maxLength);
        warnEncoding(io, split, what, context.text);
        const report = await scoreSplit(scorer, split.examples, v.verbalizer.labels, { bar, label: what });
        scored.push({ template: t, verbalizer: v, report, truncated: split.truncated, demosDropped: split.demosDropped });
      }
    }
  } finally {
    await scorer.release();
  }
  const results = scored
    .map((r, i) => ({ r, i }))
    .sort((a, b) => b.r.report.accuracy - a.r.report.accuracy || b.r.report.macroF1 - a.r.report.macroF1 || a.i - b.i)
    .map((x) => x.r);
  const best = results[0]!;
  const worst = results.at(-1)!;
  return { results, best, worst, spread: best.report.accuracy - worst.report.accuracy };
}

function rankedJson(r: RankedPrompt, rank: number): Record<string, unknown> {
  return {
    rank,
    template_name: r.template.name,
    template: r.template.template,
    instruction: r.template.instruction ?? null,
    verbalizer_name: r.verbalizer.name,
    verbalizer: verbalizerEntries(r.verbalizer.verbalizer),
    ...reportJson(r.report),
    truncated: r.truncated,
    demos_dropped: r.demosDropped,
  };
}

interface RankTemplatesFlags extends PromptOptionFlags {
  templates?: string;
  verbalizers?: string;
  verbalizer?: string;
  shots?: number;
}

async function rankTemplatesAction(flags: RankTemplatesFlags, io: Io, fromCli: (key: string) => boolean): Promise<RankTemplatesResult> {
  const data = required(flags.data, '--data', 'the labelled dev split to score the templates on');
  const templatesFile = required(flags.templates, '--templates', 'a file of templates (JSON/YAML list, or one per line)');
  const k = flags.shots ?? 0;
  if (k > 0 && flags.demosFrom === undefined) throw new SoftpromptError(`--shots ${k} needs demonstrations: pass --demos-from FILE (a labelled split, e.g. the train file)`);
  const templates = readTemplatesFile(templatesFile);
  let verbalizers: VerbalizerChoice[];
  if (flags.verbalizers !== undefined) verbalizers = readVerbalizersFile(flags.verbalizers);
  else if (flags.verbalizer !== undefined) {
    const v = verbalizerArg(flags.verbalizer);
    verbalizers = [{ name: describeVerbalizer(v), verbalizer: v }];
  } else {
    throw new SoftpromptError(`no verbalizer: pass --verbalizers FILE (a list) or --verbalizer JSON (e.g. '{"girl": " girl", "boy": " boy"}')`);
  }
  const instruction = flags.instruction !== undefined ? textArg(flags.instruction, '--instruction', fromCli('instruction')).text : undefined;
  const model = await loadModel(flags.model);
  const records = await readSplit(data, flags.maxExamples);
  const demoPool = k > 0 ? await readAllRecords(flags.demosFrom!) : undefined;
  const result = await rankTemplates(
    {
      model,
      data,
      records,
      templates,
      verbalizers,
      instruction,
      labelField: flags.labelField,
      truncateField: flags.truncateField,
      shot: { k, strategy: flags.demoSelection, seed: flags.seed },
      demoPool,
      lengthNormalize: flags.lengthNormalize,
      batchSize: flags.batchSize,
    },
    io,
  );

  if (flags.json) {
    io.out(
      JSON.stringify({
        command: 'rank-templates',
        model: model.dir,
        data,
        n: records.length,
        shots: k,
        demo_selection: k > 0 ? flags.demoSelection : null,
        results: result.results.map((r, i) => rankedJson(r, i + 1)),
        best: rankedJson(result.best, 1),
        worst: rankedJson(result.worst, result.results.length),
        spread: result.spread,
        spread_macro_f1: result.best.report.macroF1 - result.worst.report.macroF1,
      }),
    );
  } else {
    io.out(`model  ${model.dir}${model.source === 'flag' ? '' : ` (from ${model.source})`}`);
    io.out(`data   ${data} (${records.length} examples, ${k}-shot${k > 0 ? ` ${flags.demoSelection}` : ''})`);
    io.out('');
    const showVerbalizer = verbalizers.length > 1;
    const header = ['rank', 'template', ...(showVerbalizer ? ['verbalizer'] : []), 'accuracy', 'macro-F1'];
    const rows = result.results.map((r, i) => [
      String(i + 1),
      `${r.template.name} ${oneLine(r.template.template, 50)}`,
      ...(showVerbalizer ? [r.verbalizer.name] : []),
      percent(r.report.accuracy),
      percent(r.report.macroF1),
    ]);
    for (const line of formatTable(header, rows, ['right', 'left', ...(showVerbalizer ? ['left' as const] : []), 'right', 'right'])) io.out(line);
    io.out('');
    io.out(
      `spread (best - worst): ${(result.spread * 100).toFixed(1)} points of accuracy (${percent(result.best.report.accuracy)} vs ${percent(result.worst.report.accuracy)}), ` +
        `${((result.best.report.macroF1 - result.worst.report.macroF1) * 100).toFixed(1)} points of macro-F1`,
    );
    if (!showVerbalizer) io.out(`verbalizer: ${verbalizers[0]!.name}`);
  }
  return result;
}

const RANK_HELP = `
Templates file: a JSON array or YAML list of template strings or {name, template, instruction}
objects, or a text file with one template per line (\\n is a newline there; blank lines and lines
starting with # are skipped). Verbalizers file: a JSON/YAML list of label -> text objects, or of
{name, verbalizer: {label: text}}. Without --verbalizers, --verbalizer gives the only one.
--config FILE (JSON or YAML) may set any flag; flags on the command line override it.

With --json the last line of stdout is {results: [...best first], best, worst, spread}, where
spread = best accuracy - worst accuracy (spread_macro_f1 likewise).

Examples:
  softprompt rank-templates --model ../shared/models/stories260K \\
    --data ../shared/datasets/story_gender/validation.jsonl \\
    --templates examples/story_gender/templates.yaml --verbalizers examples/story_gender/verbalizers.json
  softprompt rank-templates --data ../shared/datasets/story_gender/validation.jsonl --max-examples 100 \\
    --templates examples/story_gender/templates.yaml --verbalizer '{"girl": " girl", "boy": " boy"}' \\
    --shots 2 --demos-from ../shared/datasets/story_gender/train.jsonl --demo-selection balanced --json
`;

/** `softprompt rank-templates`. */
export function rankTemplatesCommand(): Command {
  const cmd = new Command('rank-templates').description(
    'score several templates and verbalizers on a dev split and rank them, best first, with the spread between best and worst',
  );
  addPromptOptions(cmd)
    .option('--templates <file>', 'templates to compare: JSON/YAML list, or a text file with one per line')
    .option('--verbalizers <file>', 'verbalizers to compare: JSON/YAML list of label -> text objects')
    .option('--verbalizer <json|file>', 'the one verbalizer when there is no --verbalizers: inline JSON or a JSON file')
    .option('--shots <k>', 'demonstrations per query (default 0)', intArg(0));
  withConfigFile(cmd, { structured: ['verbalizer'] });
  cmd.addHelpText('after', RANK_HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    await rankTemplatesAction(self.opts<RankTemplatesFlags>(), processIo, (key) => self.getOptionValueSource(key) === 'cli');
  });
  return cmd;
}
