// Real-input FFT (power-of-two size) written for the audio frontends: the n real samples are
// packed as n/2 complex values, transformed with an iterative radix-2 FFT, then split into the
// n/2+1 bins of the real spectrum. Twiddles and the bit-reversal table are computed once.

export class RealFft {
  readonly size: number;
  readonly bins: number;
  private readonly half: number;
  private readonly bitrev: Uint32Array;
  /** cos/sin of -2πk/half for the half-size complex FFT. */
  private readonly cosHalf: Float64Array;
  private readonly sinHalf: Float64Array;
  /** cos/sin of -2πk/size for the final real split. */
  private readonly cosFull: Float64Array;
  private readonly sinFull: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 4 || (size & (size - 1)) !== 0) {
      throw new RangeError(`RealFft size must be a power of two >= 4, got ${size}`);
    }
    this.size = size;
    this.bins = size / 2 + 1;
    const half = (this.half = size / 2);
    const bits = Math.log2(half);
    this.bitrev = new Uint32Array(half);
    for (let i = 0; i < half; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.bitrev[i] = r;
    }
    this.cosHalf = new Float64Array(half / 2);
    this.sinHalf = new Float64Array(half / 2);
    for (let k = 0; k < half / 2; k++) {
      this.cosHalf[k] = Math.cos((-2 * Math.PI * k) / half);
      this.sinHalf[k] = Math.sin((-2 * Math.PI * k) / half);
    }
    this.cosFull = new Float64Array(half + 1);
    this.sinFull = new Float64Array(half + 1);
    for (let k = 0; k <= half; k++) {
      this.cosFull[k] = Math.cos((-2 * Math.PI * k) / size);
      this.sinFull[k] = Math.sin((-2 * Math.PI * k) / size);
    }
    this.re = new Float64Array(half);
    this.im = new Float64Array(half);
  }

  /**
   * Spectrum of `input` (`size` real values; fewer are zero-padded). Writes real and imaginary
   * parts of bins 0..maxBin (default size/2) into `outRe`/`outIm` (each at least `bins` long).
   */
  transform(
    input: ArrayLike<number>,
    outRe: Float64Array,
    outIm: Float64Array,
    maxBin = this.bins - 1,
  ): void {
    const { half, re, im, bitrev } = this;
    const n = Math.min(input.length, this.size);
    // Pack even samples as real, odd as imaginary, in bit-reversed order.
    for (let i = 0; i < half; i++) {
      const j = bitrev[i]!;
      const e = 2 * i;
      re[j] = e < n ? input[e]! : 0;
      im[j] = e + 1 < n ? input[e + 1]! : 0;
    }
    const { cosHalf, sinHalf } = this;
    // First stage (len 2): twiddle 1, no multiplies.
    for (let a = 0; a < half; a += 2) {
      const b = a + 1;
      const tr = re[b]!;
      const ti = im[b]!;
      re[b] = re[a]! - tr;
      im[b] = im[a]! - ti;
      re[a] = re[a]! + tr;
      im[a] = im[a]! + ti;
    }
    for (let len = 4; len <= half; len <<= 1) {
      const step = half / len;
      const h = len >> 1;
      // Twiddle-outer order: each twiddle is loaded once per stage.
      for (let k = 0; k < h; k++) {
        const wr = cosHalf[k * step]!;
        const wi = sinHalf[k * step]!;
        for (let a = k; a < half; a += len) {
          const b = a + h;
          const br = re[b]!;
          const bi = im[b]!;
          const xr = br * wr - bi * wi;
          const xi = br * wi + bi * wr;
          const ar = re[a]!;
          const ai = im[a]!;
          re[b] = ar - xr;
          im[b] = ai - xi;
          re[a] = ar + xr;
          im[a] = ai + xi;
        }
      }
    }
    // Split: X[k] = E[k] + W^k O[k], with E/O recovered from Z[k] and conj(Z[half-k]).
    const { cosFull, sinFull } = this;
    const last = Math.min(maxBin, half);
    for (let k = 0; k <= last; k++) {
      const k1 = k === half ? 0 : k;
      const k2 = k === 0 ? 0 : half - k;
      const zr = re[k1]!;
      const zi = im[k1]!;
      const cr = re[k2]!;
      const ci = -im[k2]!;
      const er = 0.5 * (zr + cr);
      const ei = 0.5 * (zi + ci);
      // O = (Z - conj(Z[half-k])) / 2i
      const or = 0.5 * (zi - ci);
      const oi = -0.5 * (zr - cr);
      const wr = cosFull[k]!;
      const wi = sinFull[k]!;
      outRe[k] = er + or * wr - oi * wi;
      outIm[k] = ei + or * wi + oi * wr;
    }
  }
}
