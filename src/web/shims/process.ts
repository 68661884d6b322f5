/** The few `process` fields the core reads, for the browser bundle (esbuild injects this). */
export const process = {
  pid: 0,
  env: {} as Record<string, string | undefined>,
  platform: 'browser',
  argv: [] as string[],
  cwd: (): string => '/',
  emitWarning: (message: string): void => console.warn(message),
  stdout: { isTTY: false, columns: 80, write: (s: string): boolean => (console.log(s), true) },
  stderr: { isTTY: false, columns: 80, write: (s: string): boolean => (console.warn(s), true) },
  exitCode: 0 as number | undefined,
  on: (): void => {},
};
export default process;
/** Node's setImmediate (the generator yields with it between decoding steps). */
export const setImmediate = (f: (...args: unknown[]) => void, ...args: unknown[]): void => {
  // A MessageChannel hop: a macrotask like Node's, without setTimeout's 4 ms clamp.
  const ch = new MessageChannel();
  ch.port1.onmessage = () => (ch.port1.close(), f(...args));
  ch.port2.postMessage(null);
};
