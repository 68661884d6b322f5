/**
 * sha256 of a data file, read as a stream in chunks (memory stays flat for any size). Checkpoints
 * record it so a training file edited before --resume is noticed (issue 16).
 */
import { host } from '../host.ts';

export async function sha256File(path: string): Promise<string> {
  const h = host().crypto.createHash('sha256');
  for await (const chunk of host().fs.createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}
