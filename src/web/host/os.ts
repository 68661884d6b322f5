/** The browser host's os (host.ts, node:os's names): what the core asks of it. */
export function endianness(): 'LE' | 'BE' {
  return new Uint8Array(Uint16Array.of(1).buffer)[0] === 1 ? 'LE' : 'BE';
}
export function availableParallelism(): number {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}
export function tmpdir(): string {
  return '/tmp';
}
export const EOL = '\n';
/** The 32-bit WASM heap: what a worker may hold at most (web/memory.ts refuses larger models first). */
export function totalmem(): number {
  return 4 * 2 ** 30;
}
export function freemem(): number {
  return 4 * 2 ** 30;
}
export function hostname(): string {
  return 'browser';
}
export default { endianness, availableParallelism, tmpdir, EOL, totalmem, freemem, hostname };
export function homedir(): string {
  return '/';
}
