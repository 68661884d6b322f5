/**
 * The one place an error ends the command line (issue 16): every error prints one line. Our
 * typed errors print their message (exit 2, a bad input); a file-system error names the path and
 * says what to do (exit 2); anything else is a bug or the machine's limit: one line with a hint
 * to rerun with --debug, which prints the stack (exit 1).
 */
import { SoftpromptError } from '../errors.ts';

export interface Fatal {
  readonly message: string;
  readonly exitCode: number;
}

/** What to do about a file-system error, by its code. */
const FS_ADVICE: Readonly<Record<string, (path: string, syscall: string) => string>> = {
  EEXIST: (p) => `${p} already exists and is not a folder; remove it or choose another path`,
  ENOTDIR: (p) => `${p}: part of this path is a file, not a folder; choose another path`,
  EISDIR: (p) => `${p} is a folder where a file was expected; give a file's path`,
  ENOENT: (p, s) => `${p}: no such file or folder${s === 'rename' || s === 'open' ? ' (was it removed while the command ran?)' : ''}`,
  EACCES: (p, s) => `${p}: permission denied (${s}); fix the permissions or choose a path you can ${s === 'open' || s === 'read' || s === 'scandir' ? 'read' : 'write'}`,
  EPERM: (p, s) => `${p}: operation not permitted (${s}); fix the permissions or choose another path`,
  EROFS: (p) => `${p}: the file system is read-only; choose a writable path`,
  ENOSPC: (p) => `${p}: no space left on the device; free some space and rerun (a training run continues from its last checkpoint with --resume)`,
  EDQUOT: (p) => `${p}: disk quota exceeded; free some space and rerun (a training run continues from its last checkpoint with --resume)`,
  EMFILE: (p) => `${p}: too many open files; raise the limit (ulimit -n) or close other programs`,
  ENAMETOOLONG: (p) => `${p}: the path is too long; choose a shorter one`,
  ELOOP: (p) => `${p}: too many symbolic links; check the path`,
};

function errno(e: unknown): (Error & { code: string; path?: string; dest?: string; syscall?: string; hostname?: string }) | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as NodeJS.ErrnoException).code;
  return typeof code === 'string' ? (e as Error & { code: string }) : undefined;
}

/** The line to print and the exit code for an error that ended a command. */
export function describeFatal(e: unknown, debug = false): Fatal {
  if (e instanceof SoftpromptError) return { message: `softprompt: ${e.message}`, exitCode: 2 };
  const ex = errno(e);
  if (ex) {
    const advice = FS_ADVICE[ex.code];
    if (advice && (ex.path !== undefined || ex.dest !== undefined)) {
      const path = ex.path ?? ex.dest!;
      return { message: `softprompt: ${advice(path, ex.syscall ?? 'access')}`, exitCode: 2 };
    }
    if ((ex.code === 'ENOTFOUND' || ex.code === 'EAI_AGAIN') && ex.hostname !== undefined) {
      return { message: `softprompt: cannot resolve the host ${JSON.stringify(ex.hostname)}; give an IP address (127.0.0.1, 0.0.0.0, ::) or a name this machine resolves`, exitCode: 2 };
    }
  }
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const first = text.split('\n')[0]!;
  return {
    message: debug
      ? `softprompt: unexpected error: ${e instanceof Error && e.stack ? e.stack : first}`
      : `softprompt: unexpected error: ${first} (rerun with --debug for the stack trace)`,
    exitCode: 1,
  };
}

/** `--debug` anywhere on the command line (also SOFTPROMPT_DEBUG=1): taken out of argv before commander sees it. */
export function takeDebugFlag(argv: string[]): { argv: string[]; debug: boolean } {
  const debug = argv.includes('--debug') || process.env['SOFTPROMPT_DEBUG'] === '1';
  return { argv: argv.filter((a) => a !== '--debug'), debug };
}
