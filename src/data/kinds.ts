// The dataset kinds, in one table: how a `KIND:PATH` spec opens, which partitions the data
// defines itself, how its training examples are augmented, and which task (and so which default
// schedule) it belongs to. Adding a kind is one entry in KINDS; the compiler checks that every
// kind has one (Record<DatasetKind, ...>).

import { TinypruneError } from '../graph/types.js';
import type { Dataset } from './dataset.js';
import {
  type EembcKwsOptions,
  isSpeechCommandsRelease,
  openEembcKws,
  openSpeechCommands,
  type SpeechCommandsOptions,
} from './kws.js';
import { openSyntheticSpec } from './synthetic.js';
import { openEembcIc } from './ic.js';
import { openFashionMnistSpec } from './fashion-mnist.js';
import { openEembcVww, openVwwFolders, splitFolderOf, type VwwFoldersOptions } from './vww.js';

/**
 * What a model does with the data: picks the paper's schedule and the best recipe
 * (src/prune/recipe.ts). `image` is any other image classifier (no paper schedule of its own:
 * it gets the MLPerf image schedule).
 */
export type Task = 'kws' | 'vww' | 'image';
export const TASKS = ['kws', 'vww', 'image'] as const satisfies readonly Task[];

/** The three partitions prune, sweep and run work with. */
export type Partition = 'train' | 'val' | 'test';
export const PARTITIONS = ['train', 'val', 'test'] as const satisfies readonly Partition[];

/** How a kind's training examples are augmented (one seeded stream per view). */
export type Augmentation = 'audio-noise' | 'image' | 'none';

export type OpenDatasetOptions = SpeechCommandsOptions & EembcKwsOptions & VwwFoldersOptions;

/** Partitions a dataset's files define, with where each came from (for result files). */
export interface OwnPartitions {
  parts: Partial<Record<Partition, Dataset>>;
  /** E.g. 'validation_list.txt / testing_list.txt' or 'train/ val/ test/ folders'. */
  source: string;
  /**
   * With train and test parts but no validation part: the share of the training part held out
   * to validate (default: the fallback's proportions, 75/25).
   */
  valFraction?: number;
}

export interface KindEntry {
  task: Task;
  /** One line for docs and errors. */
  summary: string;
  augmentation: Augmentation;
  /** Opens PATH; `query` is the spec's text after '?', `spec` the whole spec for messages. */
  open(path: string, query: string, spec: string, opts: OpenDatasetOptions): Promise<Dataset>;
  /**
   * The partitions the data at PATH defines itself, or undefined when it defines none (then
   * 60/20/20 is the fallback). A set that is only a test set (an EEMBC evaluation set) says so
   * here; used as --data it has no training partition and is split like any pool.
   */
  partitions?(
    path: string,
    query: string,
    spec: string,
    open?: OpenDatasetOptions,
  ): Promise<OwnPartitions | undefined>;
}

/** Options keys that keep their text (the others are numbers or booleans). */
const STRING_KEYS = new Set(['features', 'split', 'noiseDir']);

/** The `?key=value` options each file kind reads (synthetic and fashion-mnist parse their own). */
const QUERY_KEYS = {
  'speech-commands': ['features', 'split', 'noiseDir', 'cache', 'augmentSeed', 'seed'],
  'eembc-kws': ['features', 'quantized'],
  'eembc-vww': ['cache', 'augmentSeed', 'seed'],
  'eembc-ic': ['cache'],
  'vww-folders': ['inputShape', 'split', 'cache', 'augmentSeed', 'seed'],
} as const satisfies Record<string, readonly string[]>;
type QueryKind = keyof typeof QUERY_KEYS;

/**
 * Parses `?key=value` options of a spec (numbers, booleans, and `inputShape=96x96x1`); a key the
 * kind does not read is refused with the list of those it does.
 */
export function parseQuery(
  query: string,
  spec: string,
  kind?: QueryKind,
): Partial<OpenDatasetOptions> {
  const known: readonly string[] = kind
    ? QUERY_KEYS[kind]
    : ['features', 'split', 'noiseDir', 'inputShape', 'quantized', 'cache', 'augmentSeed'];
  const out: Record<string, unknown> = {};
  for (const part of query.split('&').filter(Boolean)) {
    const [key, value] = part.split('=') as [string, string | undefined];
    if (value === undefined)
      throw new TinypruneError(`dataset spec ${spec}: expected key=value options, found '${part}'`);
    if (!known.includes(key))
      throw new TinypruneError(
        `dataset spec ${spec}: unknown option '${key}'${kind ? ` for ${kind}` : ''} (known: ${known.filter((k) => k !== 'seed').join(', ')})`,
      );
    if (key === 'inputShape') out[key] = value.split('x').map(Number);
    else if (key === 'quantized' || key === 'cache') out[key] = value === 'true' || value === '1';
    else if (key === 'seed' || key === 'augmentSeed') out.augment = { seed: Number(value) };
    else if (STRING_KEYS.has(key)) out[key] = value;
  }
  return out as Partial<OpenDatasetOptions>;
}

const merged = (
  query: string,
  spec: string,
  opts: OpenDatasetOptions,
  kind: QueryKind,
): OpenDatasetOptions => ({
  ...parseQuery(query, spec, kind),
  ...opts,
});

/** An evaluation set: its whole content is a test partition. */
const testOnly =
  (open: KindEntry['open']) =>
  async (path: string, query: string, spec: string): Promise<OwnPartitions> => ({
    parts: { test: await open(path, query, spec, {}) },
    source: 'an evaluation set (test data only)',
  });

const openEembcKwsSpec: KindEntry['open'] = (path, query, spec, opts) =>
  openEembcKws(path, merged(query, spec, opts, 'eembc-kws'));
const openEembcVwwSpec: KindEntry['open'] = (path, query, spec, opts) =>
  openEembcVww(path, merged(query, spec, opts, 'eembc-vww'));
const openEembcIcSpec: KindEntry['open'] = (path, query, spec, opts) =>
  openEembcIc(path, merged(query, spec, opts, 'eembc-ic'));

export const KINDS = {
  'speech-commands': {
    task: 'kws',
    summary:
      'Speech Commands v2: the full release (word folders, validation_list.txt, testing_list.txt, _background_noise_/) or the canonical test layout (_silence_/, _unknown_/)',
    augmentation: 'audio-noise',
    open: (path, query, spec, opts) =>
      openSpeechCommands(path, merged(query, spec, opts, 'speech-commands')),
    async partitions(path, query, spec, open = {}) {
      const opts = merged(query, spec, open, 'speech-commands');
      if (!isSpeechCommandsRelease(path)) {
        // The canonical test layout is the release's test partition and nothing else.
        return {
          parts: { test: await openSpeechCommands(path, opts) },
          source: 'the canonical test layout (test data only)',
        };
      }
      // `split=train` names the training partition; another split makes the spec that one part.
      if (opts.split !== undefined && opts.split !== 'train') return undefined;
      const part = (split: 'train' | 'validation' | 'test') =>
        openSpeechCommands(path, { ...opts, split });
      return {
        parts: {
          train: await part('train'),
          val: await part('validation'),
          test: await part('test'),
        },
        source: 'validation_list.txt / testing_list.txt',
      };
    },
  },
  'eembc-kws': {
    task: 'kws',
    summary: 'EEMBC EnergyRunner KWS evaluation files (mfcc/, lfbe/ or td_samples/ + y_labels.csv)',
    augmentation: 'none',
    open: openEembcKwsSpec,
    partitions: testOnly(openEembcKwsSpec),
  },
  'eembc-vww': {
    task: 'vww',
    summary: 'EEMBC EnergyRunner VWW evaluation files (96x96x3 uint8 .bin + y_labels.csv)',
    augmentation: 'image',
    open: openEembcVwwSpec,
    partitions: testOnly(openEembcVwwSpec),
  },
  'eembc-ic': {
    task: 'image',
    summary: 'EEMBC EnergyRunner IC evaluation files (CIFAR-10 32x32x3 uint8 .bin + y_labels.csv)',
    augmentation: 'image',
    open: openEembcIcSpec,
    partitions: testOnly(openEembcIcSpec),
  },
  'vww-folders': {
    task: 'vww',
    summary:
      'person/ and non_person/ image folders (jpg/png/bmp), optionally inside train/ val/ test/',
    augmentation: 'image',
    open: (path, query, spec, opts) =>
      openVwwFolders(path, merged(query, spec, opts, 'vww-folders')),
    async partitions(path, query, spec, open = {}) {
      const opts = merged(query, spec, open, 'vww-folders');
      if (splitFolderOf(path, 'train') === undefined) return undefined;
      if (opts.split !== undefined && opts.split !== 'train') return undefined;
      const parts: OwnPartitions['parts'] = {};
      for (const p of PARTITIONS) {
        if (splitFolderOf(path, p) !== undefined)
          parts[p] = await openVwwFolders(path, { ...opts, split: p });
      }
      return { parts, source: 'train/ val/ test/ folders' };
    },
  },
  synthetic: {
    task: 'image',
    summary: 'generated shapes (no files): synthetic:shapes?n=3000&seed=1&size=32',
    augmentation: 'none',
    // Generated data parses its own options (n, seed, size).
    open: async (path, query, spec) => openSyntheticSpec(path, query, spec),
  },
  'fashion-mnist': {
    task: 'image',
    summary:
      'Fashion-MNIST IDX .gz files (Debian dataset-fashion-mnist): 60,000 train + 10,000 test, 28x28x1',
    augmentation: 'none',
    // Fashion-MNIST parses its own options (split, limit, testLimit).
    open: async (path, query, spec) => openFashionMnistSpec(path, query, spec),
    async partitions(path, query, spec) {
      const all = openFashionMnistSpec(path, query, spec);
      const part = (p: 'train' | 'test') =>
        all.subset([...all.partitions!.keys()].filter((i) => all.partitions![i] === p));
      const parts: OwnPartitions['parts'] = {};
      for (const p of ['train', 'test'] as const)
        if (all.partitions!.includes(p)) parts[p] = part(p);
      // 1/12 of the 60,000 training images validate: 55,000 train, 5,000 validation.
      return { parts, source: "the release's train and t10k files", valFraction: 1 / 12 };
    },
  },
  // ── More kinds go here, one entry each (and the name in the DatasetKind union below).
} satisfies Record<string, KindEntry>;

export type DatasetKind =
  'speech-commands' | 'eembc-kws' | 'eembc-vww' | 'eembc-ic' | 'vww-folders' | 'synthetic';
/** Checks at compile time that KINDS has exactly the kinds of the union. */
const kindTable: Record<DatasetKind, KindEntry> = KINDS;

export const DATASET_KINDS = Object.keys(kindTable) as DatasetKind[];

export interface ParsedSpec {
  kind: DatasetKind;
  entry: KindEntry;
  path: string;
  query: string;
}

/** Splits `KIND:PATH[?query]`; an unknown kind is an error listing the known ones. */
export function parseSpec(spec: string): ParsedSpec {
  const m = /^([a-z0-9-]+):(.+)$/.exec(spec);
  if (!m || !Object.hasOwn(kindTable, m[1]!)) {
    throw new TinypruneError(
      `dataset spec '${spec}': expected KIND:PATH with KIND one of ${DATASET_KINDS.join(', ')}`,
    );
  }
  const kind = m[1] as DatasetKind;
  const rest = m[2]!;
  const q = rest.indexOf('?');
  return {
    kind,
    entry: kindTable[kind],
    path: q >= 0 ? rest.slice(0, q) : rest,
    query: q >= 0 ? rest.slice(q + 1) : '',
  };
}

/** The task a dataset spec belongs to (picks the default schedule and recipe). */
export function taskOfSpec(spec: string): Task {
  return parseSpec(spec).entry.task;
}
