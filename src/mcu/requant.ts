// Exact, cheap requantisation for ReLU-family layers on a core without a 32x32→64 multiply.
//
// TFLite's MultiplyByQuantizedMultiplier for x > 0 and shift = −e ≤ 0 collapses (the two
// roundings nest: ⌊(⌊z/A⌋ + c)/B⌋ = ⌊(z + cA)/AB⌋) into one floor:
//   f(x) = ⌊(x·m + 2^30 + [e>0]·2^(30+e)) / 2^(31+e)⌋.
// With the ReLU clamp at the output zero point, x ≤ 0 always gives the low clamp, and f is
// monotone, so every x ≥ T (a per-channel threshold found here exactly) gives the high clamp.
// Only 0 < x < T needs the product, and T is small, so it fits in 16x16-bit partial products:
// - 2 multiplies when T ≤ 2^16: f = (x·mh + ((x·ml) >> 16) + rnd) >> (15 + e), m = mh·2^16 + ml;
// - 4 multiplies when T ≤ 2^30 and 1 ≤ e ≤ 16: x = xh·2^16 + xl,
//   w = xh·ml + xl·mh + ((xl·ml) >> 16) + rnd, f = (xh·mh + (w >> 16)) >> (e − 1).
// Channels whose accumulator bound keeps f at 0 (tiny multipliers, e > 16) are encoded as
// constants. A layer that fits neither form keeps the general 64-bit routine.
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../quant/fixedpoint.js';

export type RequantPath = 'mul2' | 'mul4' | 'general';

export interface RequantPlan {
  path: RequantPath;
  /** Per channel: [t, mh | ml << 16, rnd, sh] (int32 each) for the fast paths. */
  table: Int32Array;
  /** Per channel (the general path): Q31 multiplier and shift. */
  mult: number[];
  shift: number[];
  /**
   * Fast paths only: channels that fit neither fast form (a tiny multiplier that can still give
   * a non-zero output) and run the general 64-bit routine on their own; absent when none.
   */
  slow?: boolean[];
}

const INT32_MAX = 2147483647;

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
  const general: RequantPlan = { path: 'general', table: new Int32Array(0), mult, shift };
  if (lo !== zp) return general;
  const t: number[] = [];
  const constant: boolean[] = [];
  const slow: boolean[] = [];
  let maxT = 0;
  let minE = 99;
  let maxE = 0;
  for (let c = 0; c < n; c++) {
    const f = (x: number) => multiplyByQuantizedMultiplier(x, mult[c]!, shift[c]!);
    const bound = Math.max(Math.abs(accMin[c]!), Math.abs(accMax[c]!), 1);
    const e = -shift[c]!;
    if (f(bound) === 0 && f(-bound) === 0 && (e > 16 || shift[c]! > 0)) {
      constant.push(true);
      slow.push(false);
      t.push(INT32_MAX);
      continue;
    }
    if (shift[c]! > 0 || e > 16 || bound >= 2 ** 30) {
      constant.push(false);
      slow.push(true);
      t.push(INT32_MAX);
      continue;
    }
    constant.push(false);
    slow.push(false);
    // Smallest x ≥ 1 with f(x) + zp ≥ hi, or bound + 1 when no reachable x saturates.
    let T = bound + 1;
    if (f(bound) + zp >= hi) {
      let a = 1;
      let b = bound;
      while (a < b) {
        const mid = Math.floor((a + b) / 2);
        if (f(mid) + zp >= hi) b = mid;
        else a = mid + 1;
      }
      T = a;
    }
    t.push(T);
    maxT = Math.max(maxT, T);
    minE = Math.min(minE, e);
    maxE = Math.max(maxE, e);
  }
  if (slow.every(Boolean)) return general;
  let path: RequantPath;
  if (maxT <= 65536) path = 'mul2';
  else if (maxT <= 2 ** 29 && minE >= 1) path = 'mul4';
  else {
    // A few channels outside the 4-multiply form (e = 0, or a huge threshold) take the general
    // routine on their own; the rest keep the fast one.
    const fits = (c: number) => !constant[c] && !slow[c] && t[c]! <= 2 ** 29 && -shift[c]! >= 1;
    const misfits = Array.from({ length: n }, (_, c) => !constant[c] && !slow[c] && !fits(c));
    if (misfits.filter(Boolean).length * 4 > n) return general;
    misfits.forEach((m, c) => {
      if (m) {
        slow[c] = true;
        t[c] = INT32_MAX;
      }
    });
    if (slow.every(Boolean)) return general;
    path = 'mul4';
  }
  const table = new Int32Array(4 * n);
  for (let c = 0; c < n; c++) {
    table[4 * c] = t[c]!;
    if (constant[c] || slow[c]) continue; // mh = ml = rnd = sh = 0: f = 0
    const m = mult[c]!;
    const e = -shift[c]!;
    table[4 * c + 1] = (m >>> 16) | ((m & 0xffff) << 16) | 0;
    table[4 * c + 2] = 2 ** 14 + (e > 0 ? 2 ** (14 + e) : 0);
    table[4 * c + 3] = path === 'mul2' ? 15 + e : e - 1;
  }
  void maxE;
  return slow.some(Boolean) ? { path, table, mult, shift, slow } : { path, table, mult, shift };
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
  if (x >= tb[4 * c]!) return hi;
  const mh = tb[4 * c + 1]! & 0xffff;
  const ml = tb[4 * c + 1]! >>> 16;
  const rnd = tb[4 * c + 2]!;
  const sh = tb[4 * c + 3]!;
  const mul = (p: number, q: number) => Math.imul(p, q) >>> 0;
  if (plan.path === 'mul2')
    return ((((mul(x, mh) + (mul(x, ml) >>> 16) + rnd) >>> 0) >>> sh) + zp) | 0;
  const xl = x & 0xffff;
  const xh = x >>> 16;
  const w = (mul(xh, ml) + mul(xl, mh) + (mul(xl, ml) >>> 16) + rnd) >>> 0;
  return ((((mul(xh, mh) + (w >>> 16)) >>> 0) >>> sh) + zp) | 0;
}

/** C for the fast paths (struct and inline functions); values are in offset-binary (u = q + 128). */
export const REQUANT_C = `typedef struct { int32_t t; uint16_t mh, ml; uint32_t rnd; uint32_t sh; } tp_rq_t;
/* ReLU-family requantisation, exact (see src/mcu/requant.ts): x <= 0 -> lo, x >= t -> hi. */
static inline uint32_t tp_rq2(int32_t x, const tp_rq_t *q, uint32_t lo, uint32_t hi) {
  if (x <= 0) return lo;
  if (x >= q->t) return hi;
  uint32_t a = (uint32_t)x;
  return ((a * q->mh + ((a * q->ml) >> 16) + q->rnd) >> q->sh) + lo;
}
static inline uint32_t tp_rq4(int32_t x, const tp_rq_t *q, uint32_t lo, uint32_t hi) {
  if (x <= 0) return lo;
  if (x >= q->t) return hi;
  uint32_t al = (uint32_t)x & 0xffffu, ah = (uint32_t)x >> 16;
  uint32_t w = ah * q->ml + al * q->mh + ((al * q->ml) >> 16) + q->rnd;
  return ((ah * q->mh + (w >> 16)) >> q->sh) + lo;
}
`;
