/**
 * sha256 of a data file, read as a stream in chunks (memory stays flat for any size). Checkpoints
 * record it so a training file edited before --resume is noticed (issue 16).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
