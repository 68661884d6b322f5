/**
 * The commands of `softprompt`, each with the line `softprompt --help` shows for it and a loader.
 * Only the command being run is loaded: a command module pulls in onnxruntime, fastify or the hub
 * client, and `softprompt --help` should start in a fraction of a second. test/cli/commands.test.ts
 * checks that each term and description here equals what the loaded command says.
 */
import { Command } from 'commander';

export interface CommandEntry {
  readonly name: string;
  /** How the top-level help lists it: name, `[options]` and arguments (commander's subcommandTerm). */
  readonly term: string;
  readonly description: string;
  readonly load: () => Promise<Command>;
}

/** `softprompt golden` (its work is in golden.ts). */
async function goldenCli(): Promise<Command> {
  const { withConfigFile } = await import('./config.ts');
  const cmd = new Command('golden')
    .description('check the engine against the golden reference (logits, losses, gradients, greedy ids)')
    .option('--golden <dir>', 'golden folder (default: $SOFTPROMPT_GOLDEN, then ../shared/golden)')
    .option('--case <names>', 'only these cases, comma-separated (default: all)')
    .option('--json', 'print one JSON object instead of a table')
    .addHelpText('after', '\nExamples:\n  softprompt golden\n  softprompt golden --golden ../shared/golden --json\n  softprompt golden --case tiny-qwen2,tiny-gemma3\n');
  withConfigFile(cmd);
  return cmd.action(async (opts: { golden?: string; json?: boolean; case?: string }) => {
    const { goldenCommand } = await import('./golden.ts');
    const ok = await goldenCommand(opts);
    if (!ok) process.exitCode = 1;
  });
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'demo',
    term: 'demo [options]',
    description: 'hard prompts vs a trained soft prompt on the default task (stories260K, story_gender): ranks templates, few-shot, trains, compares',
    load: async () => (await import('./demo.ts')).demoCommand(),
  },
  {
    name: 'train',
    term: 'train [options]',
    description: 'train a soft prompt (prompt tuning, p-tuning, prefix tuning or multitask prompt tuning) on a frozen model and save it as a PEFT adapter',
    load: async () => (await import('./train.ts')).trainCommand(),
  },
  {
    name: 'eval',
    term: 'eval [options]',
    description: 'score a labelled split by rank classification: a hard prompt (zero-, one- or k-shot) or a trained adapter; accuracy, macro-F1, per-class counts',
    load: async () => (await import('./eval.ts')).evalCommand(),
  },
  {
    name: 'rank-templates',
    term: 'rank-templates [options]',
    description: 'score several templates and verbalizers on a dev split and rank them, best first, with the spread between best and worst',
    load: async () => (await import('./rank_templates.ts')).rankTemplatesCommand(),
  },
  {
    name: 'golden',
    term: 'golden [options]',
    description: 'check the engine against the golden reference (logits, losses, gradients, greedy ids)',
    load: goldenCli,
  },
  {
    name: 'inspect',
    term: 'inspect [options] [adapters...]',
    description: "show what a soft prompt means: each virtual token's nearest vocabulary tokens, norm and drift; compare prompts; discretise one",
    load: async () => (await import('./inspect.ts')).inspectCommand(),
  },
  {
    name: 'report',
    term: 'report [options] <run_dir>',
    description: "write a run's report.html: loss, dev metric and learning-rate curves, metrics, confusion matrix, nearest tokens, configuration",
    load: async () => (await import('./report.ts')).reportCommand(),
  },
  {
    name: 'generate',
    term: 'generate [options]',
    description: 'generate text with the frozen model, optionally steered by an adapter (KV-cached, batched)',
    load: async () => (await import('./generate.ts')).generateCommand(),
  },
  {
    name: 'classify',
    term: 'classify [options]',
    description: "classify texts by rank scoring over an adapter's verbalizer (the same scoring as eval)",
    load: async () => (await import('./classify.ts')).classifyCommand(),
  },
  {
    name: 'serve',
    term: 'serve [options]',
    description: 'serve the base model and a folder of adapters over HTTP (OpenAI-compatible completions, classification), with dynamic batching',
    load: async () => (await import('./serve.ts')).serveCommand(),
  },
  {
    name: 'library',
    term: 'library',
    description: 'a continual prompt library: one base model, many named task prompts in one folder',
    load: async () => (await import('./library.ts')).libraryCommand(),
  },
];

/**
 * The command an argument list runs, if any: its first word (commander's `help NAME` names it
 * second). The program has no options of its own besides --help and --version, so a word is
 * the first argument or nothing.
 */
export function commandToRun(args: readonly string[]): CommandEntry | undefined {
  const [first, second] = args;
  const name = first === 'help' ? second : first;
  return COMMANDS.find((c) => c.name === name);
}
