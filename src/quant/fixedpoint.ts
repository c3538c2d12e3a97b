// 32-bit fixed-point arithmetic with exactly the semantics of TFLite / TFLite Micro
// (quantization_util.cc QuantizeMultiplier, common.cc MultiplyByQuantizedMultiplier, and gemmlowp's
// SaturatingRoundingDoublingHighMul / RoundingDivideByPOT, double-rounding build).
//
// JS numbers are doubles: every helper keeps its intermediate values exact (below 2^53) and
// returns int32 values.

const TWO_31 = 2147483648;
const TWO_15 = 32768;
const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const EXACT_LIMIT = 4503599627370496; // 2^52: a double product below this is the exact product

/**
 * Splits a positive real multiplier into a Q31 significand in [2^30, 2^31) and a power-of-two
 * shift (positive = left), as TFLite's QuantizeMultiplier (frexp, round half away from zero,
 * flush below 2^-31 to zero).
 */
export function quantizeMultiplier(realMultiplier: number): { multiplier: number; shift: number } {
  if (realMultiplier === 0) return { multiplier: 0, shift: 0 };
  if (!Number.isFinite(realMultiplier))
    throw new RangeError(`quantizeMultiplier: multiplier must be finite, got ${realMultiplier}`);
  const { fraction, exponent } = frexp(realMultiplier);
  let shift = exponent;
  let qFixed = roundHalfAwayFromZero(fraction * TWO_31);
  if (qFixed === TWO_31) {
    qFixed /= 2;
    shift++;
  }
  if (shift < -31) return { multiplier: 0, shift: 0 };
  return { multiplier: qFixed, shift };
}

/** C's std::frexp: x = fraction * 2^exponent with |fraction| in [0.5, 1). */
export function frexp(x: number): { fraction: number; exponent: number } {
  if (x === 0 || !Number.isFinite(x)) return { fraction: x, exponent: 0 };
  let exponent = Math.max(-1073, Math.floor(Math.log2(Math.abs(x))) + 1);
  let fraction = x * Math.pow(2, -exponent);
  // log2 can be off by one near powers of two; fix up so that |fraction| is in [0.5, 1).
  while (Math.abs(fraction) < 0.5) {
    fraction *= 2;
    exponent--;
  }
  while (Math.abs(fraction) >= 1) {
    fraction /= 2;
    exponent++;
  }
  return { fraction, exponent };
}

/** C's std::round (TfLiteRound): halves go away from zero. */
export function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * gemmlowp SaturatingRoundingDoublingHighMul: the high 32 bits of 2·a·b with round-to-nearest
 * (ties away from zero, via the nudge and a truncating division), saturating the single overflow
 * case a = b = INT32_MIN.
 */
export function saturatingRoundingDoublingHighMul(a: number, b: number): number {
  if (a === INT32_MIN && b === INT32_MIN) return INT32_MAX;
  const ab = a * b;
  if (ab < EXACT_LIMIT && ab > -EXACT_LIMIT) {
    // Exact product: (ab + nudge) / 2^31 truncated toward zero.
    const nudge = ab >= 0 ? 1073741824 : 1 - 1073741824;
    return Math.trunc((ab + nudge) / TWO_31) | 0;
  }
  return highMulSplit(a, b);
}

/** The same, for products beyond 2^52: split b in 16-bit halves so every partial is exact. */
function highMulSplit(a: number, b: number): number {
  const bLow = b & 0xffff; // [0, 65536)
  const bHigh = (b - bLow) / 65536; // [-32768, 32767]
  const p1 = a * bHigh; // |p1| < 2^46, exact
  const p0 = a * bLow; // |p0| < 2^47, exact
  const negative = a < 0 !== b < 0 && a !== 0 && b !== 0;
  const nudge = negative ? 1 - 1073741824 : 1073741824;
  // ab + nudge = p1·2^16 + p0 + nudge = q1·2^31 + s with p1 = q1·2^15 + r1.
  const q1 = Math.floor(p1 / TWO_15);
  const r1 = p1 - q1 * TWO_15;
  const s = r1 * 65536 + p0 + nudge; // |s| < 2^48, exact
  const f = Math.floor(s / TWO_31);
  const rem = s - f * TWO_31; // [0, 2^31)
  let q = q1 + f; // floor((ab + nudge) / 2^31)
  if (q < 0 && rem !== 0) q += 1; // C's division truncates toward zero
  return q | 0;
}

/** gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero. */
export function roundingDivideByPOT(x: number, exponent: number): number {
  if (exponent === 0) return x | 0;
  const mask = exponent >= 31 ? INT32_MAX : (1 << exponent) - 1;
  const remainder = x & mask;
  const threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/**
 * TFLite MultiplyByQuantizedMultiplier (double rounding): x · multiplier · 2^shift with
 * `multiplier` a Q31 significand. The left shift wraps like the C int32 multiply.
 */
export function multiplyByQuantizedMultiplier(
  x: number,
  multiplier: number,
  shift: number,
): number {
  const leftShift = shift > 0 ? shift : 0;
  const rightShift = shift > 0 ? 0 : -shift;
  return roundingDivideByPOT(
    saturatingRoundingDoublingHighMul(leftShift ? (x << leftShift) | 0 : x, multiplier),
    rightShift,
  );
}

/** Clamp helper for int32 results (saturating casts in the kernels). */
export function clampInt32(x: number): number {
  return x < INT32_MIN ? INT32_MIN : x > INT32_MAX ? INT32_MAX : x;
}
