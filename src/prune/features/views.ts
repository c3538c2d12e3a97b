// The examples a feature store holds, named so that any thread can rebuild them: a split of the
// prepared data, an augmentation view of the training split (v ≥ 1), optionally mixed up.
// Every example is a pure function of its index (per-example seeds), so examples load in any
// order, in any thread, and an interrupted extraction resumes with identical results.
import type { Dataset } from '../../data/dataset.js';
import { exampleSeed, permutation, Rng } from '../../data/random.js';
import { TinypruneError } from '../../graph/types.js';
import type { PruneData } from '../data.js';
import type { MixSettings } from '../mixup.js';

export type Split = 'train' | 'val' | 'test';

export interface ViewRef {
  split: Split;
  /** 0: the examples as they are; v ≥ 1: augmentation view v (training split only). */
  view: number;
  /** Mixup of the view with a seeded shuffle of itself (v ≥ 1). */
  mix?: MixSettings;
  /**
   * The examples in a fixed shuffled order (feature stores): datasets list their examples class
   * by class (a folder per class) and training streams a few shards at a time, so shards in
   * dataset order would give batches of one or two classes.
   */
  shuffled?: boolean;
}

/** The seed of the stores' example order: fixed, so that every run and machine agrees. */
const STORE_ORDER_SEED = 0x5707e;

export function viewName(r: ViewRef): string {
  return `${r.split}${r.view ? ` view ${r.view}` : ''}${r.mix ? ` mixup ${r.mix.alpha}` : ''}`;
}

export interface ViewLoader {
  length: number;
  inputShape: number[];
  /** Example i: model-ready input and its label. */
  load(i: number): Promise<{ x: Float32Array; y: number }>;
}

async function baseDataset(data: PruneData, r: ViewRef): Promise<Dataset> {
  if (r.split !== 'train') {
    if (r.view !== 0 || r.mix)
      throw new TinypruneError(`augmented views exist for the training split only (${r.split})`);
    return data[r.split];
  }
  if (r.view === 0 || !data.augmentedTrain) return data.train;
  return data.augmentedTrain(r.view);
}

/**
 * Opens a view. With mixup, row i is λ·x_i + (1 − λ)·x_p(i) with p a seeded permutation and
 * λ ~ Beta(α, α) from row i's own stream, labelled as its larger part (see mixup.ts).
 */
export async function openView(data: PruneData, r: ViewRef): Promise<ViewLoader> {
  const ds = await baseDataset(data, r);
  const order = r.shuffled ? permutation(ds.length, STORE_ORDER_SEED) : undefined;
  const plain = {
    length: ds.length,
    inputShape: ds.inputShape,
    async load(p: number) {
      const i = order ? order[p]! : p;
      return { x: await ds.load(i), y: ds.labels[i]! };
    },
  };
  if (!r.mix) return plain;
  const { alpha, seed } = r.mix;
  if (!(alpha > 0) || !Number.isFinite(alpha))
    throw new TinypruneError(`--mixup: expected a Beta parameter above 0, found ${alpha}`);
  const partner = new Rng(seed * 1_000_003 + r.view).shuffle(
    Array.from({ length: ds.length }, (_, i) => i),
  );
  return {
    ...plain,
    // Mixed as in dataset order (partner and λ by dataset index), served in the view's order.
    async load(p) {
      const i = order ? order[p]! : p;
      const j = partner[i]!;
      const [a, b] = await Promise.all([ds.load(i), ds.load(j)]);
      const l = new Rng(exampleSeed(seed * 7919 + r.view, i)).beta(alpha, alpha);
      const x = new Float32Array(a.length);
      for (let k = 0; k < x.length; k++) x[k] = l * a[k]! + (1 - l) * b[k]!;
      return { x, y: l >= 0.5 ? ds.labels[i]! : ds.labels[j]! };
    },
  };
}

/**
 * Loads examples start..start+count-1 of a view (concurrently: image decoders run in parallel),
 * into `into` when given (count × input values, count labels).
 */
export async function loadRange(
  v: ViewLoader,
  start: number,
  count: number,
  into?: { x: Float32Array; y: Int32Array },
): Promise<{ x: Float32Array; y: Int32Array }> {
  const per = v.inputShape.reduce((a, b) => a * b, 1);
  const x = into?.x ?? new Float32Array(count * per);
  const y = into?.y ?? new Int32Array(count);
  if (x.length !== count * per || y.length !== count)
    throw new RangeError(`loadRange: buffers for ${count} examples of ${per} values expected`);
  const group = 16;
  for (let s = 0; s < count; s += group) {
    const m = Math.min(group, count - s);
    const got = await Promise.all(Array.from({ length: m }, (_, k) => v.load(start + s + k)));
    got.forEach((e, k) => {
      x.set(e.x, (s + k) * per);
      y[s + k] = e.y;
    });
  }
  return { x, y };
}
