/** node:events for the browser bundle: an EventEmitter base class (commander's Command extends it; unused at run time). */
type Listener = (...args: unknown[]) => void;
export class EventEmitter {
  readonly #listeners = new Map<string | symbol, Listener[]>();
  on(name: string | symbol, l: Listener): this {
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), l]);
    return this;
  }
  once(name: string | symbol, l: Listener): this {
    const w: Listener = (...a) => (this.off(name, w), l(...a));
    return this.on(name, w);
  }
  off(name: string | symbol, l: Listener): this {
    this.#listeners.set(name, (this.#listeners.get(name) ?? []).filter((x) => x !== l));
    return this;
  }
  removeListener(name: string | symbol, l: Listener): this {
    return this.off(name, l);
  }
  emit(name: string | symbol, ...args: unknown[]): boolean {
    const ls = this.#listeners.get(name) ?? [];
    for (const l of ls) l(...args);
    return ls.length > 0;
  }
  listenerCount(name: string | symbol): number {
    return this.#listeners.get(name)?.length ?? 0;
  }
}
/** Node's listener-count warning does not exist in the browser. */
export function setMaxListeners(): void {}
export default { EventEmitter, setMaxListeners };
