// Dataset specs: `KIND:PATH[?key=value&key=value]`, e.g. `speech-commands:data/sc?split=validation`.
// The kinds themselves live in one table (src/data/kinds.ts).

import type { Dataset } from './dataset.js';
import { DATASET_KINDS, type OpenDatasetOptions, parseSpec } from './kinds.js';

export { DATASET_KINDS, type OpenDatasetOptions };

/** Opens a dataset from a spec string (see docs/datasets.md); `opts` add to the spec's options. */
export async function openDataset(spec: string, opts: OpenDatasetOptions = {}): Promise<Dataset> {
  const { entry, path, query } = parseSpec(spec);
  return entry.open(path, query, spec, opts);
}
