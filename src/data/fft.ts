// Real-input FFT (power-of-two size) written for the audio frontends: the n real samples are
// packed as n/2 complex values, transformed with an iterative radix-2 FFT, then split into the
// n/2+1 bins of the real spectrum. Twiddles and the bit-reversal table are computed once; the
// stages run two at a time (half the passes over the data) and `transformWindowed` applies the
// frame window while packing, fused with the first stage (the first two when that leaves an even
// number of stages to pair up).

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
  /** Whether windowed packing does two stages (an even stage count, at least 2). */
  private readonly packTwo: boolean;

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
    this.packTwo = bits >= 2 && bits % 2 === 0;
  }

  /** The constant tables, for a native twin of this transform (native/kernels). */
  tables() {
    const { bitrev, cosHalf, sinHalf, cosFull, sinFull } = this;
    return { bitrev, cosHalf, sinHalf, cosFull, sinFull };
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
    this.butterflies(0);
    this.split(outRe, outIm, maxBin);
  }

  /**
   * Spectrum of the windowed frame `samples[offset + i] · window[i]` (window.length ≤ size
   * values, zero-padded): `transform` of that product without materialising it.
   */
  transformWindowed(
    samples: Float32Array,
    offset: number,
    window: Float64Array,
    outRe: Float64Array,
    outIm: Float64Array,
    maxBin = this.bins - 1,
  ): void {
    const { half, re, im, bitrev } = this;
    const n = Math.min(window.length, this.size);
    if (offset < 0 || offset + n > samples.length)
      throw new RangeError(`frame ${offset}..${offset + n} lies outside ${samples.length} samples`);
    // Packing fused with the first stage: bit-reversed positions a and a + 1 hold complex
    // inputs p and p + half/2 (the first stage's pair), so both are read and combined at once.
    if (n === this.size && this.packTwo) {
      // A full-length window and an even number of stages: the packing also does the second
      // stage (positions a..a+3 hold complex inputs p, p + half/2, p + half/4, p + 3half/4),
      // so the stages left pair up and no single-stage pass remains (512: 5 passes → 4).
      const q = half / 2;
      const c1 = this.cosHalf[half / 4]!;
      const s1 = this.sinHalf[half / 4]!;
      const c0 = this.cosHalf[0]!;
      const s0 = this.sinHalf[0]!;
      for (let a = 0; a < half; a += 4) {
        const e = offset + 2 * bitrev[a]!;
        const w = e - offset;
        const p0r = samples[e]! * window[w]!;
        const p0i = samples[e + 1]! * window[w + 1]!;
        const p1r = samples[e + half]! * window[w + half]!;
        const p1i = samples[e + half + 1]! * window[w + half + 1]!;
        const p2r = samples[e + q]! * window[w + q]!;
        const p2i = samples[e + q + 1]! * window[w + q + 1]!;
        const p3r = samples[e + q + half]! * window[w + q + half]!;
        const p3i = samples[e + q + half + 1]! * window[w + q + half + 1]!;
        // Stage 1 (twiddle 1) on (a, a+1) and (a+2, a+3).
        const a0r = p0r + p1r;
        const a0i = p0i + p1i;
        const a1r = p0r - p1r;
        const a1i = p0i - p1i;
        const a2r = p2r + p3r;
        const a2i = p2i + p3i;
        const a3r = p2r - p3r;
        const a3i = p2i - p3i;
        // Stage 2 with the table's twiddles 0 and half/4, as the general stage multiplies them.
        let xr = a2r * c0 - a2i * s0;
        let xi = a2r * s0 + a2i * c0;
        re[a] = a0r + xr;
        im[a] = a0i + xi;
        re[a + 2] = a0r - xr;
        im[a + 2] = a0i - xi;
        xr = a3r * c1 - a3i * s1;
        xi = a3r * s1 + a3i * c1;
        re[a + 1] = a1r + xr;
        im[a + 1] = a1i + xi;
        re[a + 3] = a1r - xr;
        im[a + 3] = a1i - xi;
      }
      this.butterflies(2);
      this.split(outRe, outIm, maxBin);
      return;
    }
    if (n === this.size) {
      // A full-length window (zero-padded by the caller, e.g. 480 Hann values and 32 zeros):
      // no bounds to test per sample.
      for (let a = 0; a < half; a += 2) {
        const e = offset + 2 * bitrev[a]!;
        const w = e - offset;
        const pr = samples[e]! * window[w]!;
        const pi = samples[e + 1]! * window[w + 1]!;
        const qr = samples[e + half]! * window[w + half]!;
        const qi = samples[e + half + 1]! * window[w + half + 1]!;
        re[a] = pr + qr;
        im[a] = pi + qi;
        re[a + 1] = pr - qr;
        im[a + 1] = pi - qi;
      }
      this.butterflies(1);
      this.split(outRe, outIm, maxBin);
      return;
    }
    for (let a = 0; a < half; a += 2) {
      const e = 2 * bitrev[a]!;
      const g = e + half;
      const pr = e < n ? samples[offset + e]! * window[e]! : 0;
      const pi = e + 1 < n ? samples[offset + e + 1]! * window[e + 1]! : 0;
      const qr = g < n ? samples[offset + g]! * window[g]! : 0;
      const qi = g + 1 < n ? samples[offset + g + 1]! * window[g + 1]! : 0;
      re[a] = pr + qr;
      im[a] = pi + qi;
      re[a + 1] = pr - qr;
      im[a + 1] = pi - qi;
    }
    this.butterflies(1);
    this.split(outRe, outIm, maxBin);
  }

  /**
   * The radix-2 decimation-in-time stages on the bit-reversed re/im, two stages per pass over
   * the data (the arithmetic of each butterfly, twiddles included, is that of one stage at a
   * time, so results are unchanged; the pass count, i.e. loads and stores, is halved).
   */
  private butterflies(done: 0 | 1 | 2): void {
    const { half, re, im, cosHalf, sinHalf } = this;
    // First stage (len 2): twiddle 1, no multiplies (callers may have done it while packing).
    for (let a = 0; done === 0 && a < half; a += 2) {
      const b = a + 1;
      const tr = re[b]!;
      const ti = im[b]!;
      re[b] = re[a]! - tr;
      im[b] = im[a]! - ti;
      re[a] = re[a]! + tr;
      im[a] = im[a]! + ti;
    }
    let len = done === 2 ? 8 : 4;
    // Stages len and 2·len together: elements a, a+h, a+2h, a+3h of a 2·len block (h = len/2).
    for (; 2 * len <= half; len <<= 2) {
      const h = len >> 1;
      const step1 = half / len;
      const step2 = step1 >> 1;
      for (let k = 0; k < h; k++) {
        // Stage len: twiddle k for both pairs; stage 2·len: twiddles k and k + h.
        const w1r = cosHalf[k * step1]!;
        const w1i = sinHalf[k * step1]!;
        const w2r = cosHalf[k * step2]!;
        const w2i = sinHalf[k * step2]!;
        const w3r = cosHalf[(k + h) * step2]!;
        const w3i = sinHalf[(k + h) * step2]!;
        for (let i0 = k; i0 < half; i0 += 2 * len) {
          const i1 = i0 + h;
          const i2 = i1 + h;
          const i3 = i2 + h;
          // Stage len on (i0, i1) and (i2, i3).
          let br = re[i1]!;
          let bi = im[i1]!;
          let xr = br * w1r - bi * w1i;
          let xi = br * w1i + bi * w1r;
          const r0 = re[i0]!;
          const j0 = im[i0]!;
          const a0r = r0 + xr;
          const a0i = j0 + xi;
          const a1r = r0 - xr;
          const a1i = j0 - xi;
          br = re[i3]!;
          bi = im[i3]!;
          xr = br * w1r - bi * w1i;
          xi = br * w1i + bi * w1r;
          const r2 = re[i2]!;
          const j2 = im[i2]!;
          const a2r = r2 + xr;
          const a2i = j2 + xi;
          const a3r = r2 - xr;
          const a3i = j2 - xi;
          // Stage 2·len on (i0, i2) with twiddle k and (i1, i3) with twiddle k + h.
          xr = a2r * w2r - a2i * w2i;
          xi = a2r * w2i + a2i * w2r;
          re[i2] = a0r - xr;
          im[i2] = a0i - xi;
          re[i0] = a0r + xr;
          im[i0] = a0i + xi;
          xr = a3r * w3r - a3i * w3i;
          xi = a3r * w3i + a3i * w3r;
          re[i3] = a1r - xr;
          im[i3] = a1i - xi;
          re[i1] = a1r + xr;
          im[i1] = a1i + xi;
        }
      }
    }
    // An odd number of stages leaves one single stage.
    for (; len <= half; len <<= 1) {
      const step = half / len;
      const h = len >> 1;
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
  }

  /** Split: X[k] = E[k] + W^k O[k], with E/O recovered from Z[k] and conj(Z[half-k]). */
  private split(outRe: Float64Array, outIm: Float64Array, maxBin: number): void {
    const { half, re, im, cosFull, sinFull } = this;
    const last = Math.min(maxBin, half);
    // Bins 0 and half pair Z[0] with itself; the loop pairs Z[k] with Z[half - k].
    {
      const r0 = re[0]!;
      const i0 = im[0]!;
      const oi = -0.5 * (r0 - r0);
      outRe[0] = r0 + i0 * cosFull[0]! - oi * sinFull[0]!;
      outIm[0] = 0.5 * (i0 - i0) + i0 * sinFull[0]! + oi * cosFull[0]!;
    }
    for (let k = 1; k <= last && k < half; k++) {
      const zr = re[k]!;
      const zi = im[k]!;
      const cr = re[half - k]!;
      const ci = -im[half - k]!;
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
    if (last === half) {
      // Z[0] with itself again, at twiddle W^half (kept as the table has it: bit-for-bit the
      // general formula).
      const wr = cosFull[half]!;
      const wi = sinFull[half]!;
      const r0 = re[0]!;
      const i0 = im[0]!;
      const oi = -0.5 * (r0 - r0);
      outRe[half] = r0 + i0 * wr - oi * wi;
      outIm[half] = 0.5 * (i0 - i0) + i0 * wi + oi * wr;
    }
  }
}
