// The built-in jobs of `tinyprune run` without --model: which data, which base model trained from
// scratch, which cuts and schedules. One entry per kind; the default job is Fashion-MNIST when
// Debian's `dataset-fashion-mnist` is installed, else the generated shapes (said in one line).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Schedule } from '../prune/train.js';
import { FASHION_MNIST_DEBIAN_DIR, FASHION_MNIST_FILES } from '../data/fashion-mnist.js';
import type { DemoBlock } from './model.js';

export type DemoKind = 'fashion-mnist' | 'shapes';

export interface DemoJob {
  kind: DemoKind;
  /** What the report's title says the base model was trained on. */
  describe: string;
  stem: number;
  blocks: DemoBlock[];
  /** Training of the base model from scratch. */
  base: {
    epochs: number;
    batchSize: number;
    /** Adam learning rate of the first phase. */
    lr: number;
    /**
     * Learning-rate steps: [fraction of all steps, factor of lr] (step-sized, so any data size
     * works); absent: a quarter of lr for the last third of the epochs.
     */
    decay?: [number, number][];
    /** Random rotations and reflections (only for classes that do not change under them). */
    dihedral: boolean;
  };
  /** Cut points the sweep tries ('auto': every one). */
  cuts: string;
  /** The heads' schedule in the sweep (frozen tail). */
  sweep: Schedule;
  /** With it, the sweep's epochs are as many as make at least this many optimiser steps. */
  sweepSteps?: number;
}

export const DEMO_JOBS: Record<DemoKind, DemoJob> = {
  // 28x28 grayscale, 10 classes. MobileNetV1's shape: a stride-2 stem and five depthwise-separable
  // blocks, the parameters in the late ones (53,930 with BatchNorm folded, 0.78M MACs), so a cut
  // at block3/block4 with a small head saves most of them. 3 epochs: docs/guide.md has the
  // measured accuracy and times.
  'fashion-mnist': {
    kind: 'fashion-mnist',
    describe: 'Fashion-MNIST, 60,000 training images',
    stem: 16,
    blocks: [
      { filters: 32, stride: 1 },
      { filters: 64, stride: 2 },
      { filters: 64, stride: 1 },
      { filters: 128, stride: 2 },
      { filters: 256, stride: 2 },
    ],
    base: {
      epochs: 3,
      batchSize: 64,
      lr: 3e-3,
      decay: [
        [0.6, 1 / 5],
        [0.85, 1 / 25],
      ],
      dihedral: false,
    },
    // The cheap early cuts are where depth pruning pays; two cuts x two heads keep the sweep short.
    cuts: 'block3,block4',
    // Sized in steps: about one pass over the 55,000 training features per head (860 steps).
    sweep: {
      optimizer: 'adam',
      batchSize: 64,
      epochs: 1,
      lr: { unit: 'step', boundaries: [600], values: [3e-3, 6e-4] },
    },
    sweepSteps: 800,
  },
  // Generated shapes (no download): the original demo, ≈96% validation in ≈35 s on 2 cores.
  shapes: {
    kind: 'shapes',
    describe: 'synthetic shapes',
    stem: 8,
    blocks: [
      { filters: 16, stride: 1 },
      { filters: 32, stride: 2 },
      { filters: 32, stride: 1 },
      { filters: 64, stride: 2 },
      { filters: 64, stride: 1 },
      { filters: 128, stride: 2 },
    ],
    base: {
      epochs: 16,
      batchSize: 32,
      lr: 1e-2,
      dihedral: true,
    },
    cuts: 'auto',
    sweep: {
      optimizer: 'adam',
      batchSize: 32,
      epochs: 12,
      lr: { unit: 'epoch', boundaries: [8], values: [2e-3, 5e-4] },
    },
  },
};

/** The demo job for a dataset spec: Fashion-MNIST's for `fashion-mnist:`, else the shapes'. */
export function demoJobFor(spec: string): DemoJob {
  return spec.startsWith('fashion-mnist:') ? DEMO_JOBS['fashion-mnist'] : DEMO_JOBS.shapes;
}

/** True when every Fashion-MNIST file is in `dir` (gzip-compressed, as Debian installs them). */
export function hasFashionMnist(dir = FASHION_MNIST_DEBIAN_DIR): boolean {
  return Object.values(FASHION_MNIST_FILES).every((p) =>
    Object.values(p).every((stem) => existsSync(join(dir, `${stem}.gz`))),
  );
}

/**
 * The data of `tinyprune run` with neither --model nor --data: the installed Fashion-MNIST, or
 * the generated shapes with one line (`notice`) saying why and how to install the real set.
 */
export function defaultDemoData(dir = FASHION_MNIST_DEBIAN_DIR): {
  spec: string;
  notice?: string;
} {
  if (hasFashionMnist(dir)) return { spec: `fashion-mnist:${dir}` };
  return {
    spec: 'synthetic:shapes',
    notice: `Fashion-MNIST not found in ${dir} (install it: sudo apt-get install dataset-fashion-mnist); running the synthetic-shapes demo instead`,
  };
}
