/**
 * One process per run folder (issue 16): a second `train` (fresh or --resume) on a folder that a
 * running trainer holds is refused, naming the holder. The lock is a file created with `wx`
 * (atomic: two processes starting at the same moment cannot both create it) holding host, pid and
 * start time; a lock left by a crashed process on this host (its pid no longer runs) is stale and
 * taken over.
 */
import { host } from '../host.ts';
import { SoftpromptError } from '../errors.ts';

export const LOCK_FILE = 'train.lock';

export class RunLockedError extends SoftpromptError {}

interface Holder {
  host: string;
  pid: number;
  started: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readHolder(path: string): Holder | null {
  try {
    const h = JSON.parse(host().fs.readFileSync(path, 'utf8')) as Partial<Holder>;
    return typeof h.host === 'string' && typeof h.pid === 'number' && typeof h.started === 'string' ? (h as Holder) : null;
  } catch {
    return null;
  }
}

/** Takes the lock of `outDir` (which must exist); returns the function that releases it. */
export function acquireRunLock(outDir: string): () => void {
  const path = host().path.join(outDir, LOCK_FILE);
  const me: Holder = { host: host().os.hostname(), pid: process.pid, started: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = host().fs.openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const h = readHolder(path);
      // Stale: written by a process of this host that no longer runs (or half-written by a crash).
      if (h === null || (h.host === me.host && h.pid !== process.pid && !alive(h.pid))) {
        host().fs.rmSync(path, { force: true });
        continue;
      }
      throw new RunLockedError(
        `${outDir} is in use by another training process (pid ${h.pid} on ${h.host}, since ${h.started}); ` +
          `wait for it to finish or stop it, or choose another --out (if that process is gone, remove ${path})`,
      );
    }
    host().fs.writeSync(fd, JSON.stringify(me));
    host().fs.closeSync(fd);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      process.off('exit', release);
      if (readHolder(path)?.pid === process.pid) host().fs.rmSync(path, { force: true });
    };
    process.on('exit', release);
    return release;
  }
  throw new RunLockedError(`${path}: could not take the run's lock; remove the file if no training process uses ${outDir}`);
}
