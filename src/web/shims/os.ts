/** node:os for the browser bundle: what the core asks of it. */
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
export default { endianness, availableParallelism, tmpdir, EOL };
export function homedir(): string {
  return '/';
}
