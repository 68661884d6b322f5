/**
 * `softprompt library`: a continual prompt library (one base model, many named task prompts in
 * one folder; see src/library/library.ts). init, add (--replace to retrain), list, remove, eval.
 */
import { Command, InvalidArgumentError } from 'commander';
import { SoftpromptError } from '../errors.ts';
import { addTask, changedFiles, createLibrary, listTasks, openLibrary, removeTask, taskDir } from '../library/library.ts';
import { intArg, required } from './args.ts';
import { runEval } from './eval.ts';
import { formatTable, percent } from '../inspect/table.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

/** `NAME=FILE` pairs of --data-for, collected over repeats. */
function dataFor(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0 || eq === value.length - 1) throw new InvalidArgumentError(`expected NAME=FILE, got "${value}"`);
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

export interface LibraryEvalFlags {
  dataFor?: Record<string, string>;
  maxExamples?: number;
  batchSize: number;
  json?: boolean;
}

/** Evaluates each task named in --data-for with its own adapter (template, verbalizer) on its file. */
export async function runLibraryEval(dir: string, flags: LibraryEvalFlags, io: Io = processIo): Promise<Record<string, unknown>> {
  const lib = openLibrary(dir);
  const pairs = Object.entries(flags.dataFor ?? {});
  if (pairs.length === 0) throw new SoftpromptError(`missing --data-for NAME=FILE: the labelled dev file of each task to evaluate (tasks: ${Object.keys(lib.manifest.tasks).sort().join(', ') || 'none'})`);
  for (const [name] of pairs) taskDir(lib, name); // every name exists before any work
  const quiet: Io = { out: () => {}, err: (l) => io.err(l), progress: false };
  const tasks: Record<string, unknown> = {};
  for (const [name, data] of pairs) {
    const r = await runEval(
      {
        model: lib.manifest.base_model.path,
        adapter: taskDir(lib, name),
        data,
        demoSelection: 'random',
        seed: 0,
        batchSize: flags.batchSize,
        ...(flags.maxExamples !== undefined ? { maxExamples: flags.maxExamples } : {}),
        json: true,
      },
      quiet,
    );
    tasks[name] = { data, accuracy: r.json['accuracy'], macro_f1: r.json['macro_f1'], n: r.json['n'], method: r.json['peft_type'], virtual_tokens: r.json['virtual_tokens'] };
  }
  const json = { command: 'library eval', library: lib.dir, base_model: lib.manifest.base_model.path, tasks };
  if (flags.json) io.out(JSON.stringify(json));
  else {
    const rows = Object.entries(tasks).map(([name, t]) => {
      const v = t as { data: string; accuracy: number; macro_f1: number; n: number };
      return [name, String(v.n), percent(v.accuracy), percent(v.macro_f1), v.data];
    });
    for (const l of formatTable(['task', 'n', 'accuracy', 'macro-F1', 'data'], rows, ['left', 'right', 'right', 'right', 'left'])) io.out(l);
  }
  return json;
}

const HELP = `
A library folder holds library.json (base model path and fingerprint, one entry per task) and
tasks/<name>/, each a normal adapter folder. Adding or retraining a task writes only its own
folder and library.json, so every other task's files stay byte-identical. Every task must be
trained on the library's base model (the adapter's fingerprint is checked).

Examples:
  softprompt library init lib --model ../shared/models/stories260K
  softprompt library add lib story_gender --from runs/story_gender
  softprompt library add lib story_gender --from runs/story_gender_v2 --replace
  softprompt train ... --init-from lib/tasks/story_gender --out runs/new_task   # prompt transfer
  softprompt library list lib --json
  softprompt library eval lib --data-for story_gender=../shared/datasets/story_gender/validation.jsonl --max-examples 100
`;

/** Subcommands do not inherit the program's settings (added after it builds them): usage errors exit 2 here too. */
function sub(parent: Command, name: string): Command {
  return parent.command(name).exitOverride().showHelpAfterError('(run with --help for usage)');
}

/** `softprompt library`. */
export function libraryCommand(): Command {
  const cmd = new Command('library').description('a continual prompt library: one base model, many named task prompts in one folder');
  cmd.addHelpText('after', HELP);

  sub(cmd, 'init')
    .description('create an empty library for a base model')
    .argument('<lib>', 'library folder')
    .option('--model <dir>', 'the base model folder every task is trained on')
    .action((lib: string, opts: { model?: string; json?: boolean }) => {
      const l = createLibrary(lib, required(opts.model, '--model', 'the base model folder of the library'));
      processIo.out(`library ${l.dir}: base model ${l.manifest.base_model.path} (fingerprint ${l.manifest.base_model.fingerprint.slice(0, 12)}…)`);
    });

  sub(cmd, 'add')
    .description("add a trained run's adapter as a named task (only its adapter files are copied)")
    .argument('<lib>', 'library folder')
    .argument('<name>', 'task name: letters, digits, ".", "_", "-" (at most 64)')
    .option('--from <run_dir>', 'the trained run (or adapter) folder')
    .option('--replace', 'replace an existing task of that name (retraining)')
    .action((lib: string, name: string, opts: { from?: string; replace?: boolean }) => {
      const from = required(opts.from, '--from', 'the trained run folder to add');
      const l = addTask(openLibrary(lib), name, from, { replace: opts.replace === true, onWarning: (m) => processIo.err(`softprompt: warning: ${m}`) });
      const t = l.manifest.tasks[name]!;
      processIo.out(`${opts.replace ? 'replaced' : 'added'} ${name}: ${t.dir} (${t.method}, ${t.virtual_tokens} virtual tokens)`);
    });

  sub(cmd, 'remove')
    .description('remove a task')
    .argument('<lib>', 'library folder')
    .argument('<name>', 'task name')
    .action((lib: string, name: string) => {
      removeTask(openLibrary(lib), name);
      processIo.out(`removed ${name}`);
    });

  sub(cmd, 'list')
    .description('list the tasks')
    .argument('<lib>', 'library folder')
    .option('--json', 'print one JSON object')
    .action((lib: string, opts: { json?: boolean }) => {
      const l = openLibrary(lib);
      const tasks = listTasks(l);
      if (opts.json) {
        processIo.out(JSON.stringify({ library: l.dir, base_model: l.manifest.base_model, tasks: tasks.map(({ files: _f, ...t }) => ({ ...t, changed_files: changedFiles(l, t.name) })) }));
        return;
      }
      processIo.out(`library ${l.dir}: base model ${l.manifest.base_model.path}`);
      const rows = tasks.map((t) => {
        const acc = t.metrics?.['accuracy'];
        return [t.name, t.method, String(t.virtual_tokens), typeof acc === 'number' ? percent(acc) : '-', t.updated];
      });
      for (const line of formatTable(['task', 'method', 'tokens', 'dev accuracy', 'updated'], rows)) processIo.out(line);
    });

  sub(cmd, 'eval')
    .description("evaluate tasks, each with its own adapter, template and verbalizer, on its labelled file")
    .argument('<lib>', 'library folder')
    .option('--data-for <name=file>', 'a task and its labelled dev file (repeat for more tasks)', dataFor)
    .option('--max-examples <n>', 'score only the first N examples of each file', intArg(1))
    .option('--batch-size <n>', 'examples per forward pass', intArg(1), 16)
    .option('--json', 'print one JSON object as the last line of stdout')
    .action(async (lib: string, opts: LibraryEvalFlags) => {
      await runLibraryEval(lib, opts);
    });
  return cmd;
}
