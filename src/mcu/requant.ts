// Exact, cheap requantisation for ReLU-family layers on a core without a 32x32→64 multiply.
//
// With the ReLU clamp at the output zero point, x ≤ 0 always gives the low clamp, and TFLite's
// MultiplyByQuantizedMultiplier f is monotone for x > 0, so every x ≥ T (a per-channel threshold
// found here exactly) gives the high clamp. Only 0 < x < T needs arithmetic, and there f is a
// staircase of at most 255 steps. We reproduce f + zo (zo: offset-binary output zero point) with
//   g(x) = ⌊(x·M + rnd·2^16) / 2^n⌋,  M = mh + ml·2^16 < 2^32, rnd holding zo·2^(n−16),
// evaluated with 16x16-bit products, n = 32 + sh the same for every channel of a layer (so the
// kernel keeps the shift in a register and loads only {M, rnd, T} per output, with one LDM):
// - x < 2^16: g = (x·mh + ((x·ml) >> 16) + rnd) >> (16 + sh);
// - x ≥ 2^16 ('mul4' layers only): x = xh·2^16 + xl, w = xh·ml + xl·mh + ((xl·ml) >> 16) + rnd,
//   g = (xh·mh + (w >> 16)) >> sh.
// M and rnd are chosen per channel so that g equals f + zo at every step (both are monotone, so
// equal steps mean equal functions on (0, T)) and no 32-bit sum overflows. Channels that fit no
// (M, rnd) at the layer's n (multipliers above 1) run the general 64-bit routine on their own.
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../quant/fixedpoint.js';

export type RequantPath = 'mul2' | 'mul4' | 'general';

export interface RequantPlan {
  path: RequantPath;
  /** Per channel: [mh | ml << 16 (M = mh·2^16 + ml), rnd, t] (int32 each) for the fast paths. */
  table: Int32Array;
  /** The layer's n − 32 (fast paths). */
  sh: number;
  /** Per channel (the general path): Q31 multiplier and shift. */
  mult: number[];
  shift: number[];
  /** Fast paths only: channels that run the general 64-bit routine; absent when none. */
  slow?: boolean[];
}

const TWO_16 = 65536;
const TWO_32 = 4294967296;
/** Largest n tried: (255 · 2^(n−16)) must stay below 2^32 for the sums not to overflow. */
const N_MAX = 39;

interface Fit {
  M: number;
  rnd: number;
}

/** The steps of f on [x0, X): f(x0) and the first x of every higher value. */
function staircase(f: (x: number) => number, slope: number, x0: number, X: number) {
  const empty = X <= x0;
  const v0 = empty ? 0 : f(x0);
  const vmax = empty ? 0 : f(X - 1);
  const xs: number[] = [];
  for (let v = v0 + 1; v <= vmax; v++) {
    let x = Math.min(X - 1, Math.max(x0 + 1, Math.ceil((v - 0.5) / slope)));
    while (x > x0 + 1 && f(x - 1) >= v) x--;
    while (f(x) < v) x++;
    xs.push(x);
  }
  return { x0, v0, vmax, xs };
}

/** M and rnd (zo folded in) of one channel at the layer's n, or undefined when none is exact and safe. */
function fitChannel(
  steps: ReturnType<typeof staircase>,
  slope: number,
  X: number,
  n: number,
  zo: number,
): Fit | undefined {
  const xm = Math.max(X - 1, 0);
  const { x0, v0, vmax, xs } = steps;
  const P = 1n << BigInt(n);
  const Z = BigInt(zo) * P;
  const ok = (M: number, rnd: number) => {
    if (rnd >= TWO_32) return false;
    // No 32-bit sum may overflow for any x < X (each term is monotone in x).
    const mh = Math.floor(M / TWO_16);
    const ml = M % TWO_16;
    const x2 = Math.min(xm, TWO_16 - 1);
    if (x2 * mh + Math.floor((x2 * ml) / TWO_16) + rnd >= TWO_32) return false;
    if (xm < TWO_16) return true;
    const xh = Math.floor(xm / TWO_16);
    const w = xh * ml + x2 * mh + Math.floor((x2 * ml) / TWO_16) + rnd;
    return w < TWO_32 && xh * mh + Math.floor(w / TWO_16) < TWO_32;
  };
  // f constant on the range: g = rnd >> (n − 16).
  if (vmax === v0) {
    const rnd = Number((BigInt(v0) * P + Z) >> 16n);
    return ok(0, rnd) ? { M: 0, rnd } : undefined;
  }
  const ideal = slope * 2 ** n;
  for (const M of [Math.round(ideal), Math.floor(ideal), Math.ceil(ideal) + 1]) {
    if (M < 1 || M >= TWO_32) continue;
    const bM = BigInt(M);
    // rnd·2^16 − zo·2^n must lie in [lower, upper].
    let lower = BigInt(v0) * P - BigInt(x0) * bM;
    let upper = BigInt(v0 + 1) * P - BigInt(x0) * bM - 1n;
    const top2 = BigInt(vmax + 1) * P - BigInt(xm) * bM - 1n;
    if (top2 < upper) upper = top2;
    for (let k = 0; k < xs.length && lower <= upper; k++) {
      const v = BigInt(v0 + 1 + k) * P;
      const x = BigInt(xs[k]!);
      const lo = v - x * bM;
      const hi = v - (x - 1n) * bM - 1n;
      if (lo > lower) lower = lo;
      if (hi < upper) upper = hi;
    }
    lower += Z;
    upper += Z;
    if (lower < 0n) lower = 0n;
    const rnd = Number((lower + 65535n) >> 16n);
    if (BigInt(rnd) << 16n > upper || !ok(M, rnd)) continue;
    return { M, rnd };
  }
  return undefined;
}

/**
 * One channel's requantisation over its positive accumulators (x ≤ 0 gives lo): f, the range
 * [x0, t) below the clamp — t the smallest x ≤ the reachable bound with f(x) + zp ≥ hi, found by
 * bisection (f rises with x), else bound + 1 — and f's slope.
 */
function channelCurve(
  multiplier: number,
  shift: number,
  zp: number,
  hi: number,
  accMin: number,
  accMax: number,
) {
  const f = (x: number) => multiplyByQuantizedMultiplier(x, multiplier, shift);
  const x0 = Math.max(accMin, 1);
  const bound = Math.max(accMax, x0);
  let t = bound + 1;
  if (f(bound) + zp >= hi) {
    let a = x0;
    let b = bound;
    while (a < b) {
      const mid = Math.floor((a + b) / 2);
      if (f(mid) + zp >= hi) b = mid;
      else a = mid + 1;
    }
    t = a;
  }
  return { f, x0, t, slope: multiplier * 2 ** (shift - 31) };
}

/**
 * Plans the requantisation of one layer. `accMin/accMax` bound each channel's accumulator (all
 * inputs in range); lo/hi are the int8 clamp and zp the output zero point.
 */
export function planRequant(
  scales: number[],
  zp: number,
  lo: number,
  hi: number,
  accMin: number[],
  accMax: number[],
): RequantPlan {
  const n = scales.length;
  const mult: number[] = [];
  const shift: number[] = [];
  for (const s of scales) {
    const r = quantizeMultiplier(s);
    mult.push(r.multiplier);
    shift.push(r.shift);
  }
  const general: RequantPlan = {
    path: 'general',
    table: new Int32Array(0),
    sh: 0,
    mult,
    shift,
  };
  if (lo !== zp) return general;
  const T: number[] = [];
  // Per channel, what fitting needs; undefined for channels no fast form can take.
  const stairs: ({ steps: ReturnType<typeof staircase>; slope: number } | undefined)[] = [];
  for (let c = 0; c < n; c++) {
    const { f, x0, t, slope } = channelCurve(mult[c]!, shift[c]!, zp, hi, accMin[c]!, accMax[c]!);
    T.push(t);
    stairs.push(
      t >= 2 ** 31 || slope >= 1 ? undefined : { steps: staircase(f, slope, x0, t), slope },
    );
  }
  // The largest n (the finest multipliers) at which every channel fits, else the one at which
  // most do; the rest run the general routine.
  const zo = zp + 128;
  let best: (Fit | undefined)[] = [];
  let bestN = 32;
  for (let nn = N_MAX; nn >= 32; nn--) {
    const fits = stairs.map((st, c) => st && fitChannel(st.steps, st.slope, T[c]!, nn, zo));
    const count = fits.filter(Boolean).length;
    if (count > best.filter(Boolean).length) {
      best = fits;
      bestN = nn;
    }
    if (count === n) break;
  }
  if (!best.some(Boolean)) return general;
  const chosen = best;
  const path = chosen.every((f, c) => !f || T[c]! <= TWO_16) ? 'mul2' : 'mul4';
  const table = new Int32Array(3 * n);
  const slow = chosen.map((x) => !x);
  chosen.forEach((fit, c) => {
    table[3 * c + 2] = slow[c] ? 0x7fffffff : T[c]!;
    if (!fit) return; // M = rnd = 0: g = 0, then the general routine
    table[3 * c] = Math.floor(fit.M / TWO_16) | ((fit.M % TWO_16) << 16) | 0;
    table[3 * c + 1] = fit.rnd | 0;
  });
  const sh = bestN - 32;
  return slow.some(Boolean)
    ? { path, table, sh, mult, shift, slow }
    : { path, table, sh, mult, shift };
}

/** The fast formula in TypeScript (uint32 arithmetic as the C code does it), for tests. */
export function fastRequantRef(
  x: number,
  plan: RequantPlan,
  c: number,
  zp: number,
  lo: number,
  hi: number,
): number {
  const tb = plan.table;
  if (plan.slow?.[c])
    return Math.min(
      hi,
      Math.max(lo, multiplyByQuantizedMultiplier(x, plan.mult[c]!, plan.shift[c]!) + zp),
    );
  if (x <= 0) return lo;
  if (x >= tb[3 * c + 2]!) return hi;
  const mh = tb[3 * c]! & 0xffff;
  const ml = tb[3 * c]! >>> 16;
  const rnd = tb[3 * c + 1]! >>> 0;
  const mul = (p: number, q: number) => Math.imul(p, q) >>> 0;
  // Offset-binary result (zo folded into rnd), back to int8.
  if (x < TWO_16)
    return (((mul(x, mh) + (mul(x, ml) >>> 16) + rnd) >>> 0) >>> (16 + plan.sh)) - 128;
  if (plan.path !== 'mul4')
    throw new Error(`x = ${x} ≥ 2^16 in a 'mul2' layer below its threshold`);
  const xl = x & 0xffff;
  const xh = x >>> 16;
  const w = (mul(xh, ml) + mul(xl, mh) + (mul(xl, ml) >>> 16) + rnd) >>> 0;
  return (((mul(xh, mh) + (w >>> 16)) >>> 0) >>> plan.sh) - 128;
}

/** The table entry of the fast paths (kernels.ts loads it with one LDM): M = mh | ml << 16. */
export const REQUANT_C = `typedef struct { uint32_t m; uint32_t rnd; int32_t t; } tp_rq_t;
`;

/**
 * One channel's single-multiply requantisation for the depthwise line kernel: for 0 < x < t,
 * f(x) + zo = (x·m + r mod 2^32) >> n with n ≤ 24 (so x·m + r < 256·2^n never overflows);
 * x ≤ 0 gives lo and x ≥ t gives hi, as in the fast paths above.
 */
export interface OneMul {
  m: number;
  r: number;
  n: number;
  t: number;
}

/** n ≤ 24 keeps x·m + r below 2^32 wherever the result is a byte. */
const N1_MAX = 24;

/**
 * Single-multiply forms for a ReLU-family layer (lo = zp), per channel; undefined for channels
 * none fits (multipliers at or above 1, or a staircase a 32-bit product cannot follow).
 */
export function planOneMul(
  scales: number[],
  zp: number,
  lo: number,
  hi: number,
  accMin: number[],
  accMax: number[],
): (OneMul | undefined)[] {
  const zo = zp + 128;
  return scales.map((s, c) => {
    if (lo !== zp) return undefined;
    const { multiplier, shift } = quantizeMultiplier(s);
    const { f, x0, t, slope } = channelCurve(multiplier, shift, zp, hi, accMin[c]!, accMax[c]!);
    if (t >= 2 ** 31 || slope >= 1) return undefined;
    const steps = staircase(f, slope, x0, t);
    const { v0, vmax, xs } = steps;
    const xm = Math.max(t - 1, x0);
    for (let n = N1_MAX; n >= 0; n--) {
      const P = 1n << BigInt(n);
      const Z = BigInt(zo) * P;
      if (vmax === v0) return { m: 0, r: Number(BigInt(v0) * P + Z), n, t };
      const ideal = slope * 2 ** n;
      for (const M of [Math.round(ideal), Math.floor(ideal), Math.ceil(ideal) + 1]) {
        if (M < 1) continue;
        const bM = BigInt(M);
        let lower = BigInt(v0) * P - BigInt(x0) * bM;
        let upper = BigInt(v0 + 1) * P - BigInt(x0) * bM - 1n;
        const top = BigInt(vmax + 1) * P - BigInt(xm) * bM - 1n;
        if (top < upper) upper = top;
        for (let k = 0; k < xs.length && lower <= upper; k++) {
          const v = BigInt(v0 + 1 + k) * P;
          const x = BigInt(xs[k]!);
          if (v - x * bM > lower) lower = v - x * bM;
          if (v - (x - 1n) * bM - 1n < upper) upper = v - (x - 1n) * bM - 1n;
        }
        if (lower > upper) continue;
        const r = lower + Z < 0n ? 0n : lower + Z;
        if (r > upper + Z) continue;
        if (BigInt(xm) * bM + r >= 1n << 32n) continue;
        return { m: M, r: Number(r), n, t };
      }
    }
    return undefined;
  });
}

/** The single-multiply form in TypeScript (uint32 arithmetic as the kernel does it), for tests. */
export function oneMulRef(x: number, e: OneMul, lo: number, hi: number): number {
  if (x <= 0) return lo;
  if (x >= e.t) return hi;
  return Math.floor(((Math.imul(x, e.m) + e.r) >>> 0) / 2 ** e.n) - 128;
}

/**
 * One channel's single-multiply-and-shift requantisation for the depthwise line kernel, on its
 * accumulators without the bias (x' = x − b): for 0 < x < t,
 * f(x) + zo = (x'·m ± (x' asr k) + r mod 2^32) >> 24: the shifted term adds ±2^−k to the
 * multiplier (24 + k bits of it where a plain 32-bit product has 24), at two cycles more than
 * the plain form and two fewer than the two-multiply one.
 */
export interface OneMulShift {
  m: number;
  r: number;
  k: number;
  sub: boolean;
  t: number;
}

/**
 * The single-multiply-and-shift forms of a ReLU-family layer (lo = zp), per channel, for the
 * kernel's accumulators without the bias b[c]; undefined where none is exact. Exactness: both
 * sides are monotone in x, so equal values at both ends of every step of f are equal values
 * everywhere in (0, t).
 */
export function planOneMulShift(
  scales: number[],
  zp: number,
  lo: number,
  hi: number,
  accMin: number[],
  accMax: number[],
  bias: ArrayLike<number>,
): (OneMulShift | undefined)[] {
  const zo = zp + 128;
  const P = 2 ** 24;
  return scales.map((s, c) => {
    if (lo !== zp) return undefined;
    const { multiplier, shift } = quantizeMultiplier(s);
    const { f, x0, t, slope } = channelCurve(multiplier, shift, zp, hi, accMin[c]!, accMax[c]!);
    if (t >= 2 ** 31 || slope >= 1 || t <= x0) return undefined;
    const b = bias[c]!;
    if (t - b >= 2 ** 31 || t - b < -(2 ** 31) || x0 - b < -(2 ** 31)) return undefined;
    const { v0, xs } = staircase(f, slope, x0, t);
    // Segments [start, end] of constant f: the first from x0, the last to t − 1.
    const starts = [x0, ...xs];
    const ends = [...xs.map((x) => x - 1), t - 1];
    const ideal = slope * P;
    for (let k = 1; k <= 16; k++)
      for (const sub of [false, true]) {
        const sg = sub ? -1 : 1;
        const base = ideal - sg * 2 ** -k;
        for (const m of new Set([-1, 0, 1, 2].map((d) => Math.floor(base) + d))) {
          if (m < 1 || m >= 2 ** 24) continue;
          const h = (x: number) => (x - b) * m + sg * Math.floor((x - b) / 2 ** k);
          let lower = -Infinity;
          let upper = Infinity;
          for (let i = 0; i < starts.length && lower <= upper; i++) {
            const v = zo + v0 + i;
            lower = Math.max(lower, v * P - h(starts[i]!));
            upper = Math.min(upper, (v + 1) * P - 1 - h(ends[i]!));
          }
          if (lower > upper) continue;
          return { m, r: lower, k, sub, t };
        }
      }
    return undefined;
  });
}

/** The single-multiply-and-shift form in TypeScript (uint32 arithmetic as the kernel's), for tests. */
export function oneMulShiftRef(
  x: number,
  e: OneMulShift,
  b: number,
  lo: number,
  hi: number,
): number {
  if (x <= 0) return lo;
  if (x >= e.t) return hi;
  const xb = x - b;
  const sh = xb >> e.k;
  const sum = (Math.imul(xb, e.m) + (e.sub ? -sh : sh) + e.r) >>> 0;
  return (sum >>> 24) - 128;
}
