/**
 * Atomic file writes: write a temporary file in the same folder, fsync it, then rename.
 * A rename within one file system is atomic, so a crash or kill never leaves a half-written
 * checkpoint or adapter behind: readers see either the old file or the new one.
 */
import { host } from '../host.ts';

/** Write `chunks` in order to `path` atomically. Chunks are written one by one, never concatenated. */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = host().path.join(host().path.dirname(path), `.${host().path.basename(path)}.${process.pid}.${host().crypto.randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = host().fs.openSync(tmp, 'w');
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) done += host().fs.writeSync(fd, chunk, done, chunk.byteLength - done);
    }
    host().fs.fsyncSync(fd);
    host().fs.closeSync(fd);
    fd = undefined;
    host().fs.renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) host().fs.closeSync(fd);
    host().fs.rmSync(tmp, { force: true });
    throw err;
  }
}
