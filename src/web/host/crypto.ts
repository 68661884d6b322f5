/** The browser host's crypto (host.ts, node:crypto's names): sha256 (the base-model fingerprint) and random bytes (temp names). */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

class Bytes extends Uint8Array {
  override toString(encoding?: string): string {
    return encoding === 'hex' ? bytesToHex(this) : super.toString();
  }
}

export function randomBytes(n: number): Bytes {
  const b = new Bytes(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

export function createHash(algorithm: string): { update(data: string | Uint8Array): ReturnType<typeof createHash>; digest(encoding: 'hex'): string } {
  if (algorithm !== 'sha256') throw new Error(`createHash: only sha256 in the browser, not ${algorithm}`);
  const h = sha256.create();
  const self = {
    update(data: string | Uint8Array) {
      h.update(typeof data === 'string' ? new TextEncoder().encode(data) : data);
      return self;
    },
    digest(_encoding: 'hex'): string {
      return bytesToHex(h.digest());
    },
  };
  return self;
}
export default { randomBytes, createHash };
