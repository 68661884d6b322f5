/**
 * The one naming rule for adapters and tasks (serve's registry, the inference engine's tasks,
 * library tasks): a letter or digit, then up to 63 letters, digits, '.', '_' or '-'; no '..'.
 * Names become folder names and URL parts, so no '/', '\\' or leading '.'.
 */
export const ADAPTER_NAME_MAX = 64;

export const ADAPTER_NAME = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._-]{0,${ADAPTER_NAME_MAX - 1}}$`);

/** Whether `name` may name an adapter or task (also refuses "..", which the pattern alone would allow inside). */
export function isValidAdapterName(name: string): boolean {
  return ADAPTER_NAME.test(name) && !name.includes('..');
}
