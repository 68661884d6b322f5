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
export const setImmediate = (f: (...args: unknown[]) => void, ...args: unknown[]): ReturnType<typeof setTimeout> => setTimeout(f, 0, ...args);
