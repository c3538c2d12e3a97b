// Accuracy with an honest uncertainty: the 95% Wilson score interval, which stays inside [0, 1]
// and behaves at 0% / 100% and small n, where the normal approximation does not.
import type { AccuracyStat } from './types.js';

/** Two-sided 95% standard-normal quantile. */
export const Z95 = 1.959963984540054;

/** `correct` of `n` right, with its 95% Wilson score interval. */
export function wilson(correct: number, n: number): AccuracyStat {
  if (!Number.isInteger(n) || n <= 0)
    throw new RangeError(`wilson: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(correct) || correct < 0 || correct > n)
    throw new RangeError(`wilson: correct must be an integer in [0, ${n}], got ${correct}`);
  const p = correct / n;
  const z2 = Z95 * Z95;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (Z95 / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // At p = 0 or 1 the exact bound is 0 or 1; clamp away rounding noise.
  const low = correct === 0 ? 0 : Math.max(0, centre - half);
  const high = correct === n ? 1 : Math.min(1, centre + half);
  return { correct, n, accuracy: p, ci95: [low, high] };
}
