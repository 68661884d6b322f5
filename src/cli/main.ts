/** The `softprompt` command line. */
import { Command } from 'commander';
import { SoftpromptError } from '../errors.ts';
import { goldenCommand } from './golden.ts';

const program = new Command();
program
  .name('softprompt')
  .description('Prompt tuning for frozen language models: soft prompts, p-tuning and prefix tuning on ONNX Runtime, saved in PEFT format.')
  .showHelpAfterError();

program
  .command('golden')
  .description('check the engine against the golden reference (logits, losses, gradients, greedy ids)')
  .option('--golden <dir>', 'golden folder (default: $SOFTPROMPT_GOLDEN, then ../shared/golden)')
  .option('--json', 'print one JSON object instead of a table')
  .addHelpText('after', '\nExamples:\n  softprompt golden\n  softprompt golden --golden ../shared/golden --json\n')
  .action(async (opts: { golden?: string; json?: boolean }) => {
    const ok = await goldenCommand(opts);
    if (!ok) process.exitCode = 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof SoftpromptError) {
    console.error(`softprompt: ${e.message}`);
    process.exitCode = 2;
  } else {
    throw e;
  }
}
