/** What a training run reports as it goes (types only: the browser page imports them without the trainer). */
export type TrainEvent =
  | { kind: 'start'; totalSteps: number; startStep: number; examples: number; batchesPerEpoch: number; resumed: boolean; truncated: number }
  | { kind: 'step'; step: number; totalSteps: number; epoch: number; loss: number; lr: number; gradNorm: number }
  | { kind: 'eval'; step: number; epoch: number; metrics: Record<string, number>; best: boolean }
  | { kind: 'checkpoint'; step: number; dir: string }
  | { kind: 'stop'; step: number; reason: string };
