// The EEMBC EnergyRunner image-classification set (MLPerf Tiny IC, CIFAR-10 test images).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import { type Dataset, viewDataset } from './dataset.js';
import { readLabels } from './kws.js';

/** CIFAR-10 class order (the label index in y_labels.csv). */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

const SHAPE = [32, 32, 3];

/**
 * `eembc-ic:DIR`: 32x32x3 uint8 RGB .bin files and y_labels.csv. Inputs are the raw pixel values
 * 0–255 as float: what `ic_resnet8_float.tflite` was trained on, and with the int8 model's input
 * scale 1 and zero point −128 they quantise to pixel − 128, its int8 input.
 */
export async function openEembcIc(dir: string, opts: { cache?: boolean } = {}): Promise<Dataset> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new TinypruneError(`${dir}: EEMBC IC folder not found`);
  const rows = await readLabels(dir, new Set(readdirSync(dir)));
  for (const [i, r] of rows.entries())
    if (r.label < 0 || r.label >= CIFAR10_CLASSES.length)
      throw new TinypruneError(
        `${join(dir, 'y_labels.csv')}:${i + 1}: label ${r.label} is not a CIFAR-10 class index 0..9`,
      );
  const size = SHAPE[0]! * SHAPE[1]! * SHAPE[2]!;
  return viewDataset(
    {
      name: `eembc-ic:${dir}`,
      classes: CIFAR10_CLASSES,
      inputShape: SHAPE,
      labels: Int32Array.from(rows, (r) => r.label),
      ids: rows.map((r) => join(dir, r.file)),
      async load(i) {
        const file = join(dir, rows[i]!.file);
        const bytes = await readFile(file);
        if (bytes.length !== size)
          throw new TinypruneError(
            `${file}: expected ${size} bytes (32x32x3 uint8), found ${bytes.length}`,
          );
        return Float32Array.from(bytes);
      },
    },
    undefined,
    opts.cache ? new Map() : undefined,
  );
}
