import type { Dataset } from '../data/dataset.js';
import { splitBySpeaker, splitRandom } from '../data/dataset.js';
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
  /**
   * The training examples under augmentation view `v` (v ≥ 1), aligned with `train`; undefined
   * when the dataset kind has no augmentation.
   */
  augmentedTrain?: (v: number) => Promise<Dataset>;
}

/**
 * Opens a dataset and splits it 60/20/20: speaker-disjoint when the data knows its speakers
 * (Speech Commands), stratified by class otherwise. The same seed gives the same split.
 */
export async function preparePruneData(spec: string, seed: number): Promise<PruneData> {
  const all = await openDataset(spec);
  const bySpeaker = all.groups !== undefined;
  const [train, val, test] = (bySpeaker ? splitBySpeaker : splitRandom)(
    all,
    SPLIT_FRACTIONS,
    seed,
  ) as [Dataset, Dataset, Dataset];
  const split = `${bySpeaker ? 'speaker-disjoint' : 'stratified random'} 60/20/20, seed ${seed}`;
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
  return { spec, train, val, test, split, augmentedTrain };
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
