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
  off: (): void => {},
  // The trainer's run lock checks whether a holder is alive; a page has no other processes.
  kill: (): never => {
    throw Object.assign(new Error('no such process'), { code: 'ESRCH' });
  },
  // The memory check's figure; the worker's own check (web/memory.ts) bounds the 4 GiB WASM heap.
  memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: (): number => 0 }),
};
export default process;
/** Node's setImmediate (the generator yields with it between decoding steps). */
export const setImmediate = (f: (...args: unknown[]) => void, ...args: unknown[]): void => {
  // A MessageChannel hop: a macrotask like Node's, without setTimeout's 4 ms clamp.
  const ch = new MessageChannel();
  ch.port1.onmessage = () => (ch.port1.close(), f(...args));
  ch.port2.postMessage(null);
};
