import type { Dataset } from '../data/dataset.js';
import { partitionBySpeaker, partitionRandom } from '../data/dataset.js';
import { TinypruneError } from '../graph/types.js';
import { openDataset } from '../data/open.js';
import { augmentImage } from '../data/augment-image.js';
import { Rng } from '../data/random.js';

/** Train / validation / test fractions of the data given to prune and sweep. */
export const SPLIT_FRACTIONS = [0.6, 0.2, 0.2];

export interface PruneData {
  spec: string;
  /** Fits the head. */
  train: Dataset;
  /** Picks the checkpoint and the cut; never the test split. */
  val: Dataset;
  /** Reported only. */
  test: Dataset;
  /** How the split was made, for result files. */
  split: string;
  /** How examples are dealt to parts: 'speaker-disjoint' or 'stratified random'. */
  grouping: string;
  /**
   * The training examples under augmentation view `v` (v ≥ 1), aligned with `train`; undefined
   * when the dataset kind has no augmentation.
   */
  augmentedTrain?: (v: number) => Promise<Dataset>;
}

/** One fold of K-fold cross-validation: 0-based index and the number of folds. */
export interface Fold {
  index: number;
  count: number;
}

/**
 * Opens a dataset and splits it 60/20/20: speaker-disjoint when the data knows its speakers
 * (Speech Commands), stratified by class otherwise. The same seed gives the same split.
 * With `fold`, the data is cut into `count` equal parts instead: part `index` is the test set,
 * the next part the validation set and the rest trains, so over all folds every example is
 * tested exactly once by a model that neither trained on it nor was selected with it.
 */
export async function preparePruneData(
  spec: string,
  seed: number,
  fold?: Fold,
): Promise<PruneData> {
  const all = await openDataset(spec);
  const bySpeaker = all.groups !== undefined;
  const partition = bySpeaker ? partitionBySpeaker : partitionRandom;
  const grouping = bySpeaker ? 'speaker-disjoint' : 'stratified random';
  let train: Dataset, val: Dataset, test: Dataset, split: string;
  if (fold) {
    const { index, count } = fold;
    if (!Number.isInteger(count) || count < 3 || !(index >= 0 && index < count))
      throw new TinypruneError(
        `--folds: expected at least 3 folds and a fold index below their count, found fold ${index + 1} of ${count}`,
      );
    const parts = partition(all, new Array<number>(count).fill(1 / count), seed);
    const v = (index + 1) % count;
    test = all.subset(parts[index]!);
    val = all.subset(parts[v]!);
    train = all.subset(
      parts
        .filter((_, k) => k !== index && k !== v)
        .flat()
        .sort((a, b) => a - b),
    );
    split = `${grouping} ${count}-fold cross-validation, fold ${index + 1} (test part ${index + 1}, validation part ${v + 1}), seed ${seed}`;
  } else if (all.partitions?.includes('test')) {
    ({ train, val, test, split } = ownSplit(all, seed));
  } else {
    [train, val, test] = partition(all, SPLIT_FRACTIONS, seed).map((p) => all.subset(p)) as [
      Dataset,
      Dataset,
      Dataset,
    ];
    split = `${grouping} 60/20/20, seed ${seed}`;
  }
  const kind = spec.slice(0, spec.indexOf(':'));
  let augmentedTrain: PruneData['augmentedTrain'];
  if (kind === 'eembc-vww' || kind === 'vww-folders') {
    // MLPerf VWW augmentation on the decoded image, one seeded stream per view.
    augmentedTrain = async (v) =>
      mapDataset(train, (x, i) =>
        augmentImage(x, train.inputShape, new Rng(seed * 1_000_003 + v * 65_537 + i)),
      );
  } else if (kind === 'speech-commands') {
    // Background noise is mixed into the waveform before the frontend: reopen with augmentation.
    augmentedTrain = async (v) => {
      const aug = await openDataset(spec, { augment: { seed: seed * 1_000_003 + v } });
      const position = new Map(aug.ids!.map((id, i) => [id, i]));
      return aug.subset(train.ids!.map((id) => position.get(id)!));
    };
  }
  return { spec, train, val, test, split, grouping, augmentedTrain };
}

/** Share of the release's training part held out for validation when it has no validation part. */
export const OWN_SPLIT_VAL_FRACTION = 1 / 12;

/**
 * The release's own split (Fashion-MNIST: 60,000 train, 10,000 test): its test part is the test
 * set; its validation part, or else a seeded stratified 1/12 of its training part, validates.
 */
function ownSplit(
  all: Dataset,
  seed: number,
): { train: Dataset; val: Dataset; test: Dataset; split: string } {
  const of = (p: string) => [...all.partitions!.keys()].filter((i) => all.partitions![i] === p);
  const test = all.subset(of('test'));
  const trainPart = all.subset(of('train'));
  if (all.partitions!.includes('val')) {
    const val = all.subset(of('val'));
    return {
      train: trainPart,
      val,
      test,
      split: `the dataset's own split: ${trainPart.length} train, ${val.length} validation, ${test.length} test`,
    };
  }
  const [t, v] = partitionRandom(
    trainPart,
    [1 - OWN_SPLIT_VAL_FRACTION, OWN_SPLIT_VAL_FRACTION],
    seed,
  );
  return {
    train: trainPart.subset(t!),
    val: trainPart.subset(v!),
    test,
    split: `the dataset's own split: ${test.length} test; its ${trainPart.length} training examples split ${t!.length} train / ${v!.length} validation (stratified random, seed ${seed})`,
  };
}

/** A dataset whose examples are `f` of another's (same labels and order). */
function mapDataset(ds: Dataset, f: (x: Float32Array, index: number) => Float32Array): Dataset {
  return {
    ...ds,
    async load(i) {
      return f(await ds.load(i), i);
    },
    subset(indices) {
      const inner = ds.subset(indices);
      return mapDataset(inner, (x, i) => f(x, indices[i]!));
    },
  };
}

/**
 * Every example of a dataset as one array (features are small; images are fine at these sizes).
 * Sequential on purpose: augmenting loaders draw from one seeded stream, so the order of loads
 * must not depend on I/O timing.
 */
export async function loadAll(ds: Dataset): Promise<{ x: Float32Array; y: Int32Array; n: number }> {
  const per = ds.inputShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(ds.length * per);
  for (let i = 0; i < ds.length; i++) x.set(await ds.load(i), i * per);
  return { x, y: Int32Array.from(ds.labels), n: ds.length };
}
