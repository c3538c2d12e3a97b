import type { Graph } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';

/** Placeholder until the TFLite reader lands (the tflite helper replaces this file). */
export function readTflite(_bytes: Uint8Array, source: string): Graph {
  throw new TinypruneError(`${source}: TFLite import is not implemented yet`);
}
