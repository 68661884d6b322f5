/** `softprompt golden`: check the engine against ../shared/golden and print a table. */
import { SoftpromptError } from '../errors.ts';
import { checkGeneration, checkMethod, defaultGoldenRoot, GOLDEN_CASES, loadGoldenCase } from '../check/golden.ts';
import type { Comparison } from '../check/golden.ts';

export interface GoldenCommandOptions {
  golden?: string;
  json?: boolean;
  /** Comma-separated case names; default all of GOLDEN_CASES. */
  case?: string;
}

const METHODS = ['forward', 'prompt_tuning', 'p_tuning', 'prefix_tuning'] as const;

export async function goldenCommand(opts: GoldenCommandOptions, print: (line: string) => void = console.log): Promise<boolean> {
  const root = opts.golden ?? defaultGoldenRoot();
  if (!root) {
    throw new SoftpromptError('no golden folder found: pass --golden DIR or set SOFTPROMPT_GOLDEN (it is ../shared/golden beside a checkout)');
  }
  const names = opts.case === undefined ? [...GOLDEN_CASES] : opts.case.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(GOLDEN_CASES as readonly string[]).includes(n)) throw new SoftpromptError(`--case: unknown golden case "${n}"; known: ${GOLDEN_CASES.join(', ')}`);
  }
  const all: Comparison[] = [];
  const started = Date.now();
  for (const name of names) {
    const c = loadGoldenCase(root, name);
    for (const m of METHODS) all.push(...(await checkMethod(c, m)));
    all.push(...(await checkGeneration(c)));
  }
  const failed = all.filter((r) => !r.ok);
  if (opts.json) {
    const cases = names.map((name) => ({ name, methods: [...METHODS, 'generation'], ok: all.every((r) => r.case !== name || r.ok) }));
    print(JSON.stringify({ golden: root, checked: all.length, failed: failed.length, cases, results: all }));
  } else {
    print(`golden parity against ${root}`);
    print(`${'case'.padEnd(16)}${'method'.padEnd(15)}${'quantity'.padEnd(38)}${'error'.padStart(10)}${'tolerance'.padStart(11)}`);
    for (const r of all) {
      const err = r.quantity.startsWith('gen.') ? `${r.error} ids` : r.error.toExponential(2);
      const tol = r.quantity.startsWith('gen.') ? 'exact' : r.tolerance.toExponential(0);
      print(`${r.case.padEnd(16)}${r.method.padEnd(15)}${r.quantity.padEnd(38)}${err.padStart(10)}${tol.padStart(11)}  ${r.ok ? 'ok' : 'FAIL'}`);
    }
    print(`${all.length - failed.length}/${all.length} quantities within tolerance (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
  return failed.length === 0;
}
