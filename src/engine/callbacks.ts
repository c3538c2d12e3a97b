// fit()'s callbacks, as Keras does it: weight averaging, the best-validation checkpoint and early
// stopping are plug-ins around the loop, the same for every backend.
import { TinypruneError } from '../graph/types.js';
import type { Trainable } from './trainable.js';

export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  lr: number;
  seconds: number;
}

/** What callbacks see and may change. */
export interface FitState {
  model: Trainable;
  /** Optimiser steps taken so far, and planned. */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Set to end training after this epoch. */
  stop: boolean;
  /** Epoch whose weights the model holds at the end (see BestCheckpoint). */
  bestEpoch: number;
  bestValAccuracy?: number;
}

export interface Callback {
  onTrainBegin?(s: FitState): void;
  onEpochBegin?(s: FitState): void;
  onStepEnd?(s: FitState): void;
  /** After the epoch's last step, before validation (what validation should score). */
  onEpochStepsEnd?(s: FitState): void;
  /** After validation; logs carry valAccuracy when validating. */
  onEpochEnd?(s: FitState, logs: EpochLogs): void;
  onTrainEnd?(s: FitState): void;
}

/**
 * Polyak averaging: an exponential moving average of the trainable weights with decay
 * min(decay, (1+t)/(10+t)) at step t (TensorFlow's ExponentialMovingAverage with num_updates).
 * Validation and the final model use the average; training continues from the raw weights.
 */
export class WeightAverage implements Callback {
  private avg: Float32Array[] = [];
  private raw?: Float32Array[];
  constructor(readonly decay: number) {
    if (!(decay > 0 && decay < 1))
      throw new TinypruneError(`ema: expected a decay between 0 and 1, found ${decay}`);
  }
  onTrainBegin(s: FitState): void {
    this.avg = s.model.getWeights();
  }
  onEpochBegin(s: FitState): void {
    if (this.raw) s.model.setWeights(this.raw);
    this.raw = undefined;
  }
  onStepEnd(s: FitState): void {
    const d = Math.min(this.decay, (1 + s.step) / (10 + s.step));
    const ws = s.model.getWeights();
    this.avg.forEach((a, k) => {
      const w = ws[k]!;
      for (let i = 0; i < a.length; i++) a[i] = d * a[i]! + (1 - d) * w[i]!;
    });
  }
  onEpochStepsEnd(s: FitState): void {
    this.raw = s.model.getWeights();
    s.model.setWeights(this.avg);
  }
}

/** Keeps the weights of the epoch with the best validation accuracy and restores them at the end. */
export class BestCheckpoint implements Callback {
  private best?: Map<string, Float32Array>;
  onEpochEnd(s: FitState, logs: EpochLogs): void {
    if (logs.valAccuracy === undefined) {
      s.bestEpoch = logs.epoch;
      return;
    }
    if (s.bestValAccuracy === undefined || logs.valAccuracy > s.bestValAccuracy) {
      s.bestValAccuracy = logs.valAccuracy;
      s.bestEpoch = logs.epoch;
      this.best = s.model.getState();
    }
  }
  onTrainEnd(s: FitState): void {
    if (this.best) s.model.setState(this.best);
  }
}

/** Stops after `patience` epochs without a better validation accuracy. */
export class EarlyStopping implements Callback {
  private bestAcc = -Infinity;
  private since = 0;
  constructor(readonly patience: number) {}
  onEpochEnd(s: FitState, logs: EpochLogs): void {
    if (logs.valAccuracy === undefined) return;
    if (logs.valAccuracy > this.bestAcc) {
      this.bestAcc = logs.valAccuracy;
      this.since = 0;
    } else if (++this.since >= this.patience) s.stop = true;
  }
}
