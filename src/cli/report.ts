/** `softprompt report RUN_DIR`: (re)writes the run's self-contained report.html. */
import { Command } from 'commander';
import { writeRunReport } from '../report/report.ts';
import { intArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

export interface ReportFlags {
  model?: string;
  out?: string;
  eval?: boolean;
  maxExamples?: number;
  top?: number;
  batchSize?: number;
  json?: boolean;
}

/** Runs `softprompt report` with parsed arguments; returns the report's path. */
export async function runReport(runDir: string, flags: ReportFlags, io: Io = processIo): Promise<string> {
  const path = await writeRunReport(runDir, {
    ...(flags.model !== undefined ? { model: flags.model } : {}),
    ...(flags.out !== undefined ? { out: flags.out } : {}),
    evaluate: flags.eval !== false,
    ...(flags.maxExamples !== undefined ? { maxExamples: flags.maxExamples } : {}),
    ...(flags.top !== undefined ? { top: flags.top } : {}),
    ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
    onWarning: (m) => io.err(`softprompt: note: ${m}`),
  });
  io.out(flags.json ? JSON.stringify({ command: 'report', report: path }) : `report  ${path}`);
  return path;
}

const REPORT_HELP = `
The page holds the training loss per update (with a moving average), accuracy and macro-F1 per
evaluation, the learning rate, the final and best metrics, the confusion matrix of the saved
adapter on the run's validation split (recomputed, on as many examples as the run evaluated),
each virtual token's nearest vocabulary tokens, and the configuration. It is one file with inline
CSS and SVG: no scripts and no network assets, so it opens anywhere and can be mailed as is.

Examples:
  softprompt report runs/story_gender
  softprompt report runs/story_gender --no-eval --out /tmp/story_gender.html
`;

/** `softprompt report`. */
export function reportCommand(): Command {
  const cmd = new Command('report')
    .description("write a run's report.html: loss, dev metric and learning-rate curves, metrics, confusion matrix, nearest tokens, configuration")
    .argument('<run_dir>', 'the --out folder of softprompt train')
    .option('--model <dir>', "the base model folder (default: the adapter's, then $SOFTPROMPT_MODEL, then ../shared/models/stories260K)")
    .option('--out <file>', 'where to write the page (default: RUN_DIR/report.html)')
    .option('--no-eval', 'skip evaluating the adapter (no confusion matrix; faster)')
    .option('--max-examples <n>', 'evaluate at most N validation examples (default: as many as the run evaluated)', intArg(1))
    .option('--top <k>', 'nearest tokens shown per virtual token', intArg(1), 3)
    .option('--batch-size <n>', 'examples per forward pass when evaluating', intArg(1), 16)
    .option('--json', 'print one JSON object as the last line of stdout');
  withConfigFile(cmd);
  cmd.addHelpText('after', REPORT_HELP);
  cmd.action(async (runDir: string, _opts: unknown, self: Command) => {
    await runReport(runDir, self.opts<ReportFlags>());
  });
  return cmd;
}
