import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { partitionBySpeaker, partitionRandom } from '../data/dataset.js';
import { TinypruneError } from '../graph/types.js';
import { openDataset } from '../data/open.js';
import {
  type Augmentation,
  type OpenDatasetOptions,
  type OwnPartitions,
  type Partition,
  PARTITIONS,
  parseQuery,
  parseSpec,
  type Task,
} from '../data/kinds.js';
import { augmentImage } from '../data/augment-image.js';
import { Rng } from '../data/random.js';
import { checkSplitSizes } from './limits.js';

/**
 * Train / validation / test fractions used when the data defines no partitions of its own and
 * none are given (the fallback). A pool missing only one partition is cut in the same
 * proportions (75/25).
 */
export const SPLIT_FRACTIONS = [0.6, 0.2, 0.2];

/** Where one partition's examples came from, and how many there are. */
export interface PartitionRecord {
  n: number;
  /** E.g. 'speech-commands:DIR (validation_list.txt)', '--test-data SPEC', '60% of --data'. */
  from: string;
}

export interface PruneData {
  spec: string;
  /** The task of the training data's kind (picks the schedule and recipe). */
  task: Task;
  /** Fits the head. */
  train: Dataset;
  /** Picks the checkpoint and the cut; never the test split. */
  val: Dataset;
  /** Reported only. */
  test: Dataset;
  /** How the split was made, in one line, for result files and the report. */
  split: string;
  /** Each partition's size and source, for result files and the report. */
  partitions: Record<Partition, PartitionRecord>;
  /** How examples are dealt to carved parts: 'speaker-disjoint' or 'stratified random'. */
  grouping: string;
  /**
   * The training examples under augmentation view `v` (v ≥ 1), aligned with `train`; undefined
   * when the dataset kind has no augmentation.
   */
  augmentedTrain?: (v: number) => Promise<Dataset>;
  /**
   * The arguments that rebuild this object (`preparePruneData(...reopen)`), so that extraction
   * workers open the very same splits and views in their own threads.
   */
  reopen: Parameters<typeof preparePruneData>;
}

/** One fold of K-fold cross-validation: 0-based index and the number of folds. */
export interface Fold {
  index: number;
  count: number;
}

/** Separate validation and test sets (`--val-data`, `--test-data`). */
export interface PartitionSpecs {
  val?: string;
  test?: string;
}

/**
 * The data a spec names as one partition: its own partition of that name when the layout
 * defines one (`--test-data speech-commands:DIR` is the release's test list), else all of it.
 */
async function openAs(
  spec: string,
  part: 'val' | 'test',
  open: OpenDatasetOptions,
): Promise<Dataset> {
  const { entry, path, query } = parseSpec(spec);
  const own = await entry.partitions?.(path, query, spec, open);
  return own?.parts[part] ?? (await openDataset(spec, open));
}

/**
 * Opens the data for prune, sweep and run and splits it into train / validation / test.
 * Partitions come, in this order, from `--val-data` / `--test-data`, then from the partitions the
 * data defines itself (Speech Commands' list files, `train/ val/ test/` image folders), and only
 * what is still missing is carved from the training data: 60/20/20 when nothing is given,
 * speaker-disjoint when the data knows its speakers (Speech Commands), stratified by class
 * otherwise. A set that is only test data (an EEMBC evaluation set, the canonical Speech Commands
 * test layout) given as --data is a pool and is split. The same seed gives the same split.
 * A file in two partitions is an error naming it.
 *
 * With `fold`, the training pool is cut into `count` equal parts instead: part `index` is the
 * test set, the next part the validation set and the rest trains, so over all folds every
 * example is tested exactly once by a model that neither trained on it nor was selected with it.
 */
export async function preparePruneData(
  spec: string,
  seed: number,
  fold?: Fold,
  specs: PartitionSpecs = {},
  open: OpenDatasetOptions = {},
): Promise<PruneData> {
  const parsed = parseSpec(spec);
  const own: OwnPartitions | undefined = await parsed.entry.partitions?.(
    parsed.path,
    parsed.query,
    spec,
    open,
  );
  const ownTrain = own?.parts.train;
  const pool = ownTrain ?? (await openDataset(spec, open));
  const bySpeaker = pool.groups !== undefined;
  const partition = bySpeaker ? partitionBySpeaker : partitionRandom;
  const grouping = bySpeaker ? 'speaker-disjoint' : 'stratified random';
  const poolName = ownTrain ? `${spec} (training partition, ${own!.source})` : spec;

  const chosen: Partial<Record<Partition, { ds: Dataset; from: string }>> = {};
  let split: string;
  if (fold) {
    const { index, count } = fold;
    if (specs.val !== undefined || specs.test !== undefined)
      throw new TinypruneError(
        '--folds makes its own validation and test parts: drop --val-data / --test-data, or drop --folds',
      );
    if (!Number.isInteger(count) || count < 3 || !(index >= 0 && index < count))
      throw new TinypruneError(
        `--folds: expected at least 3 folds and a fold index below their count, found fold ${index + 1} of ${count}`,
      );
    const parts = partition(pool, new Array<number>(count).fill(1 / count), seed);
    checkSplitSizes(
      spec,
      parts.map((p) => p.length),
      parts.map((_, k) => `fold ${k + 1}`),
      pool.length,
      count,
    );
    const v = (index + 1) % count;
    const rest = parts
      .filter((_, k) => k !== index && k !== v)
      .flat()
      .sort((a, b) => a - b);
    chosen.test = { ds: pool.subset(parts[index]!), from: `fold part ${index + 1} of ${poolName}` };
    chosen.val = { ds: pool.subset(parts[v]!), from: `fold part ${v + 1} of ${poolName}` };
    chosen.train = { ds: pool.subset(rest), from: `the other ${count - 2} parts of ${poolName}` };
    split = `${grouping} ${count}-fold cross-validation, fold ${index + 1} (test part ${index + 1}, validation part ${v + 1}), seed ${seed}`;
  } else {
    if (specs.val !== undefined)
      chosen.val = { ds: await openAs(specs.val, 'val', open), from: `--val-data ${specs.val}` };
    if (specs.test !== undefined)
      chosen.test = {
        ds: await openAs(specs.test, 'test', open),
        from: `--test-data ${specs.test}`,
      };
    if (ownTrain) {
      chosen.train = { ds: ownTrain, from: `${spec} (${own!.source})` };
      for (const p of ['val', 'test'] as const) {
        const d = own!.parts[p];
        if (!chosen[p] && d) chosen[p] = { ds: d, from: `${spec} (${own!.source})` };
      }
    }
    // Carve what is still missing from the training pool, in the fallback's proportions.
    const missing = PARTITIONS.filter((p) => !chosen[p]);
    if (missing.length > 0) {
      // Train is always re-cut: what is missing comes out of the training data.
      const carve: Partition[] = ['train', ...missing.filter((p) => p !== 'train')];
      const weights = carve.map((p) => SPLIT_FRACTIONS[PARTITIONS.indexOf(p)]!);
      const total = weights.reduce((a, b) => a + b, 0);
      // A release with train and test parts may say how much of its training part validates.
      const vf = own?.valFraction;
      const fractions =
        vf !== undefined && carve.join() === 'train,val'
          ? [1 - vf, vf]
          : weights.map((w) => w / total);
      const from = chosen.train?.ds ?? pool;
      const parts = partition(from, fractions, seed);
      checkSplitSizes(
        spec,
        parts.map((p) => p.length),
        carve.map((p) => (p === 'val' ? 'validation' : p)),
        from.length,
      );
      const pct = fractions.map((f) => Math.round(f * 100));
      carve.forEach((p, k) => {
        chosen[p] = {
          ds: from.subset(parts[k]!),
          from: `${pct[k]}% of ${poolName} (${grouping}, seed ${seed})`,
        };
      });
      split =
        carve.length === 3
          ? `${grouping} 60/20/20, seed ${seed}`
          : `${carve.join('/')} ${pct.join('/')} of the training data (${grouping}, seed ${seed}); ${PARTITIONS.filter(
              (p) => !carve.includes(p),
            )
              .map((p) => `${p} from ${chosen[p]!.from}`)
              .join('; ')}`;
    } else {
      split = PARTITIONS.map((p) => `${p} from ${chosen[p]!.from}`).join('; ');
    }
  }
  const train = chosen.train!.ds;
  const val = chosen.val!.ds;
  const test = chosen.test!.ds;
  checkCompatible(train, { val, test }, specs);
  checkDisjoint({ train, val, test });
  const partitions = Object.fromEntries(
    PARTITIONS.map((p) => [p, { n: chosen[p]!.ds.length, from: chosen[p]!.from }]),
  ) as Record<Partition, PartitionRecord>;
  return {
    spec,
    task: parsed.entry.task,
    train,
    val,
    test,
    split,
    partitions,
    grouping,
    augmentedTrain: augmenter(parsed.entry.augmentation, spec, train, seed, open),
    reopen: [spec, seed, fold, specs, open],
  };
}

/** One line with each partition's size, for logs: `train 1,888 · val 653 · test 633`. */
export function partitionCounts(data: Pick<PruneData, 'partitions'>): string {
  return PARTITIONS.map((p) => `${p} ${data.partitions[p].n.toLocaleString('en-US')}`).join(' · ');
}

/** Validation and test sets must have the training set's classes and input shape. */
function checkCompatible(
  train: Dataset,
  others: Record<'val' | 'test', Dataset>,
  specs: PartitionSpecs,
): void {
  for (const p of ['val', 'test'] as const) {
    const d = others[p];
    const what = specs[p] !== undefined ? `--${p}-data ${specs[p]}` : `the ${p} partition`;
    if (d.length === 0)
      throw new TinypruneError(`${what}: expected examples, found none (${d.name})`);
    if (d.classes.join(',') !== train.classes.join(','))
      throw new TinypruneError(
        `${what}: expected the training data's classes [${train.classes.join(', ')}], found [${d.classes.join(', ')}]`,
      );
    if (d.inputShape.join('x') !== train.inputShape.join('x'))
      throw new TinypruneError(
        `${what}: expected the training data's input shape ${train.inputShape.join('x')}, found ${d.inputShape.join('x')}`,
      );
  }
  if (train.length === 0) throw new TinypruneError(`${train.name}: no training examples`);
}

/** A file in two partitions would be trained or selected on and then tested on: an error. */
export function checkDisjoint(parts: Record<Partition, Dataset>): void {
  const seen = new Map<string, Partition>();
  for (const p of PARTITIONS) {
    const ids = parts[p].ids;
    if (!ids) continue;
    const mine = new Set<string>();
    for (const id of ids) {
      const key = resolve(id);
      const other = seen.get(key);
      if (other !== undefined && other !== p)
        throw new TinypruneError(
          `${id}: in both the ${other} and the ${p} partition (a file must be in one partition)`,
        );
      mine.add(key);
    }
    for (const k of mine) seen.set(k, p);
  }
}

/** The augmented views of `train` for its kind's augmentation, or undefined when it has none. */
function augmenter(
  kind: Augmentation,
  spec: string,
  train: Dataset,
  seed: number,
  open: OpenDatasetOptions,
): PruneData['augmentedTrain'] {
  switch (kind) {
    case 'image':
      // MLPerf VWW augmentation on the decoded image, one seeded stream per view.
      return async (v) =>
        mapDataset(train, (x, i) =>
          augmentImage(x, train.inputShape, new Rng(seed * 1_000_003 + v * 65_537 + i)),
        );
    case 'audio-noise': {
      // Background noise is mixed into the waveform before the frontend: reopen with
      // augmentation. Without background recordings there is nothing to mix in.
      const { path, query } = parseSpec(spec);
      const noiseDir = parseQuery(query, spec).noiseDir ?? join(path, '_background_noise_');
      if (!existsSync(noiseDir) || !train.ids) return undefined;
      return async (v) => {
        const aug = await openDataset(spec, { ...open, augment: { seed: seed * 1_000_003 + v } });
        const position = new Map(aug.ids!.map((id, i) => [id, i]));
        return aug.subset(
          train.ids!.map((id) => {
            const at = position.get(id);
            if (at === undefined)
              throw new TinypruneError(
                `${id}: training clip missing when reopened for augmentation`,
              );
            return at;
          }),
        );
      };
    }
    case 'none':
      return undefined;
    default:
      return assertNever(kind);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected augmentation ${String(x)}`);
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
