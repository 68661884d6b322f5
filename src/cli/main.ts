/**
 * The `softprompt` command line. Only the command being run is loaded (see commands.ts); every
 * other command is a stub that `softprompt --help` lists.
 */
// Node's file system, paths and hashing for the core (host.ts).
import '../host_node.ts';
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Help } from 'commander';
import { COMMANDS, commandToRun } from './commands.ts';
import { describeFatal, takeDebugFlag } from './fatal.ts';

/** package.json's version: two levels up from src/cli/, three from the compiled dist/src/cli/. */
function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'softprompt' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not this level
    }
  }
  return 'unknown';
}

const program = new Command();
program
  .name('softprompt')
  .description('Prompt tuning for frozen language models: soft prompts, p-tuning and prefix tuning on ONNX Runtime, saved in PEFT format.')
  .version(packageVersion(), '-V, --version', 'print the version')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride(); // usage errors exit with 2 below, like every other input error

const terms = new Map(COMMANDS.map((c) => [c.name, c.term]));
const defaultHelp = new Help();
program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd.name()) ?? defaultHelp.subcommandTerm(cmd) });

const { argv, debug } = takeDebugFlag(process.argv);
const chosen = commandToRun(argv.slice(2));
for (const entry of COMMANDS) {
  const command = entry === chosen ? await entry.load() : new Command(entry.name).description(entry.description);
  program.addCommand(command.copyInheritedSettings(program));
}

// `softprompt ... | head` closes stdout early; that is not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  else throw e;
});

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
