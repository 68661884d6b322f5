/**
 * `softprompt classify`: rank classification of texts with an adapter's template and verbalizer
 * (or --template/--verbalizer), scored exactly as `softprompt eval` scores.
 */
import { Command } from 'commander';
import { SoftpromptError } from '../errors.ts';
import { createEngine } from '../infer/engine.ts';
import type { ClassifyRequest } from '../infer/types.ts';
import { textArg, verbalizerArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { loadModel } from '../pretrained/model.ts';
import { verbalizerEntries } from '../data/verbalizer.ts';
import { adapterTask, inputLines, readInput } from './generate.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

export interface ClassifyFlags {
  model?: string;
  adapter?: string;
  text?: string;
  file?: string;
  template?: string;
  verbalizer?: string;
  jsonl?: boolean;
  task?: string;
}

export async function runClassify(flags: ClassifyFlags, io: Io = processIo): Promise<void> {
  if (flags.text !== undefined && flags.file !== undefined) throw new SoftpromptError('pass either --text or --file, not both');
  const inputs = flags.text !== undefined ? [flags.text] : inputLines(readInput(flags), 'text');
  const template = flags.template !== undefined ? textArg(flags.template, '--template', true).text : undefined;
  const verbalizer = flags.verbalizer !== undefined ? verbalizerEntries(verbalizerArg(flags.verbalizer)) : undefined;
  if (flags.adapter === undefined && (template === undefined || verbalizer === undefined)) {
    throw new SoftpromptError('pass --adapter DIR (its template and verbalizer are used), or --template and --verbalizer for the base model');
  }
  const model = await loadModel(flags.model);
  const engine = await createEngine({
    model,
    strictAdapters: true,
    adapters: flags.adapter !== undefined ? { adapter: flags.adapter } : {},
    onWarning: (m) => io.err(`softprompt: warning: ${m}`),
  });
  try {
    if (engine.skipped.length > 0) throw new SoftpromptError(engine.skipped[0]!.message);
    const task = adapterTask(engine, flags.adapter, flags.task);
    const requests: ClassifyRequest[] = inputs.map((input) => ({
      task,
      input: typeof input === 'string' ? input : Object.fromEntries(Object.entries(input).filter(([, v]) => typeof v === 'string')) as Record<string, string>,
      ...(template !== undefined ? { template } : {}),
      ...(verbalizer !== undefined ? { verbalizer } : {}),
    }));
    const results = await engine.classify(requests);
    results.forEach((r, i) => {
      if (flags.jsonl) io.out(JSON.stringify({ input: inputs[i], label: r.label, scores: r.scores }));
      else io.out(`${r.label}\t${Object.entries(r.scores).map(([l, s]) => `${l}=${s.toFixed(4)}`).join(' ')}`);
    });
  } finally {
    await engine.close();
  }
}

const HELP = `
Inputs: --text TEXT, or --file FILE / stdin: JSONL records (their fields fill the template) or plain
text lines (each fills the template's field). Output: the label and each label's summed
log-probability per line, or with --jsonl one JSON object per input.

Examples:
  softprompt classify --adapter runs/story_gender --text 'Lily played with her doll.'
  softprompt classify --adapter runs/story_gender --file ../shared/datasets/story_gender/validation.jsonl --jsonl
`;

export function classifyCommand(): Command {
  const cmd = new Command('classify')
    .description("classify texts by rank scoring over an adapter's verbalizer (the same scoring as eval)")
    .option('--model <dir>', 'Hugging Face model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--adapter <dir>', 'adapter folder; its softprompt.json gives the template and verbalizer')
    .option('--task <name>', "a multitask adapter's task to use (its own template and verbalizer, if it has them)")
    .option('--text <text>', 'one input text (else --file or stdin)')
    .option('--file <file>', 'inputs: JSONL records or text lines')
    .option('--template <text>', 'template overriding the adapter\'s (\\n is a newline, @FILE reads a file)')
    .option('--verbalizer <json|file>', 'label -> continuation overriding the adapter\'s')
    .option('--jsonl', 'one JSON object per input: input, label, scores');
  withConfigFile(cmd, { structured: ['verbalizer'] });
  cmd.addHelpText('after', HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    await runClassify(self.opts<ClassifyFlags>());
  });
  return cmd;
}
