// Keras-like training of a TfModel: Adam/SGD, piecewise-constant learning rates, cross-entropy
// with optional distillation, best-validation checkpoint, early stopping, and data-parallel
// workers (each its own tfjs-wasm instance) with gradient averaging.
import { tf } from './backend.js';
import { Rng } from './init.js';
import type { TfModel } from './model.js';
import { TinypruneError } from '../graph/types.js';
import { GradientWorkers } from './parallel.js';
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
  /** Piecewise constant: values[i] applies before boundaries[i], the last value after. */
  boundaries: number[];
  values: number[];
  unit: 'step' | 'epoch';
}

export interface Distillation {
  /** Weight of the label cross-entropy; (1 − alpha) weighs the T²-scaled KL term. */
  alpha: number;
  temperature: number;
}

export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  lr: number;
  seconds: number;
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
}

export interface History {
  epochs: EpochLogs[];
  steps: number;
  /** Epoch whose weights the model holds at the end (best validation accuracy, or the last). */
  bestEpoch: number;
  bestValAccuracy?: number;
}

/** One shard's contribution to a step. */
export interface ShardResult {
  grads: Float32Array[];
  lossSum: number;
  correct: number;
  n: number;
}

/** Loss on a batch: α·CE(labels) + (1−α)·T²·KL(teacher_T ‖ student_T), mean over examples. */
export function batchLoss(
  logits: tf.Tensor,
  labels: tf.Tensor,
  classes: number,
  teacher?: tf.Tensor,
  distill?: Distillation,
): tf.Scalar {
  return tf.tidy(() => {
    const l2 = logits.reshape([-1, classes]);
    const onehot = tf.oneHot(labels, classes).toFloat();
    const ce = tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(l2)), -1)));
    if (!teacher || !distill) return ce as tf.Scalar;
    const t = distill.temperature;
    const pt = tf.softmax(tf.div(teacher, t));
    const kl = tf.mean(
      tf.sum(
        tf.mul(pt, tf.sub(tf.logSoftmax(tf.div(teacher, t)), tf.logSoftmax(tf.div(l2, t)))),
        -1,
      ),
    );
    return tf.add(tf.mul(ce, distill.alpha), tf.mul(kl, (1 - distill.alpha) * t * t)) as tf.Scalar;
  });
}

/** Gradients of the mean loss over one shard (in this thread). */
export function shardGradients(
  model: TfModel,
  x: Float32Array,
  y: Int32Array,
  n: number,
  teacher?: Float32Array,
  distill?: Distillation,
): ShardResult {
  const classes = model.outputSize;
  let correct = 0;
  const { value, grads } = tf.tidy(() => {
    const xt = tf.tensor(x, [n, ...model.inputShape]);
    const yt = tf.tensor1d(y, 'int32');
    const tt = teacher ? tf.tensor2d(teacher, [n, classes]) : undefined;
    return tf.variableGrads(() => {
      const { logits } = model.forward(xt, true);
      const pred = tf.argMax(logits.reshape([-1, classes]), -1);
      correct = tf.sum(tf.equal(pred, yt).toInt()).dataSync()[0]!;
      return batchLoss(logits, yt, classes, tt, distill);
    }, model.trainableVariables);
  });
  const out = model.trainableVariables.map((v) => {
    const gr = grads[v.name];
    // dataSync already returns a copy owned by the caller.
    return gr ? (gr.dataSync() as Float32Array) : new Float32Array(v.size);
  });
  const lossSum = value.dataSync()[0]! * n;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { grads: out, lossSum, correct, n };
}

/** Adam (Keras defaults, ε = 1e-7) or SGD with momentum, on plain Float32Arrays. */
class Optimizer {
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;
  constructor(
    private readonly kind: 'adam' | 'sgd',
    sizes: number[],
    private readonly momentum = 0.9,
  ) {
    this.m = sizes.map((s) => new Float32Array(s));
    this.v = kind === 'adam' ? sizes.map((s) => new Float32Array(s)) : [];
  }
  apply(weights: Float32Array[], grads: Float32Array[], lr: number): void {
    this.t++;
    if (this.kind === 'sgd') {
      weights.forEach((w, k) => {
        const g = grads[k]!;
        const vel = this.m[k]!;
        for (let i = 0; i < w.length; i++) {
          vel[i] = this.momentum * vel[i]! - lr * g[i]!;
          w[i]! += vel[i]!;
        }
      });
      return;
    }
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-7;
    const lrT = (lr * Math.sqrt(1 - b2 ** this.t)) / (1 - b1 ** this.t);
    weights.forEach((w, k) => {
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        w[i]! -= (lrT * m[i]!) / (Math.sqrt(v[i]!) + eps);
      }
    });
  }
}

export function learningRate(lr: number | LrSchedule | undefined, step: number, epoch: number) {
  if (lr === undefined) return 1e-3;
  if (typeof lr === 'number') return lr;
  const at = lr.unit === 'step' ? step : epoch;
  let i = 0;
  while (i < lr.boundaries.length && at >= lr.boundaries[i]!) i++;
  return lr.values[Math.min(i, lr.values.length - 1)]!;
}

function checkDataset(model: TfModel, d: Dataset, what: string): void {
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
  model: TfModel,
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
  model: TfModel,
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
export async function fit(model: TfModel, opts: FitOptions): Promise<History> {
  const classes = model.outputSize;
  for (const [d, what] of [
    [opts.train, 'training data'],
    [opts.validation, 'validation data'],
  ] as const)
    if (d && !isBatchSource(d)) checkDataset(model, d, what);
  const train = isBatchSource(opts.train) ? opts.train : arraySource(opts.train, classes);
  const validation =
    opts.validation && !isBatchSource(opts.validation)
      ? arraySource(opts.validation, classes)
      : opts.validation;
  if (opts.distill && !train.teacher)
    throw new TinypruneError('distillation needs teacher logits for the training data');
  const batchSize = opts.batchSize ?? 32;
  const stepsPerEpoch = Math.ceil(train.n / batchSize);
  const totalSteps = opts.steps ?? stepsPerEpoch * (opts.epochs ?? 1);
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const rng = new Rng(opts.seed ?? 0);
  const vars = model.trainableVariables;
  const weights = vars.map((v) => (v.dataSync() as Float32Array).slice());
  const optimizer = new Optimizer(
    opts.optimizer ?? 'adam',
    weights.map((w) => w.length),
    opts.momentum,
  );
  const nWorkers = Math.max(1, Math.floor(opts.workers ?? 1));
  const pool = nWorkers > 1 ? await GradientWorkers.start(model, nWorkers - 1) : undefined;
  const history: History = { epochs: [], steps: 0, bestEpoch: -1 };
  if (opts.ema !== undefined && !(opts.ema > 0 && opts.ema < 1))
    throw new TinypruneError(`ema: expected a decay between 0 and 1, found ${opts.ema}`);
  const averaged = opts.ema !== undefined ? weights.map((w) => w.slice()) : undefined;
  const load = (ws: Float32Array[]) =>
    tf.tidy(() => vars.forEach((v, k) => v.assign(tf.tensor(ws[k]!, v.shape))));
  let best: Map<string, Float32Array> | undefined;
  let sinceBest = 0;
  try {
    for (let epoch = 0; epoch < epochs && history.steps < totalSteps; epoch++) {
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = 0;
      for await (const batch of train.batches(batchSize, rng)) {
        if (history.steps >= totalSteps) break;
        if (opts.augment) opts.augment(batch.x, batch.n, rng);
        lr = learningRate(opts.lr, history.steps, epoch);
        const results = pool
          ? await pool.step(model, batch.x, batch.y, batch.n, batch.t, opts.distill)
          : [shardGradients(model, batch.x, batch.y, batch.n, batch.t, opts.distill)];
        // Average shard gradients weighted by shard size (= the full batch's mean gradient).
        const n = results.reduce((a, r) => a + r.n, 0);
        const grads =
          results.length === 1
            ? results[0]!.grads
            : weights.map((w, k) => {
                const g = new Float32Array(w.length);
                for (const r of results) {
                  const f = r.n / n;
                  const rg = r.grads[k]!;
                  for (let i = 0; i < g.length; i++) g[i]! += f * rg[i]!;
                }
                return g;
              });
        optimizer.apply(weights, grads, lr);
        load(weights);
        if (averaged) {
          const t = history.steps + 1;
          const d = Math.min(opts.ema!, (1 + t) / (10 + t));
          averaged.forEach((a, k) => {
            const w = weights[k]!;
            for (let i = 0; i < a.length; i++) a[i] = d * a[i]! + (1 - d) * w[i]!;
          });
        }
        for (const r of results) {
          lossSum += r.lossSum;
          correct += r.correct;
        }
        seen += n;
        history.steps++;
        opts.onStepEnd?.(history.steps, results.reduce((a, r) => a + r.lossSum, 0) / n);
      }
      const logs: EpochLogs = {
        epoch,
        loss: lossSum / seen,
        accuracy: correct / seen,
        lr,
        seconds: (performance.now() - t0) / 1000,
      };
      if (averaged) load(averaged);
      if (validation) {
        const v = await evaluateSource(model, validation);
        logs.valLoss = v.loss;
        logs.valAccuracy = v.accuracy;
        if (history.bestValAccuracy === undefined || v.accuracy > history.bestValAccuracy) {
          history.bestValAccuracy = v.accuracy;
          history.bestEpoch = epoch;
          best = model.getState();
          sinceBest = 0;
        } else sinceBest++;
      } else history.bestEpoch = epoch;
      // Training goes on from the raw weights; after the last epoch the averaged ones stay.
      if (averaged && history.steps < totalSteps) load(weights);
      history.epochs.push(logs);
      await opts.onEpochEnd?.(logs);
      if (opts.patience !== undefined && validation && sinceBest >= opts.patience) break;
    }
  } finally {
    await pool?.close();
  }
  if (best) model.setState(best);
  return history;
}
