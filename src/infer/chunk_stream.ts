/** The async iterable behind generateStream, shared by the in-process and the worker engine. */

/**
 * Starts `produce` at once (the request joins a batch before anyone iterates); its chunks are
 * buffered until read, its rejection (or a synchronous throw) is thrown to the reader after the
 * chunks before it. A reader that leaves before the end calls `leave` (to free the batch slot).
 */
export function chunkStream<T>(produce: (push: (chunk: T) => void) => Promise<unknown>, leave: () => void): AsyncIterable<T> {
  const queue: T[] = [];
  let wake: (() => void) | null = null;
  let failure: { error: unknown } | null = null;
  let done = false;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const finish = (error?: { error: unknown }): void => {
    if (error) failure = error;
    done = true;
    notify();
  };
  let running: Promise<unknown>;
  try {
    running = produce((c) => {
      queue.push(c);
      notify();
    });
  } catch (e) {
    running = Promise.reject(e);
  }
  running.then(() => finish(), (e: unknown) => finish({ error: e }));
  return {
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          if (queue.length > 0) {
            yield queue.shift()!;
            continue;
          }
          if (done) {
            if (failure) throw failure.error;
            return;
          }
          await new Promise<void>((r) => (wake = r));
        }
      } finally {
        if (!done) leave(); // the consumer left early
      }
    },
  };
}
