import { TinypruneError } from '../graph/types.js';
import { Rng } from '../data/random.js';

/** n examples of `x.length / n` values each, with their labels. */
export interface Examples {
  x: Float32Array;
  y: Int32Array;
  n: number;
}

/** Mixup settings for the views of one training run: Beta(alpha, alpha), seeded. */
export interface MixSettings {
  alpha: number;
  seed: number;
}

export interface Mixed extends Examples {
  /** The weight λ of example i in row i; the partner's weight is 1 − λ. */
  lambda: Float32Array;
  /** The example mixed into row i. */
  partner: Int32Array;
}

/**
 * Mixup (Zhang et al., 2018) of a set with a seeded shuffle of itself: row i is
 * λ·x_i + (1 − λ)·x_partner with λ ~ Beta(alpha, alpha), labelled as its larger part.
 * Meant for distillation, where the teacher scores the mixed input itself: mixed inputs show the
 * student the teacher's function between the training examples, not only at them.
 */
export function mixup(a: Examples, alpha: number, seed: number): Mixed {
  if (!(alpha > 0) || !Number.isFinite(alpha))
    throw new TinypruneError(`--mixup: expected a Beta parameter above 0, found ${alpha}`);
  const rng = new Rng(seed);
  const partner = Int32Array.from(rng.shuffle(Array.from({ length: a.n }, (_, i) => i)));
  const lambda = new Float32Array(a.n);
  const size = a.x.length / a.n;
  const x = new Float32Array(a.x.length);
  const y = new Int32Array(a.n);
  for (let i = 0; i < a.n; i++) {
    lambda[i] = rng.beta(alpha, alpha);
    const l = lambda[i]!;
    const j = partner[i]!;
    const xi = a.x.subarray(i * size, (i + 1) * size);
    const xj = a.x.subarray(j * size, (j + 1) * size);
    const row = x.subarray(i * size, (i + 1) * size);
    for (let k = 0; k < size; k++) row[k] = l * xi[k]! + (1 - l) * xj[k]!;
    y[i] = l >= 0.5 ? a.y[i]! : a.y[j]!;
  }
  return { x, y, n: a.n, lambda, partner };
}
