/**
 * Ctrl-C and SIGTERM during a long command (issue 16): the first signal asks the work to stop at
 * its next safe point (training: after the current update, with a checkpoint); our handlers are
 * then removed, so a second signal gets Node's default handling and ends the process at once,
 * even during a synchronous ONNX Runtime run.
 */
export interface Interrupt {
  readonly signal: AbortSignal;
  /** The signal received, or null. */
  received(): NodeJS.Signals | null;
  /** Removes the handlers (call when the work is done). */
  dispose(): void;
}

/** Exit status for a run ended by `sig`: 128 + the signal's number (130 SIGINT, 143 SIGTERM). */
export function exitCodeOf(sig: NodeJS.Signals): number {
  return sig === 'SIGTERM' ? 143 : 130;
}

export function onInterrupt(announce: (sig: NodeJS.Signals) => void): Interrupt {
  const ac = new AbortController();
  let got: NodeJS.Signals | null = null;
  const handler = (sig: NodeJS.Signals): void => {
    got = sig;
    dispose();
    announce(sig);
    ac.abort(sig);
  };
  const dispose = (): void => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return { signal: ac.signal, received: () => got, dispose };
}
