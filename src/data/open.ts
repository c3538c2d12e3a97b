// Dataset specs: `KIND:PATH[?key=value&key=value]`, e.g. `speech-commands:data/sc?split=validation`.

import { TinypruneError } from '../graph/types.js';
import type { Dataset } from './dataset.js';
import {
  type EembcKwsOptions,
  openEembcKws,
  openSpeechCommands,
  type SpeechCommandsOptions,
} from './kws.js';
import { openEembcVww, openVwwFolders, type VwwFoldersOptions } from './vww.js';
import { openSyntheticSpec } from './synthetic.js';
import { openFashionMnistSpec } from './fashion-mnist.js';

export type OpenDatasetOptions = SpeechCommandsOptions & EembcKwsOptions & VwwFoldersOptions;

export const DATASET_KINDS = [
  'speech-commands',
  'eembc-kws',
  'eembc-vww',
  'vww-folders',
  'synthetic',
  'fashion-mnist',
] as const;

const STRING_KEYS = new Set(['features', 'split', 'noiseDir']);

/** Parses `?key=value` options of a spec (numbers, booleans, and `inputShape=96x96x1`). */
function parseQuery(query: string, spec: string): Partial<OpenDatasetOptions> {
  const out: Record<string, unknown> = {};
  for (const part of query.split('&').filter(Boolean)) {
    const [key, value] = part.split('=') as [string, string | undefined];
    if (value === undefined)
      throw new TinypruneError(`dataset spec ${spec}: expected key=value options, found '${part}'`);
    if (key === 'inputShape') out[key] = value.split('x').map(Number);
    else if (key === 'quantized' || key === 'cache') out[key] = value === 'true' || value === '1';
    else if (key === 'seed' || key === 'augmentSeed') out.augment = { seed: Number(value) };
    else if (STRING_KEYS.has(key)) out[key] = value;
    else
      throw new TinypruneError(
        `dataset spec ${spec}: unknown option '${key}' (known: features, split, noiseDir, inputShape, quantized, cache, augmentSeed)`,
      );
  }
  return out as Partial<OpenDatasetOptions>;
}

/** Opens a dataset from a spec string (see docs/datasets.md); `opts` add to the spec's options. */
export async function openDataset(spec: string, opts: OpenDatasetOptions = {}): Promise<Dataset> {
  const m = /^([a-z-]+):(.+)$/.exec(spec);
  if (!m || !(DATASET_KINDS as readonly string[]).includes(m[1]!)) {
    throw new TinypruneError(
      `dataset spec '${spec}': expected KIND:PATH with KIND one of ${DATASET_KINDS.join(', ')}`,
    );
  }
  const [, kind, rest] = m as unknown as [string, string, string];
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  // Generated data parses its own options (n, seed, size).
  if (kind === 'synthetic') return openSyntheticSpec(path, q >= 0 ? rest.slice(q + 1) : '', spec);
  // So does Fashion-MNIST (split, limit, testLimit).
  if (kind === 'fashion-mnist')
    return openFashionMnistSpec(path, q >= 0 ? rest.slice(q + 1) : '', spec);
  const options = { ...(q >= 0 ? parseQuery(rest.slice(q + 1), spec) : {}), ...opts };
  switch (kind) {
    case 'speech-commands':
      return openSpeechCommands(path, options);
    case 'eembc-kws':
      return openEembcKws(path, options);
    case 'eembc-vww':
      return openEembcVww(path, options);
    default:
      return openVwwFolders(path, options);
  }
}
