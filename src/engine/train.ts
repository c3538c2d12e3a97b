// Keras-like training of a model on either backend: Adam/SGD, piecewise-constant learning rates,
// cross-entropy with optional distillation, and callbacks (weight averaging, best-validation
// checkpoint, early stopping) shared by both. The backend runs each step (src/engine/trainable.ts).
import { Rng } from './init.js';
import { TfModel } from './model.js';
import { TinypruneError } from '../graph/types.js';
import type { Distillation } from './gradients.js';
import {
  BestCheckpoint,
  EarlyStopping,
  WeightAverage,
  type Callback,
  type EpochLogs,
  type FitState,
} from './callbacks.js';
import { WasmTrainable, type StepBatch, type Trainable } from './trainable.js';

export { batchLoss, shardGradients, type Distillation, type ShardResult } from './gradients.js';
export type { EpochLogs } from './callbacks.js';
import { arraySource, isBatchSource, type BatchSource } from './batches.js';

export interface Dataset {
  /** n examples, each laid out like the model input (NHWC without the batch dim). */
  x: Float32Array;
  /** Class index per example. */
  y: ArrayLike<number>;
  n: number;
  /** Teacher logits, n × classes (distillation only). */
  teacherLogits?: Float32Array;
}

export interface LrSchedule {
  /**
   * Piecewise constant: values[i] applies before boundaries[i], the last value after. Epoch
   * boundaries may be fractional (a phase change part-way through an epoch).
   */
  boundaries: number[];
  values: number[];
  unit: 'step' | 'epoch';
}

export interface FitOptions {
  /** Arrays, or a source that streams batches (e.g. feature shards on disk). */
  train: Dataset | BatchSource;
  /** Number of passes over train (default 1), or `steps` optimiser steps in total. */
  epochs?: number;
  steps?: number;
  batchSize?: number;
  optimizer?: 'adam' | 'sgd';
  /** SGD momentum (default 0.9). */
  momentum?: number;
  lr?: number | LrSchedule;
  distill?: Distillation;
  validation?: Dataset | BatchSource;
  /** Stop after this many epochs without a better validation accuracy. */
  patience?: number;
  /**
   * Polyak averaging: keep an exponential moving average of the weights with this decay per
   * step (bias-corrected early on, as TensorFlow's ExponentialMovingAverage with num_updates);
   * validation and the returned model use the averaged weights.
   */
  ema?: number;
  seed?: number;
  /** Changes a batch in place before each step (augmentation); gets a seeded Rng. */
  augment?: (x: Float32Array, n: number, rng: Rng) => void;
  /** Data-parallel workers (default 1: train in this thread). */
  workers?: number;
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>;
  /** After every optimiser step (progress bars, benchmarks). */
  onStepEnd?: (step: number, batchLoss: number) => void;
  /** More callbacks, run after the built-in ones (ema, checkpoint, early stopping). */
  callbacks?: Callback[];
}

export interface History {
  epochs: EpochLogs[];
  steps: number;
  /** Epoch whose weights the model holds at the end (best validation accuracy, or the last). */
  bestEpoch: number;
  bestValAccuracy?: number;
  /** Which backend trained. */
  backend: 'torch' | 'wasm';
}

/**
 * The learning rate at optimiser step `step` of epoch `epoch`; with `stepsPerEpoch`, epochs count
 * fractionally (step / stepsPerEpoch), which whole-epoch boundaries do not notice.
 */
export function learningRate(
  lr: number | LrSchedule | undefined,
  step: number,
  epoch: number,
  stepsPerEpoch?: number,
) {
  if (lr === undefined) return 1e-3;
  if (typeof lr === 'number') return lr;
  const at = lr.unit === 'step' ? step : stepsPerEpoch ? step / stepsPerEpoch : epoch;
  let i = 0;
  while (i < lr.boundaries.length && at >= lr.boundaries[i]!) i++;
  return lr.values[Math.min(i, lr.values.length - 1)]!;
}

function checkDataset(
  model: Pick<Trainable, 'inputShape' | 'outputSize'>,
  d: Dataset,
  what: string,
): void {
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  if (d.x.length !== d.n * per)
    throw new TinypruneError(
      `${what}: expected ${d.n} × ${per} values (input ${model.inputShape.join('x')}), got ${d.x.length}`,
    );
  if (d.y.length !== d.n)
    throw new TinypruneError(`${what}: ${d.n} examples but ${d.y.length} labels`);
  for (let i = 0; i < d.n; i++) {
    const c = d.y[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= model.outputSize)
      throw new TinypruneError(
        `${what}: label ${i} is ${c}, expected a class index in 0..${model.outputSize - 1}`,
      );
  }
  if (d.teacherLogits && d.teacherLogits.length !== d.n * model.outputSize)
    throw new TinypruneError(
      `${what}: teacher logits must hold ${d.n} × ${model.outputSize} values, got ${d.teacherLogits.length}`,
    );
}

/** Loss and accuracy of the model in inference mode, over a source's batches in order. */
export async function evaluateSource(
  model: Pick<Trainable, 'predict' | 'outputSize'>,
  d: BatchSource,
  batchSize = 128,
): Promise<{ loss: number; accuracy: number }> {
  const c = model.outputSize;
  let loss = 0;
  let correct = 0;
  let n = 0;
  for await (const b of d.batches(batchSize)) {
    const probs = model.predict(b.x, b.n, { batchSize });
    for (let i = 0; i < b.n; i++) {
      const row = probs.subarray(i * c, (i + 1) * c);
      let best = 0;
      for (let k = 1; k < c; k++) if (row[k]! > row[best]!) best = k;
      if (best === b.y[i]) correct++;
      loss -= Math.log(Math.max(row[b.y[i]!]!, 1e-12));
    }
    n += b.n;
  }
  return { loss: loss / n, accuracy: correct / n };
}

/** Loss and accuracy of the model in inference mode. */
export function evaluate(
  model: Pick<Trainable, 'predict' | 'outputSize'>,
  d: Dataset,
  batchSize = 128,
): { loss: number; accuracy: number } {
  const probs = model.predict(d.x, d.n, { batchSize });
  const c = model.outputSize;
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < d.n; i++) {
    const row = probs.subarray(i * c, (i + 1) * c);
    let best = 0;
    for (let k = 1; k < c; k++) if (row[k]! > row[best]!) best = k;
    if (best === d.y[i]) correct++;
    loss -= Math.log(Math.max(row[d.y[i]!]!, 1e-12));
  }
  return { loss: loss / d.n, accuracy: correct / d.n };
}

/** Trains `model` in place; its weights end as the best-validation checkpoint when validating. */
export async function fit(model: TfModel | Trainable, opts: FitOptions): Promise<History> {
  const m: Trainable = model instanceof TfModel ? new WasmTrainable(model) : model;
  const classes = m.outputSize;
  for (const [d, what] of [
    [opts.train, 'training data'],
    [opts.validation, 'validation data'],
  ] as const)
    if (d && !isBatchSource(d)) checkDataset(m, d, what);
  const train = isBatchSource(opts.train) ? opts.train : arraySource(opts.train, classes);
  const validation =
    opts.validation && !isBatchSource(opts.validation)
      ? arraySource(opts.validation, classes)
      : opts.validation;
  if (opts.distill && !train.teacher)
    throw new TinypruneError('distillation needs teacher logits for the training data');
  const callbacks: Callback[] = [];
  if (opts.ema !== undefined) callbacks.push(new WeightAverage(opts.ema));
  callbacks.push(new BestCheckpoint());
  if (opts.patience !== undefined && opts.validation)
    callbacks.push(new EarlyStopping(opts.patience));
  callbacks.push(...(opts.callbacks ?? []));
  const batchSize = opts.batchSize ?? 32;
  const stepsPerEpoch = Math.ceil(train.n / batchSize);
  const totalSteps = opts.steps ?? stepsPerEpoch * (opts.epochs ?? 1);
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const rng = new Rng(opts.seed ?? 0);
  const history: History = { epochs: [], steps: 0, bestEpoch: -1, backend: m.backend };
  const state: FitState = { model: m, step: 0, totalSteps, epoch: 0, stop: false, bestEpoch: -1 };
  const emit = (f: (c: Callback) => void) => callbacks.forEach(f);
  await m.begin({ kind: opts.optimizer ?? 'adam', momentum: opts.momentum }, opts.workers);
  try {
    emit((c) => c.onTrainBegin?.(state));
    for (let epoch = 0; epoch < epochs && state.step < totalSteps && !state.stop; epoch++) {
      state.epoch = epoch;
      emit((c) => c.onEpochBegin?.(state));
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = 0;
      for await (const batch of train.batches(batchSize, rng)) {
        if (state.step >= totalSteps) break;
        if (opts.augment) opts.augment(batch.x, batch.n, rng);
        lr = learningRate(opts.lr, state.step, epoch, stepsPerEpoch);
        const b: StepBatch = { x: batch.x, y: batch.y, n: batch.n, teacher: batch.t };
        const r = await m.step(b, lr, opts.distill);
        lossSum += r.lossSum;
        correct += r.correct;
        seen += r.n;
        state.step++;
        emit((c) => c.onStepEnd?.(state));
        opts.onStepEnd?.(state.step, r.lossSum / r.n);
      }
      const logs: EpochLogs = {
        epoch,
        loss: lossSum / seen,
        accuracy: correct / seen,
        lr,
        seconds: (performance.now() - t0) / 1000,
      };
      emit((c) => c.onEpochStepsEnd?.(state));
      if (validation) {
        const v = await evaluateSource(m, validation);
        logs.valLoss = v.loss;
        logs.valAccuracy = v.accuracy;
      }
      emit((c) => c.onEpochEnd?.(state, logs));
      history.epochs.push(logs);
      await opts.onEpochEnd?.(logs);
    }
    emit((c) => c.onTrainEnd?.(state));
  } finally {
    await m.end();
  }
  history.steps = state.step;
  history.bestEpoch = state.bestEpoch;
  history.bestValAccuracy = state.bestValAccuracy;
  return history;
}
