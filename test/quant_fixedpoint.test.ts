import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  frexp,
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundingDivideByPOT,
  saturatingRoundingDoublingHighMul,
} from '../src/quant/fixedpoint.js';

// Independent references with BigInt (C semantics: 64-bit product, division truncates toward 0).
const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
function refHighMul(a: number, b: number): number {
  if (a === I32_MIN && b === I32_MIN) return I32_MAX;
  const ab = BigInt(a) * BigInt(b);
  const nudge = ab >= 0n ? 1n << 30n : 1n - (1n << 30n);
  return Number((ab + nudge) / (1n << 31n));
}
function refDivPOT(x: number, e: number): number {
  // Round to nearest, ties away from zero, by exact rational arithmetic.
  const d = 2 ** e;
  const q = Math.floor(Math.abs(x) / d);
  const r = Math.abs(x) - q * d;
  const mag = 2 * r >= d ? q + 1 : q;
  return x < 0 && mag !== 0 ? -mag : mag;
}
function refMBQM(x: number, m: number, shift: number): number {
  const left = shift > 0 ? shift : 0;
  const xs = Number(BigInt.asIntN(32, BigInt(x) << BigInt(left)));
  return refDivPOT(refHighMul(xs, m), shift > 0 ? 0 : -shift);
}

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}
function randInt32(next: () => number): number {
  // Mix magnitudes: small accumulators as well as full-range values.
  const bits = next() % 32;
  const v = next() | 0;
  return bits === 31 ? v : v >> (31 - bits);
}

test('quantizeMultiplier: known values from the TFLite definition', () => {
  assert.deepEqual(quantizeMultiplier(0), { multiplier: 0, shift: 0 });
  assert.deepEqual(quantizeMultiplier(0.5), { multiplier: 2 ** 30, shift: 0 });
  assert.deepEqual(quantizeMultiplier(1), { multiplier: 2 ** 30, shift: 1 });
  assert.deepEqual(quantizeMultiplier(0.75), { multiplier: 3 * 2 ** 29, shift: 0 });
  assert.deepEqual(quantizeMultiplier(0.25), { multiplier: 2 ** 30, shift: -1 });
  // 1 - 2^-40 rounds up to 2^31 and is renormalised to 2^30 with shift + 1.
  assert.deepEqual(quantizeMultiplier(1 - 2 ** -40), { multiplier: 2 ** 30, shift: 1 });
  // Below 2^-31·0.5 everything is flushed to zero.
  assert.deepEqual(quantizeMultiplier(2 ** -33), { multiplier: 0, shift: 0 });
  assert.deepEqual(frexp(8), { fraction: 0.5, exponent: 4 });
  assert.deepEqual(frexp(0.1), { fraction: 0.8, exponent: -3 });
});

test('quantizeMultiplier: significand in [2^30, 2^31) and within half an LSB of the real value', () => {
  const next = lcg(7);
  for (let i = 0; i < 2000; i++) {
    const m = (next() / 2 ** 32) * 2 ** ((next() % 40) - 30);
    if (m < 2 ** -31) continue; // flushed to zero, tested above
    const { multiplier, shift } = quantizeMultiplier(m);
    assert.ok(Number.isInteger(multiplier) && multiplier >= 2 ** 30 && multiplier < 2 ** 31);
    const back = multiplier * 2 ** (shift - 31);
    assert.ok(Math.abs(back - m) <= 2 ** (shift - 32), `m=${m} back=${back}`);
  }
});

test('saturatingRoundingDoublingHighMul matches a BigInt reference (incl. edge cases)', () => {
  const edges = [
    0,
    1,
    -1,
    2,
    -2,
    I32_MIN,
    I32_MAX,
    I32_MIN + 1,
    2 ** 30,
    -(2 ** 30),
    12345,
    -98765,
  ];
  for (const a of edges)
    for (const b of edges)
      assert.equal(saturatingRoundingDoublingHighMul(a, b), refHighMul(a, b), `${a}*${b}`);
  const next = lcg(42);
  for (let i = 0; i < 100000; i++) {
    const a = randInt32(next);
    const b = randInt32(next);
    assert.equal(saturatingRoundingDoublingHighMul(a, b), refHighMul(a, b), `${a}*${b}`);
  }
});

test('roundingDivideByPOT: round half away from zero for all exponents', () => {
  assert.equal(roundingDivideByPOT(5, 1), 3);
  assert.equal(roundingDivideByPOT(-5, 1), -3);
  assert.equal(roundingDivideByPOT(-6, 2), -2); // -1.5 → -2
  assert.equal(roundingDivideByPOT(6, 2), 2); // 1.5 → 2
  assert.equal(roundingDivideByPOT(-5, 2), -1); // -1.25 → -1
  const next = lcg(3);
  for (let i = 0; i < 50000; i++) {
    const x = randInt32(next);
    const e = next() % 32;
    assert.equal(roundingDivideByPOT(x, e), refDivPOT(x, e), `${x} >> ${e}`);
  }
});

test('multiplyByQuantizedMultiplier matches the composed BigInt reference', () => {
  const next = lcg(11);
  for (let i = 0; i < 50000; i++) {
    const x = randInt32(next);
    const { multiplier, shift } = quantizeMultiplier(
      (next() / 2 ** 32) * 2 ** ((next() % 20) - 14),
    );
    assert.equal(
      multiplyByQuantizedMultiplier(x, multiplier, shift),
      refMBQM(x, multiplier, shift),
    );
  }
  // A real requantisation: acc 1000 at effective scale 0.0123 → round(12.3) = 12.
  const { multiplier, shift } = quantizeMultiplier(0.0123);
  assert.equal(multiplyByQuantizedMultiplier(1000, multiplier, shift), 12);
  assert.equal(multiplyByQuantizedMultiplier(-1000, multiplier, shift), -12);
});
