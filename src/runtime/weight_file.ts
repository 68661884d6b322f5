/**
 * One external-data file per checkpoint (Node only). Every model compiled from one weight store
 * points its frozen weights at the same file by byte range, so a weight is read and written once
 * per process, no protobuf ever holds it (no 2 GiB ceiling), and ONNX Runtime maps the file:
 * sessions that keep a weight unpacked share its pages.
 */
import { host } from '../host.ts';
import type { ExternalLocation } from '../graph/onnx.ts';
import type { WeightRef } from '../graph/types.ts';

const DATA_FILE = 'weights.bin';
/** Page-aligned offsets, so each weight can be mapped on its own. */
const ALIGN = 4096;

export class WeightFile {
  readonly dir: string;
  private readonly fd: number;
  private readonly placed = new Map<string, ExternalLocation>();
  private end = 0;

  constructor(parent = process.env.SOFTPROMPT_WEIGHTS_DIR ?? host().os.tmpdir()) {
    this.dir = host().fs.mkdtempSync(host().path.join(parent, 'softprompt-weights-'));
    this.fd = host().fs.openSync(host().path.join(this.dir, DATA_FILE), 'w+');
    live.add(this);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.end;
  }

  /** The weight's byte range in the file, writing it on first use. */
  place(ref: WeightRef): ExternalLocation {
    const hit = this.placed.get(ref.key);
    if (hit) return hit;
    const t = ref.load();
    const d = t.data;
    // Little-endian hosts only (x86, arm64): the typed array's bytes are the raw data.
    const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    const offset = Math.ceil(this.end / ALIGN) * ALIGN;
    let done = 0;
    while (done < bytes.length) done += host().fs.writeSync(this.fd, bytes, done, bytes.length - done, offset + done);
    this.end = offset + bytes.length;
    const at = { location: DATA_FILE, offset, length: bytes.length };
    this.placed.set(ref.key, at);
    return at;
  }

  /** Delete the file. Sessions already made keep their mapped pages. */
  remove(): void {
    if (!live.delete(this)) return;
    host().fs.closeSync(this.fd);
    host().fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

const live = new Set<WeightFile>();
process.on('exit', () => {
  for (const f of [...live]) f.remove();
});

const byOwner = new WeakMap<object, WeightFile>();

/** The one file for a checkpoint (a weight store), made on first use. */
export function weightFileFor(owner: object): WeightFile {
  let f = byOwner.get(owner);
  if (!f) {
    f = new WeightFile();
    byOwner.set(owner, f);
  }
  return f;
}
