// Seeded pseudo-random numbers for every random choice in tinyprune (shuffles, splits,
// augmentation, initialisers). mulberry32: tiny, fast, and good enough for ML bookkeeping.

/** A seeded random stream. The same seed always gives the same sequence. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed))
      throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    // Mix the seed so that nearby seeds (0, 1, 2…) start far apart.
    this.state = hashSeed(Math.floor(seed));
  }

  /** A 32-bit unsigned integer. */
  nextUint32(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Rng.int needs n >= 1, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    let u = this.next();
    while (u === 0) u = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** Gamma(shape, 1) (Marsaglia–Tsang; shapes below 1 boosted by U^(1/shape)). */
  gamma(shape: number): number {
    if (!(shape > 0)) throw new RangeError(`Rng.gamma needs shape > 0, got ${shape}`);
    if (shape < 1) {
      let u = this.next();
      while (u === 0) u = this.next();
      return this.gamma(shape + 1) * u ** (1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.next();
      if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v)))
        return d * v;
    }
  }

  /** Beta(a, b), from two gamma draws. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    return x / (x + this.gamma(b));
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }

  /** A new independent stream derived from this one (for per-worker or per-epoch streams). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

/** 0..n-1 in a seeded random order. */
export function permutation(n: number, seed: number): number[] {
  return new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** The seed of example `index`'s own stream under a set-wide seed (order-free augmentation). */
export function exampleSeed(seed: number, index: number): number {
  return hashSeed(Math.floor(seed) ^ hashSeed(index + 0x5bd1e995)) >>> 0;
}

function hashSeed(seed: number): number {
  let h = (seed ^ 0x9e3779b9) | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}
