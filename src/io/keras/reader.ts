import type { Graph } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';

/** Placeholder until the Keras reader lands (the keras helper replaces this file). */
export async function readKerasH5(_bytes: Uint8Array, source: string): Promise<Graph> {
  throw new TinypruneError(`${source}: Keras import is not implemented yet`);
}
