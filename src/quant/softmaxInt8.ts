// int8 SOFTMAX exactly as TFLite Micro's reference kernel computes it: gemmlowp fixed-point
// exp on Q5.26 differences, a Q12.19 sum of exps, and a Newton-Raphson reciprocal.
import {
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul as mul,
} from './fixedpoint.js';

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;
const SCALED_DIFF_INTEGER_BITS = 5;
const ACCUMULATION_INTEGER_BITS = 12;

export interface SoftmaxInt8Params {
  inputMultiplier: number;
  inputLeftShift: number;
  diffMin: number;
}

/** TFLite's PreprocessSoftmaxScaling + CalculateInputRadius for int8 input. */
export function softmaxInt8Params(inputScale: number, beta = 1): SoftmaxInt8Params {
  const real = Math.min(beta * inputScale * 2 ** (31 - SCALED_DIFF_INTEGER_BITS), 2 ** 31 - 1);
  const { multiplier, shift } = quantizeMultiplier(real);
  const radius = Math.floor(
    ((2 ** SCALED_DIFF_INTEGER_BITS - 1) * 2 ** (31 - SCALED_DIFF_INTEGER_BITS)) / 2 ** shift,
  );
  return { inputMultiplier: multiplier, inputLeftShift: shift, diffMin: -radius };
}

/** Saturating x·2^exponent for exponent > 0 (gemmlowp SaturatingRoundingMultiplyByPOT). */
function satShiftLeft(x: number, exponent: number): number {
  const threshold = 2 ** (31 - exponent) - 1;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return x * 2 ** exponent;
}

/** exp(a) for a in [-1/4, 0), Q0.31 in and out (Taylor expansion around -1/8). */
function expOnIntervalNegQuarterTo0(a: number): number {
  const constantTerm = 1895147668; // exp(-1/8)
  const oneThird = 715827883;
  const x = (a + (1 << 28)) | 0;
  const x2 = mul(x, x);
  const x3 = mul(x2, x);
  const x4 = mul(x2, x2);
  const x4Over4 = roundingDivideByPOT(x4, 2);
  const poly = roundingDivideByPOT((mul((x4Over4 + x3) | 0, oneThird) + x2) | 0, 1);
  return (constantTerm + mul(constantTerm, (x + poly) | 0)) | 0;
}

const BARREL: [number, number][] = [
  [-2, 1672461947], // exp(-1/4)
  [-1, 1302514674], // exp(-1/2)
  [0, 790015084], // exp(-1)
  [1, 290630308], // exp(-2)
  [2, 39332535], // exp(-4)
  [3, 720401], // exp(-8)
  [4, 242], // exp(-16)
];

/** gemmlowp exp_on_negative_values for a Q5.26 input, Q0.31 result. */
export function expOnNegativeValuesQ5(a: number): number {
  const fractionalBits = 31 - SCALED_DIFF_INTEGER_BITS;
  const oneQuarter = 1 << (fractionalBits - 2);
  const aModQuarterMinusQuarter = ((a & (oneQuarter - 1)) - oneQuarter) | 0;
  let result = expOnIntervalNegQuarterTo0(
    satShiftLeft(aModQuarterMinusQuarter, SCALED_DIFF_INTEGER_BITS),
  );
  const remainder = (aModQuarterMinusQuarter - a) | 0;
  for (const [exponent, multiplier] of BARREL) {
    if (SCALED_DIFF_INTEGER_BITS > exponent && remainder & (1 << (fractionalBits + exponent)))
      result = mul(result, multiplier);
  }
  return a === 0 ? INT32_MAX : result;
}

/** gemmlowp one_over_one_plus_x_for_x_in_0_1, Q0.31 in and out. */
function oneOverOnePlusX(a: number): number {
  const sum = a + INT32_MAX;
  const halfDenominator = Math.trunc((sum + (sum >= 0 ? 1 : -1)) / 2);
  let x = (1515870810 + mul(halfDenominator, -1010580540)) | 0; // Q2.29: 48/17 - 32/17·d
  for (let i = 0; i < 3; i++) {
    const oneMinus = ((1 << 29) - mul(halfDenominator, x)) | 0;
    x = (x + satShiftLeft(mul(x, oneMinus), 2)) | 0;
  }
  return satShiftLeft(x, 1);
}

/** TFLite's GetReciprocal: 1/x for a Q12.19 sum, as a Q0.31 scale and a bit count. */
function reciprocal(x: number): { scale: number; bitsOverUnit: number } {
  const headroomPlusOne = Math.clz32(x);
  const shiftedSumMinusOne = ((x << headroomPlusOne) - 0x80000000) | 0;
  return {
    scale: oneOverOnePlusX(shiftedSumMinusOne),
    bitsOverUnit: ACCUMULATION_INTEGER_BITS - headroomPlusOne,
  };
}

/** Softmax over the last axis of `depth` values, int8 in, int8 out (scale 1/256, zp -128). */
export function softmaxInt8(
  p: SoftmaxInt8Params,
  input: Int8Array,
  output: Int8Array,
  depth: number,
): void {
  const rows = input.length / depth;
  for (let r = 0; r < rows; r++) {
    const base = r * depth;
    let maxIn = -128;
    for (let c = 0; c < depth; c++) if (input[base + c]! > maxIn) maxIn = input[base + c]!;
    let sumOfExps = 0;
    for (let c = 0; c < depth; c++) {
      const diff = input[base + c]! - maxIn;
      if (diff >= p.diffMin) {
        const rescaled = mul((diff * 2 ** p.inputLeftShift) | 0, p.inputMultiplier);
        // Rescale Q0.31 → Q12.19.
        sumOfExps = (sumOfExps + roundingDivideByPOT(expOnNegativeValuesQ5(rescaled), 12)) | 0;
      }
    }
    const { scale, bitsOverUnit } = reciprocal(sumOfExps);
    const exponent = bitsOverUnit + 31 - 8;
    for (let c = 0; c < depth; c++) {
      const diff = input[base + c]! - maxIn;
      if (diff >= p.diffMin) {
        const rescaled = mul((diff * 2 ** p.inputLeftShift) | 0, p.inputMultiplier);
        const e = expOnNegativeValuesQ5(rescaled);
        const v = roundingDivideByPOT(mul(scale, e), exponent) - 128;
        output[base + c] = v > 127 ? 127 : v < -128 ? -128 : v;
      } else {
        output[base + c] = -128;
      }
    }
  }
}
