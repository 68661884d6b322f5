/**
 * What `train` shows while it runs: on a TTY a cli-progress bar with loss, learning rate and
 * ETA; otherwise (CI, pipes) one line per evaluation, checkpoint-free, so logs stay short.
 * Everything goes to stderr; stdout is left for results.
 */
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../train/trainer.ts';

export interface ProgressSink {
  onEvent(e: TrainEvent): void;
  stop(): void;
}

const fmt = (x: number): string => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(4) : x.toExponential(2));

export function trainProgress(stream: NodeJS.WriteStream = process.stderr, tty = stream.isTTY === true): ProgressSink {
  let bar: cliProgress.SingleBar | null = null;
  let smoothed: number | null = null;
  const say = (line: string): void => {
    if (bar) bar.stop();
    stream.write(line + '\n');
    if (bar) bar = null;
  };
  let total = 0;
  let current = 0;
  const ensureBar = (): cliProgress.SingleBar => {
    if (!bar) {
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: 'epoch {epoch} |{bar}| {value}/{total} updates | loss {loss} | lr {lr} | ETA {eta_formatted}',
          etaBuffer: 50,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, current, { epoch: 1, loss: '-', lr: '-' });
    }
    return bar;
  };
  return {
    onEvent(e) {
      switch (e.kind) {
        case 'start':
          total = e.totalSteps;
          current = e.startStep;
          say(
            `${e.resumed ? 'resuming at update ' + e.startStep : 'training'}: ${e.examples} examples, ${e.batchesPerEpoch} batches per epoch, ${e.totalSteps} updates` +
              (e.truncated ? ` (${e.truncated} inputs cut to fit the context)` : ''),
          );
          break;
        case 'step':
          current = e.step;
          smoothed = smoothed === null ? e.loss : 0.9 * smoothed + 0.1 * e.loss;
          if (tty) ensureBar().update(e.step, { epoch: e.epoch + 1, loss: fmt(smoothed), lr: fmt(e.lr) });
          break;
        case 'eval': {
          const m = Object.entries(e.metrics)
            .filter(([k]) => k !== 'n')
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(', ');
          say(`update ${e.step} (epoch ${e.epoch}): ${m}${e.best ? '  ← best' : ''}${smoothed === null ? '' : `, train loss ${fmt(smoothed)}`}`);
          break;
        }
        case 'stop':
          say(`stopped after ${e.step} updates: ${e.reason}`);
          break;
        case 'checkpoint':
          break;
      }
    },
    stop() {
      if (bar) bar.stop();
      bar = null;
    },
  };
}
