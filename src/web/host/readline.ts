/** The browser host's readline (host.ts, node:readline's names): lines of a memory-file stream (what the JSONL reader needs). */
export function createInterface(opts: { input: AsyncIterable<string | Uint8Array> }): AsyncIterable<string> & { close(): void } {
  return {
    async *[Symbol.asyncIterator]() {
      const dec = new TextDecoder();
      let rest = '';
      for await (const chunk of opts.input) {
        rest += typeof chunk === 'string' ? chunk : dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = rest.indexOf('\n')) >= 0) {
          yield rest.slice(0, i).replace(/\r$/, '');
          rest = rest.slice(i + 1);
        }
      }
      if (rest.length > 0) yield rest.replace(/\r$/, '');
    },
    close() {},
  };
}
export default { createInterface };
