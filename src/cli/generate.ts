/**
 * `softprompt generate`: KV-cached text generation with the base model or an adapter. Prompts
 * come from --prompt, a file or stdin (one per line; a JSONL line {"prompt": ...} also works) and
 * run as batches; one prompt on a terminal-like stdout is streamed as it is decoded.
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { SoftpromptError } from '../errors.ts';
import { createEngine } from '../infer/engine.ts';
import { exitCodeOf, onInterrupt } from './interrupt.ts';
import type { Engine } from '../infer/engine.ts';
import { InferenceError } from '../infer/errors.ts';
import type { GenerateRequest, InferenceEngine } from '../infer/types.ts';
import { intArg } from './args.ts';
import { withConfigFile } from './config.ts';
import { loadModel } from '../pretrained/model.ts';
import { processIo } from './output.ts';
import type { Io } from './output.ts';

/**
 * The engine task an `--adapter` run uses: "adapter", or for a multitask adapter "adapter.TASK"
 * chosen with --task (the engine serves each of its tasks under that name).
 */
export function adapterTask(engine: Pick<InferenceEngine, 'tasks'>, adapter: string | undefined, task: string | undefined): string | null {
  if (adapter === undefined) {
    if (task !== undefined) throw new SoftpromptError('--task picks a task of a multitask --adapter; there is no adapter');
    return null;
  }
  const names = engine.tasks().map((t) => t.name);
  if (names.includes('adapter')) {
    if (task !== undefined) throw new SoftpromptError(`--task applies to multitask prompt tuning adapters; ${adapter} has one prompt`);
    return 'adapter';
  }
  const tasks = names.filter((n) => n.startsWith('adapter.')).map((n) => n.slice('adapter.'.length));
  if (task === undefined) throw new SoftpromptError(`${adapter} is a multitask adapter: pick its task with --task (${tasks.join(', ')})`);
  if (!tasks.includes(task)) throw new SoftpromptError(`--task ${JSON.stringify(task)} is not a task of ${adapter}; its tasks are: ${tasks.join(', ')}`);
  return `adapter.${task}`;
}

export interface GenerateFlags {
  model?: string;
  adapter?: string;
  task?: string;
  prompt?: string;
  file?: string;
  maxNewTokens: number;
  temperature: number;
  topK?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
  eos: boolean;
  batchSize: number;
  jsonl?: boolean;
}

export function floatArg(min: number, max = Infinity): (value: string) => number {
  return (value: string): number => {
    const n = Number(value.trim());
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

/** Lines of text (empty ones skipped); a line that is a JSON object gives its `field` (or `text`). */
export function inputLines(text: string, field: string): (string | Record<string, unknown>)[] {
  const out: (string | Record<string, unknown>)[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    if (line.trimStart().startsWith('{')) {
      try {
        const v: unknown = JSON.parse(line);
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
          out.push(v as Record<string, unknown>);
          continue;
        }
      } catch {
        // not JSON: plain text
      }
    }
    out.push(line);
  }
  if (out.length === 0) throw new SoftpromptError(`no input: the ${field === 'prompt' ? 'prompts' : 'texts'} are empty`);
  return out;
}

export function readInput(flags: { file?: string }, io: { stdin?: () => string } = {}): string {
  if (flags.file !== undefined) {
    try {
      return readFileSync(flags.file, 'utf8');
    } catch (e) {
      throw new SoftpromptError(`cannot read ${flags.file}: ${(e as Error).message}`);
    }
  }
  return (io.stdin ?? (() => readFileSync(0, 'utf8')))();
}

export async function runGenerate(flags: GenerateFlags, io: Io = processIo): Promise<void> {
  const sources = [flags.prompt !== undefined, flags.file !== undefined].filter(Boolean).length;
  if (sources > 1) throw new SoftpromptError('pass either --prompt or --file, not both');
  const prompts: string[] =
    flags.prompt !== undefined
      ? [flags.prompt]
      : inputLines(readInput(flags), 'prompt').map((p, i) => {
          if (typeof p === 'string') return p;
          const v = p['prompt'] ?? p['text'];
          if (typeof v !== 'string') throw new SoftpromptError(`input line ${i + 1}: a JSON line needs a string "prompt" (or "text") field`);
          return v;
        });
  const model = await loadModel(flags.model);
  const engine = await createEngine({
    model,
    strictAdapters: true,
    adapters: flags.adapter !== undefined ? { adapter: flags.adapter } : {},
    maxBatchSize: flags.batchSize,
    onWarning: (m) => io.err(`softprompt: warning: ${m}`),
  });
  // Ctrl-C / SIGTERM: the rows stop at their next token, one line says so, exit 130/143; a second
  // signal ends the process at once (interrupt.ts).
  const interrupt = onInterrupt((sig) => io.err(`\nsoftprompt: ${sig}: generation interrupted (send ${sig} again to exit at once)`));
  try {
    if (engine.skipped.length > 0) throw new SoftpromptError(engine.skipped[0]!.message);
    await generateWith(engine, flags, prompts, io, interrupt.signal);
  } catch (e) {
    const sig = interrupt.received();
    if (sig === null) throw asFlagError(e);
    process.exitCode = exitCodeOf(sig);
  } finally {
    interrupt.dispose();
    await engine.close();
  }
}

/** The request fields the engine checks, as the flags the user typed. */
const FLAG_OF: Readonly<Record<string, string>> = {
  maxNewTokens: '--max-new-tokens',
  topK: '--top-k',
  topP: '--top-p',
  temperature: '--temperature',
  seed: '--seed',
  stop: '--stop',
};

/** An engine error naming a request field (maxNewTokens, topK, ...) names the flag instead. */
function asFlagError(e: unknown): unknown {
  if (!(e instanceof InferenceError) || e.field === undefined) return e;
  const flag = FLAG_OF[e.field];
  if (flag === undefined) return e;
  return new SoftpromptError(e.message.replace(new RegExp(`\\b${e.field}\\b`, 'g'), flag));
}

async function generateWith(engine: Engine, flags: GenerateFlags, prompts: readonly string[], io: Io, signal: AbortSignal): Promise<void> {
  {
    const base: Omit<GenerateRequest, 'prompt'> = {
      task: adapterTask(engine, flags.adapter, flags.task),
      maxNewTokens: flags.maxNewTokens,
      temperature: flags.temperature,
      ...(flags.topK !== undefined ? { topK: flags.topK } : {}),
      ...(flags.topP !== undefined ? { topP: flags.topP } : {}),
      ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
      ...(flags.stop !== undefined ? { stop: flags.stop } : {}),
      stopAtEos: flags.eos,
    };
    if (prompts.length === 1 && !flags.jsonl) {
      for await (const chunk of engine.generateStream({ ...base, prompt: prompts[0]! }, { signal })) process.stdout.write(chunk.text);
      process.stdout.write('\n');
      return;
    }
    const results = await engine.generate(prompts.map((prompt) => ({ ...base, prompt })), { signal });
    results.forEach((r, i) => {
      if (flags.jsonl) {
        io.out(JSON.stringify({ prompt: prompts[i], text: r.text, ids: r.ids, prompt_tokens: r.promptTokens, finish_reason: r.finishReason }));
      } else io.out(r.text);
    });
  }
}

const HELP = `
Prompts: --prompt TEXT, or --file FILE / stdin with one prompt per line (a line may be a JSON object
with a "prompt" or "text" field). Greedy by default (--temperature 0); the same --seed gives the same text.
A stop string ends the text before it; generation also ends at the EOS token (unless --no-eos).

Examples:
  softprompt generate --model ../shared/models/stories260K --prompt 'Once upon a time' --max-new-tokens 40
  softprompt generate --adapter runs/story_gender --temperature 0.8 --top-p 0.9 --seed 1 --prompt 'Lily went'
  printf 'Once\\nThe cat\\n' | softprompt generate --jsonl --stop '.'
`;

export function generateCommand(): Command {
  const cmd = new Command('generate')
    .description('generate text with the frozen model, optionally steered by an adapter (KV-cached, batched)')
    .option('--model <dir>', 'Hugging Face model folder (default: $SOFTPROMPT_MODEL, then ../shared/models/stories260K)')
    .option('--adapter <dir>', 'adapter folder (PEFT prompt tuning, p-tuning, prefix tuning or multitask prompt tuning)')
    .option('--task <name>', "a multitask adapter's task to use")
    .option('--prompt <text>', 'the prompt (else --file or stdin, one prompt per line)')
    .option('--file <file>', 'prompts, one per line (or JSONL with "prompt")')
    .option('--max-new-tokens <n>', 'new tokens at most', intArg(1), 64)
    .option('--temperature <t>', 'sampling temperature; 0 is greedy', floatArg(0), 0)
    .option('--top-k <k>', 'sample among the k most likely tokens (0: off)', intArg(0))
    .option('--top-p <p>', 'nucleus sampling: the smallest set with this much probability', floatArg(Number.MIN_VALUE, 1))
    .option('--seed <n>', 'sampling seed', intArg(0))
    .option('--stop <s...>', 'stop before any of these strings')
    .option('--no-eos', 'do not stop at the EOS token')
    .option('--batch-size <n>', 'prompts per batch', intArg(1), 8)
    .option('--jsonl', 'one JSON object per prompt: prompt, text, ids, prompt_tokens, finish_reason');
  withConfigFile(cmd);
  cmd.addHelpText('after', HELP);
  cmd.action(async (_opts: unknown, self: Command) => {
    await runGenerate(self.opts<GenerateFlags>());
  });
  return cmd;
}
