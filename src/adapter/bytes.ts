/** float32 ⇄ little-endian bytes, independent of the host's byte order (files are always LE). */

// The host's byte order, found without node:os so this stays browser-safe.
const HOST_LE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The little-endian bytes of `data` (a view, not a copy, on little-endian hosts). */
export function f32ToLeBytes(data: Float32Array): Uint8Array {
  if (HOST_LE) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((x, i) => view.setFloat32(i * 4, x, true));
  return out;
}

/** float32 values from little-endian bytes (length must be a multiple of 4). Always a copy. */
export function leBytesToF32(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length / 4);
  if (HOST_LE) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}
