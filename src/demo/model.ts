// The demo's model: a small MobileNet-like float Graph built from scratch (glorot weights from a
// seed) and trained with the float engine, so `tinyprune run` needs no downloaded model.

import type { Dataset } from '../data/dataset.js';
import { useBackend } from '../engine/backend.js';
import { glorotUniform, Rng } from '../engine/init.js';
import { TfModel } from '../engine/model.js';
import { type EpochLogs, fit, type History } from '../engine/train.js';
import { addTensor, createGraph, getTensor } from '../graph/graph.js';
import { inferOpShape } from '../graph/shapes.js';
import type { Graph, Op, OpAttrs } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { loadAll } from '../prune/data.js';

/** One depthwise-separable block: dw3x3 (stride) + BN + ReLU, then pw1x1 (filters) + BN + ReLU. */
export interface DemoBlock {
  filters: number;
  stride: number;
}

export interface DemoModelOptions {
  /** Filters of the first (3x3, stride 2) convolution. */
  stem?: number;
  blocks?: DemoBlock[];
}

export const DEMO_BLOCKS: DemoBlock[] = [
  { filters: 16, stride: 1 },
  { filters: 32, stride: 2 },
  { filters: 32, stride: 1 },
  { filters: 64, stride: 2 },
];

/**
 * conv3x3 s2 (8) + BN + ReLU → depthwise-separable blocks (DEMO_BLOCKS) → global average pool
 * → dense(classes) → softmax. Cut points: conv1, block1..blockN. Same seed, same weights.
 */
export function buildDemoModel(
  inputShape: number[],
  classes: readonly string[] | number,
  seed: number,
  opts: DemoModelOptions = {},
): Graph {
  const classCount = typeof classes === 'number' ? classes : classes.length;
  if (inputShape.length !== 3 || !inputShape.every((d) => Number.isInteger(d) && d > 0))
    throw new TinypruneError(
      `demo model: expected an input shape [height, width, channels], found [${inputShape.join(', ')}]`,
    );
  if (!Number.isInteger(classCount) || classCount < 2)
    throw new TinypruneError(`demo model: expected at least 2 classes, found ${classCount}`);
  const g = createGraph('tinyprune-demo', {
    format: 'tinyprune demo (trained from scratch)',
    ...(typeof classes === 'number' ? {} : { classes: classes.join(',') }),
  });
  const rng = new Rng(seed);
  const input = addTensor(g, { name: 'input', shape: [1, ...inputShape], dtype: 'float32' }).name;
  g.inputs = [input];
  let x = input;

  const constant = (name: string, shape: number[], data: Float32Array) =>
    addTensor(g, { name, shape, dtype: 'float32', data }).name;
  const emit = (kind: Op['kind'], name: string, inputs: string[], attrs: OpAttrs = {}) => {
    const out = addTensor(g, { name: `${name}/out`, shape: [], dtype: 'float32' }).name;
    const op: Op = { kind, name, inputs: [x, ...inputs], outputs: [out], attrs };
    g.ops.push(op);
    getTensor(g, out).shape = inferOpShape(g, op, g.ops.length - 1);
    x = out;
  };
  const channels = () => getTensor(g, x).shape.at(-1)!;
  const bnRelu = (name: string) => {
    const c = channels();
    emit(
      'batchNorm',
      `${name}/bn`,
      [
        constant(`${name}/bn/gamma`, [c], new Float32Array(c).fill(1)),
        constant(`${name}/bn/beta`, [c], new Float32Array(c)),
        constant(`${name}/bn/mean`, [c], new Float32Array(c)),
        constant(`${name}/bn/variance`, [c], new Float32Array(c).fill(1)),
      ],
      { epsilon: 1e-3 },
    );
    emit('relu', `${name}/relu`, []);
  };
  const conv = (name: string, k: number, filters: number, stride: number) => {
    const c = channels();
    emit(
      'conv2d',
      name,
      [
        constant(
          `${name}/kernel`,
          [filters, k, k, c],
          glorotUniform(rng, filters * k * k * c, k * k * c, k * k * filters),
        ),
        // Keras convs followed by BatchNorm have no bias; a zero bias keeps the TFLite form.
        constant(`${name}/bias`, [filters], new Float32Array(filters)),
      ],
      { strides: [stride, stride], padding: 'same', activation: 'none' },
    );
    bnRelu(name);
  };
  const depthwise = (name: string, stride: number) => {
    const c = channels();
    emit(
      'depthwiseConv2d',
      name,
      [
        constant(`${name}/depthwise`, [1, 3, 3, c], glorotUniform(rng, 9 * c, 9, 9)),
        constant(`${name}/bias`, [c], new Float32Array(c)),
      ],
      { strides: [stride, stride], padding: 'same', depthMultiplier: 1, activation: 'none' },
    );
    bnRelu(name);
  };

  conv('conv1', 3, opts.stem ?? 8, 2);
  (opts.blocks ?? DEMO_BLOCKS).forEach((b, i) => {
    depthwise(`block${i + 1}/dw`, b.stride);
    conv(`block${i + 1}/pw`, 1, b.filters, 1);
  });
  emit('mean', 'gap', [], { axes: [1, 2], keepDims: false });
  const c = channels();
  emit('fullyConnected', 'classifier', [
    constant(
      'classifier/kernel',
      [classCount, c],
      glorotUniform(rng, classCount * c, c, classCount),
    ),
    constant('classifier/bias', [classCount], new Float32Array(classCount)),
  ]);
  emit('softmax', 'softmax', [], { beta: 1 });
  g.outputs = [x];
  return g;
}

export interface TrainDemoOptions {
  seed: number;
  /** Passes over the training set (default DEMO_EPOCHS). */
  epochs?: number;
  batchSize?: number;
  /** Adam learning rate (default 1e-2); a quarter of it for the last third of the epochs. */
  lr?: number;
  /** Learning-rate steps instead: [fraction of all optimiser steps, factor of lr]. */
  decay?: [number, number][];
  /**
   * Train on random rotations/reflections of the images (default true): right for classes that
   * do not change under them, as the synthetic shapes; turn off for other data.
   */
  augment?: boolean;
  /** Data-parallel training workers (default 1). */
  workers?: number;
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>;
}

export interface TrainDemoResult {
  history: History;
  /** Validation accuracy of the weights kept (the best epoch). */
  valAccuracy: number;
  seconds: number;
}

/** 16 epochs of the default 1,800 training images: ≈96% validation in ≈35 s on 2 cores. */
export const DEMO_EPOCHS = 16;

/**
 * Trains `graph` in place on `train` (Adam, best-validation checkpoint on `val`) with the wasm
 * engine and writes the weights back into the graph.
 */
export async function trainDemoModel(
  graph: Graph,
  train: Dataset,
  val: Dataset,
  opts: TrainDemoOptions,
): Promise<TrainDemoResult> {
  const t0 = performance.now();
  await useBackend('wasm');
  const [trainArrays, valArrays] = [await loadAll(train), await loadAll(val)];
  const epochs = opts.epochs ?? DEMO_EPOCHS;
  const lr = opts.lr ?? 1e-2;
  const inputShape = getTensor(graph, graph.inputs[0]!).shape.slice(1);
  const batchSize = opts.batchSize ?? 32;
  const steps = epochs * Math.ceil(trainArrays.n / batchSize);
  // Few optimiser steps: moving statistics must forget their initial values quickly.
  const model = new TfModel(graph, { bnMomentum: 0.9 });
  try {
    const history = await fit(model, {
      train: trainArrays,
      validation: valArrays,
      epochs,
      batchSize,
      optimizer: 'adam',
      lr: opts.decay
        ? {
            unit: 'step',
            boundaries: opts.decay.map(([f]) => Math.round(f * steps)),
            values: [lr, ...opts.decay.map(([, k]) => lr * k)],
          }
        : { unit: 'epoch', boundaries: [Math.ceil((epochs * 2) / 3)], values: [lr, lr / 4] },
      seed: opts.seed,
      workers: opts.workers,
      augment:
        opts.augment === false ? undefined : (x, n, rng) => dihedralAugment(x, n, inputShape, rng),
      onEpochEnd: opts.onEpochEnd,
    });
    model.exportWeights(graph);
    return {
      history,
      valAccuracy: history.bestValAccuracy ?? 0,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    model.dispose();
  }
}

/**
 * Replaces each image of a batch by one of its 8 rotations/reflections (chosen by `rng`): the
 * demo's classes do not change under them, so this multiplies the data for free. `shape` is one image's [h, w, c].
 */
export function dihedralAugment(
  x: Float32Array,
  n: number,
  shape: number[],
  rng: { int(n: number): number },
): void {
  const [h, w, c] = shape as [number, number, number];
  // Transposing needs a square image; otherwise only the flips (t = 0, 2, 4, 6) are used.
  const square = h === w;
  const per = h * w * c;
  const tmp = new Float32Array(per);
  for (let k = 0; k < n; k++) {
    const t = square ? rng.int(8) : rng.int(4) * 2;
    if (t === 0) continue;
    const img = x.subarray(k * per, (k + 1) * per);
    tmp.set(img);
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++) {
        // Source pixel of (y, xx): bit 0 of t transposes, bit 1 flips rows, bit 2 flips columns.
        let sy = t & 1 ? xx : y;
        let sx = t & 1 ? y : xx;
        if (t & 2) sy = h - 1 - sy;
        if (t & 4) sx = w - 1 - sx;
        for (let ch = 0; ch < c; ch++) img[(y * w + xx) * c + ch] = tmp[(sy * w + sx) * c + ch]!;
      }
  }
}
