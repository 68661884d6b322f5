/** The `softprompt` command line: each command is built by its module and registered here. */
import { Command, CommanderError } from 'commander';
import { describeFatal, takeDebugFlag } from './fatal.ts';
import { withConfigFile } from './config.ts';
import { demoCommand } from './demo.ts';
import { classifyCommand } from './classify.ts';
import { evalCommand } from './eval.ts';
import { generateCommand } from './generate.ts';
import { goldenCommand } from './golden.ts';
import { inspectCommand } from './inspect.ts';
import { libraryCommand } from './library.ts';
import { rankTemplatesCommand } from './rank_templates.ts';
import { reportCommand } from './report.ts';
import { serveCommand } from './serve.ts';
import { trainCommand } from './train.ts';

/** `softprompt golden` (its work is in golden.ts). */
function goldenCli(): Command {
  const cmd = new Command('golden')
    .description('check the engine against the golden reference (logits, losses, gradients, greedy ids)')
    .option('--golden <dir>', 'golden folder (default: $SOFTPROMPT_GOLDEN, then ../shared/golden)')
    .option('--case <names>', 'only these cases, comma-separated (default: all)')
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText('after', '\nExamples:\n  softprompt golden\n  softprompt golden --golden ../shared/golden --json\n  softprompt golden --case tiny-qwen2,tiny-gemma3\n');
  withConfigFile(cmd);
  return cmd.action(async (opts: { golden?: string; json?: boolean; case?: string }) => {
    const ok = await goldenCommand(opts);
    if (!ok) process.exitCode = 1;
  });
}

const program = new Command();
program
  .name('softprompt')
  .description('Prompt tuning for frozen language models: soft prompts, p-tuning and prefix tuning on ONNX Runtime, saved in PEFT format.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(); // usage errors exit with 2 below, like every other input error

for (const command of [demoCommand(), trainCommand(), evalCommand(), rankTemplatesCommand(), goldenCli(), inspectCommand(), reportCommand(), generateCommand(), classifyCommand(), serveCommand(), libraryCommand()]) {
  program.addCommand(command.copyInheritedSettings(program));
}

// `softprompt ... | head` closes stdout early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  else throw e;
});

const { argv, debug } = takeDebugFlag(process.argv);
/** One line (and the exit code) for an error that ends the command; the stack only with --debug. */
const fail = (e: unknown): void => {
  const f = describeFatal(e, debug);
  console.error(f.message);
  process.exitCode = f.exitCode;
};
// A stray rejection or throw outside the command's own await (a timer, a stream) ends it the same way.
process.on('uncaughtException', (e) => {
  fail(e);
  process.exit();
});
process.on('unhandledRejection', (e) => {
  fail(e);
  process.exit();
});

try {
  await program.parseAsync(argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // commander has printed the message (or the help) already
    process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? 0 : 2;
  } else {
    fail(e);
  }
}
