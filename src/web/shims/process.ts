/** The few `process` fields the core reads, for the browser bundle (esbuild injects this). */
export const process = {
  pid: 0,
  env: {} as Record<string, string | undefined>,
  platform: 'browser',
  argv: [] as string[],
  cwd: (): string => '/',
  emitWarning: (message: string): void => console.warn(message),
};
export default process;
