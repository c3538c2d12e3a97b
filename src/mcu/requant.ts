// Exact, cheap requantisation for ReLU-family layers on a core without a 32x32→64 multiply.
//
// With the ReLU clamp at the output zero point, x ≤ 0 always gives the low clamp, and TFLite's
// MultiplyByQuantizedMultiplier f is monotone for x > 0, so every x ≥ T (a per-channel threshold
// found here exactly) gives the high clamp. Only 0 < x < T needs arithmetic, and there f is a
// staircase of at most 255 steps. We reproduce it with
//   g(x) = ⌊(x·M + rnd·2^16) / 2^(B + sh)⌋,  M = mh·2^16 + ml < 2^32,
// evaluated with 16x16-bit products:
// - 'mul2' (B = 16, all x < 2^16): g = (x·mh + ((x·ml) >> 16) + rnd) >> sh;
// - 'mul4' (B = 32): x = xh·2^16 + xl, w = xh·ml + xl·mh + ((xl·ml) >> 16) + rnd,
//   g = (xh·mh + (w >> 16)) >> sh.
// M, rnd and sh are chosen per channel so that g equals f at every step (both are monotone, so
// equal steps mean equal functions on (0, T)) and no 32-bit sum overflows; channels whose natural
// form does not fit (tiny multipliers with big accumulators, e = 0) get a rescaled multiplier that
// is exact on their few steps. Channels that fit neither form (multipliers above 1) keep the
// general 64-bit routine on their own.
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../quant/fixedpoint.js';

export type RequantPath = 'mul2' | 'mul4' | 'general';

export interface RequantPlan {
  path: RequantPath;
  /** Per channel: [t, mh | ml << 16, rnd, sh] (int32 each) for the fast paths. */
  table: Int32Array;
  /** Per channel (the general path): Q31 multiplier and shift. */
  mult: number[];
  shift: number[];
  /** Fast paths only: channels that run the general 64-bit routine; absent when none. */
  slow?: boolean[];
}

const TWO_16 = 65536;
const TWO_32 = 4294967296;

interface Fit {
  M: number;
  rnd: number;
  sh: number;
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

/** M, rnd, sh of one channel for the given form, or undefined when none is exact and safe. */
function fitChannel(
  steps: ReturnType<typeof staircase>,
  slope: number,
  X: number,
  form: 'mul2' | 'mul4',
): Fit | undefined {
  const base = form === 'mul2' ? 16 : 32;
  const xm = Math.max(X - 1, 0);
  if (form === 'mul2' && xm >= TWO_16) return undefined;
  const { x0, v0, vmax, xs } = steps;
  // f constant on the range: g = rnd >> 16 (mul4) or rnd (mul2).
  if (vmax === v0) return { M: 0, rnd: form === 'mul2' ? v0 : v0 * TWO_16, sh: 0 };
  const top = Math.min(base + 31, Math.floor(Math.log2(TWO_32 / slope)));
  for (let n = top; n >= base; n--) {
    const ideal = slope * 2 ** n;
    for (const M of [Math.round(ideal), Math.floor(ideal), Math.ceil(ideal) + 1]) {
      if (M < 1 || M >= TWO_32) continue;
      const P = 1n << BigInt(n);
      const bM = BigInt(M);
      // rnd·2^16 must lie in [lower, upper].
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
      if (lower < 0n) lower = 0n;
      const rnd = Number((lower + 65535n) >> 16n);
      if (BigInt(rnd) << 16n > upper || rnd >= TWO_32) continue;
      // No 32-bit sum may overflow for any x < X (each term is monotone in x).
      const mh = Math.floor(M / TWO_16);
      const ml = M % TWO_16;
      if (form === 'mul2') {
        if (xm * mh + Math.floor((xm * ml) / TWO_16) + rnd >= TWO_32) continue;
      } else {
        const xh = Math.floor(xm / TWO_16);
        const xl = Math.min(xm, TWO_16 - 1);
        const w = xh * ml + xl * mh + Math.floor((xl * ml) / TWO_16) + rnd;
        if (w >= TWO_32 || xh * mh + Math.floor(w / TWO_16) >= TWO_32) continue;
      }
      return { M, rnd, sh: n - base };
    }
  }
  return undefined;
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
  const general: RequantPlan = { path: 'general', table: new Int32Array(0), mult, shift };
  if (lo !== zp) return general;
  const T: number[] = [];
  // Per channel, what fitting needs; undefined for channels no fast form can take.
  const stairs: ({ steps: ReturnType<typeof staircase>; slope: number } | undefined)[] = [];
  for (let c = 0; c < n; c++) {
    const f = (x: number) => multiplyByQuantizedMultiplier(x, mult[c]!, shift[c]!);
    // Only positive accumulators need arithmetic (x ≤ 0 gives lo): those in [x0, bound].
    const x0 = Math.max(accMin[c]!, 1);
    const bound = Math.max(accMax[c]!, x0);
    // Smallest x ≥ x0 with f(x) + zp ≥ hi, or bound + 1 when no reachable x saturates.
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
    T.push(t);
    const slope = mult[c]! * 2 ** (shift[c]! - 31);
    stairs.push(
      t >= 2 ** 31 || slope >= 1 ? undefined : { steps: staircase(f, slope, x0, t), slope },
    );
  }
  const fitAll = (form: 'mul2' | 'mul4') =>
    stairs.map((st, c) => st && fitChannel(st.steps, st.slope, T[c]!, form));
  // The 2-multiply form when every channel takes it, else the 4-multiply one.
  const mul2 = fitAll('mul2');
  const path = mul2.every(Boolean) ? 'mul2' : 'mul4';
  const chosen = path === 'mul2' ? mul2 : fitAll('mul4');
  if (chosen.every((x) => !x)) return general;
  const table = new Int32Array(4 * n);
  const slow = chosen.map((x) => !x);
  chosen.forEach((fit, c) => {
    table[4 * c] = slow[c] ? 0x7fffffff : T[c]!;
    if (!fit) return; // mh = ml = rnd = sh = 0: g = 0, then the general routine
    table[4 * c + 1] = Math.floor(fit.M / TWO_16) | ((fit.M % TWO_16) << 16) | 0;
    table[4 * c + 2] = fit.rnd | 0;
    table[4 * c + 3] = fit.sh;
  });
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

/** The table entry of the fast paths (kernels.ts evaluates it); values are offset-binary. */
export const REQUANT_C = `typedef struct { int32_t t; uint16_t mh, ml; uint32_t rnd; uint32_t sh; } tp_rq_t;
`;
