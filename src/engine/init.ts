// Weight initialisers drawing from the project's seeded Rng (src/data/random.ts).

import { Rng } from '../data/random.js';

export { Rng };

export function randomNormalArray(rng: Rng, length: number, std = 1): Float32Array {
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rng.normal() * std;
  return a;
}

/**
 * Glorot (Xavier) uniform init as Keras: limit sqrt(6 / (fanIn + fanOut)), where a conv's fans
 * are receptive field × in/out channels.
 */
export function glorotUniform(
  rng: Rng,
  length: number,
  fanIn: number,
  fanOut: number,
): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const a = new Float32Array(length);
  for (let i = 0; i < length; i++) a[i] = rng.uniform(-limit, limit);
  return a;
}
