// The one streaming dataset interface, and helpers that work on any dataset: batching with
// seeded shuffles, speaker-disjoint and stratified splits, and an input-shape check.

import { TinypruneError } from '../graph/types.js';
import { Rng } from './random.js';

/** A partition a dataset release assigns to an example (its own train/validation/test split). */
export type DatasetPartition = 'train' | 'val' | 'test';

export interface Dataset {
  name: string;
  classes: string[];
  /** One example's input shape, without the batch dimension (e.g. [49, 10, 1], [96, 96, 3]). */
  inputShape: number[];
  length: number;
  /** All labels (class indices), cheap to read. */
  labels: Int32Array;
  /** Group of each example for group-disjoint splits (the speaker for Speech Commands). */
  groups?: string[];
  /** Source file (or other identifier) of each example, for messages and reports. */
  ids?: string[];
  /** The release's own partition of each example, when it defines one (Fashion-MNIST). */
  partitions?: DatasetPartition[];
  /** One example's model-ready float input, `inputShape` values row-major. */
  load(index: number): Promise<Float32Array>;
  subset(indices: number[]): Dataset;
}

export interface DatasetSource {
  name: string;
  classes: string[];
  inputShape: number[];
  labels: Int32Array;
  groups?: string[];
  ids?: string[];
  partitions?: DatasetPartition[];
  /** Loads the example at a position of the full (unsubsetted) source. */
  load(index: number): Promise<Float32Array>;
}

/**
 * A dataset view over a source: `indices` picks and orders the source's examples. Loaded
 * examples are cached per source index when `cache` is set (features are small: 490 floats a
 * clip), so subsets share the cache with their parent.
 */
/** Every label a class index of the dataset (a label file can name any number). */
function checkLabels(source: DatasetSource): void {
  const k = source.classes.length;
  const bad = source.labels.findIndex((l) => !(Number.isInteger(l) && l >= 0 && l < k));
  if (bad >= 0)
    throw new TinypruneError(
      `${source.ids?.[bad] ?? source.name}: label ${source.labels[bad]} is not a class of ${source.name} (expected 0..${k - 1}: ${source.classes.join(', ')})`,
    );
}

export function viewDataset(
  source: DatasetSource,
  indices?: number[],
  cache?: Map<number, Float32Array>,
): Dataset {
  const map = indices ?? Array.from(source.labels, (_, i) => i);
  for (const i of map) {
    if (!Number.isInteger(i) || i < 0 || i >= source.labels.length) {
      throw new RangeError(
        `${source.name}: index ${i} out of range 0..${source.labels.length - 1}`,
      );
    }
  }
  if (!indices) checkLabels(source);
  const size = source.inputShape.reduce((a, b) => a * b, 1);
  return {
    name: source.name,
    classes: source.classes,
    inputShape: source.inputShape,
    length: map.length,
    labels: Int32Array.from(map, (i) => source.labels[i]!),
    groups: source.groups && map.map((i) => source.groups![i]!),
    ids: source.ids && map.map((i) => source.ids![i]!),
    partitions: source.partitions && map.map((i) => source.partitions![i]!),
    async load(index: number): Promise<Float32Array> {
      const s = map[index];
      if (s === undefined)
        throw new RangeError(`${source.name}: index ${index} out of range 0..${map.length - 1}`);
      const hit = cache?.get(s);
      if (hit) return hit;
      const x = await source.load(s);
      if (x.length !== size) {
        throw new TinypruneError(
          `${source.ids?.[s] ?? source.name}: expected ${size} input values (${source.inputShape.join('x')}), found ${x.length}`,
        );
      }
      cache?.set(s, x);
      return x;
    },
    subset(sub: number[]): Dataset {
      return viewDataset(
        source,
        sub.map((i) => {
          const s = map[i];
          if (s === undefined)
            throw new RangeError(
              `${source.name}: subset index ${i} out of range 0..${map.length - 1}`,
            );
          return s;
        }),
        cache,
      );
    },
  };
}

export interface Batch {
  /** batch × inputShape floats, row-major. */
  x: Float32Array;
  y: Int32Array;
  /** Dataset positions of the batch's examples. */
  indices: number[];
}

export interface BatchOptions {
  batchSize: number;
  shuffle?: boolean;
  /** Required with shuffle. */
  seed?: number;
  /** Drop a last batch smaller than batchSize. */
  dropRemainder?: boolean;
}

/** Batches of a dataset, optionally in a seeded random order; examples load concurrently. */
export async function* batches(ds: Dataset, opts: BatchOptions): AsyncGenerator<Batch> {
  const { batchSize } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new TinypruneError(`batch size: expected a positive integer, found ${batchSize}`);
  }
  const order = Array.from({ length: ds.length }, (_, i) => i);
  if (opts.shuffle) {
    if (opts.seed === undefined) throw new TinypruneError('batches: shuffle needs a seed');
    new Rng(opts.seed).shuffle(order);
  }
  const size = ds.inputShape.reduce((a, b) => a * b, 1);
  for (let start = 0; start < order.length; start += batchSize) {
    const indices = order.slice(start, start + batchSize);
    if (opts.dropRemainder && indices.length < batchSize) break;
    const examples = await Promise.all(indices.map((i) => ds.load(i)));
    const x = new Float32Array(indices.length * size);
    examples.forEach((e, k) => x.set(e, k * size));
    yield { x, y: Int32Array.from(indices, (i) => ds.labels[i]!), indices };
  }
}

function checkFractions(fractions: number[]): void {
  const sum = fractions.reduce((a, b) => a + b, 0);
  if (fractions.length < 1 || fractions.some((f) => !(f >= 0)) || Math.abs(sum - 1) > 1e-6) {
    throw new TinypruneError(
      `split fractions: expected non-negative numbers summing to 1, found [${fractions.join(', ')}]`,
    );
  }
}

/** Splits counts `n` into parts close to `fractions` (largest remainder). */
function apportion(n: number, fractions: number[]): number[] {
  const raw = fractions.map((f) => f * n);
  const out = raw.map(Math.floor);
  let left = n - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => [r - Math.floor(r), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k++, left--) out[order[k % order.length]![1]]! += 1;
  return out;
}

/** Random split, stratified by label: each class is divided by `fractions`. */
export function splitRandom(ds: Dataset, fractions: number[], seed: number): Dataset[] {
  return partitionRandom(ds, fractions, seed).map((p) => ds.subset(p));
}

/** The example indices (ascending) of each part of `splitRandom`. */
export function partitionRandom(ds: Dataset, fractions: number[], seed: number): number[][] {
  checkFractions(fractions);
  const rng = new Rng(seed);
  const parts: number[][] = fractions.map(() => []);
  for (let c = 0; c < ds.classes.length; c++) {
    const members = rng.shuffle([...ds.labels.keys()].filter((i) => ds.labels[i] === c));
    let at = 0;
    apportion(members.length, fractions).forEach((count, p) => {
      parts[p]!.push(...members.slice(at, at + count));
      at += count;
    });
  }
  return parts.map((p) => p.sort((a, b) => a - b));
}

/**
 * Group-disjoint split (the speaker for Speech Commands): every group's examples land in one
 * part; groups are shuffled with the seed and dealt so each part's example count approaches its
 * fraction. Examples without a group count as their own group.
 */
export function splitBySpeaker(ds: Dataset, fractions: number[], seed: number): Dataset[] {
  return partitionBySpeaker(ds, fractions, seed).map((p) => ds.subset(p));
}

/** The example indices (ascending) of each part of `splitBySpeaker`. */
export function partitionBySpeaker(ds: Dataset, fractions: number[], seed: number): number[][] {
  checkFractions(fractions);
  if (!ds.groups) {
    throw new TinypruneError(
      `${ds.name}: splitBySpeaker needs speaker groups; this dataset has none (use splitRandom)`,
    );
  }
  const byGroup = new Map<string, number[]>();
  ds.groups.forEach((g, i) => {
    const list = byGroup.get(g);
    if (list) list.push(i);
    else byGroup.set(g, [i]);
  });
  const names = new Rng(seed).shuffle([...byGroup.keys()].sort());
  const targets = fractions.map((f) => f * ds.length);
  const parts: number[][] = fractions.map(() => []);
  for (const g of names) {
    // The part furthest below its target (relative to target size) takes the next group.
    let best = 0;
    let bestGap = -Infinity;
    parts.forEach((p, k) => {
      if (targets[k] === 0) return;
      const gap = (targets[k]! - p.length) / targets[k]!;
      if (gap > bestGap) {
        bestGap = gap;
        best = k;
      }
    });
    parts[best]!.push(...byGroup.get(g)!);
  }
  return parts.map((p) => p.sort((a, b) => a - b));
}

/**
 * Throws when a model whose input shape is `modelInputShape` (with or without a leading batch
 * dimension) cannot be fed this dataset's examples.
 */
export function checkInputShape(ds: Dataset, modelInputShape: number[]): void {
  const model =
    modelInputShape.length === ds.inputShape.length + 1
      ? modelInputShape.slice(1)
      : modelInputShape;
  const same =
    model.length === ds.inputShape.length &&
    model.every((d, i) => d === ds.inputShape[i] || d === -1);
  if (!same) {
    throw new TinypruneError(
      `${ds.name}: the model expects input [${modelInputShape.join(', ')}] but the dataset gives [${ds.inputShape.join(', ')}] per example`,
    );
  }
}

/** A `file, n_classes, label` row of an EEMBC y_labels.csv. */
export interface LabelRow {
  file: string;
  classes: number;
  label: number;
}

/** Parses an EEMBC y_labels.csv (`file, n_classes, label`); `source` names it in errors. */
export function parseLabelsCsv(text: string, source: string): LabelRow[] {
  const rows: LabelRow[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const cells = line.split(',').map((c) => c.trim());
    // Decimal digits only: Number('1e300') is an "integer" that Int32Array turns into 0.
    const int = (c: string | undefined) =>
      c !== undefined && /^\d{1,6}$/.test(c) ? Number(c) : NaN;
    const classes = int(cells[1]);
    const label = int(cells[2]);
    if (
      cells.length !== 3 ||
      !cells[0] ||
      !Number.isInteger(classes) ||
      !Number.isInteger(label) ||
      label < 0 ||
      label >= classes
    ) {
      throw new TinypruneError(
        `${source}:${i + 1}: expected 'file, n_classes, label' with 0 <= label < n_classes, found ${JSON.stringify(line)}`,
      );
    }
    rows.push({ file: cells[0], classes, label });
  });
  if (rows.length === 0) throw new TinypruneError(`${source}: expected label rows, found none`);
  return rows;
}
