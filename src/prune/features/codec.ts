// Compact encodings of feature blocks (n examples × dim values, channels last):
//   fp32: as is;
//   fp16: IEEE half floats (round to nearest even), ~3 significant digits;
//   int8: 8-bit codes with an affine scale per channel (lo + code · step), chosen per block from
//         the channel's min and max, so post-ReLU features use all 256 levels.
import { TinypruneError } from '../../graph/types.js';
import { loadNativeKernels } from '../../data/nativeKernels.js';

export const PRECISIONS = ['int8', 'fp16', 'fp32'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** `auto`: float32 while a cut's training features fit in AUTO_FP32_BYTES, int8 beyond. */
export const CACHE_PRECISIONS = ['auto', ...PRECISIONS] as const;
export type CachePrecision = (typeof CACHE_PRECISIONS)[number];

/**
 * Below this the compact codes save nothing that matters (the features stay resident anyway)
 * and float32 is exact; the full releases (tens of GB in float32) get int8.
 */
export const AUTO_FP32_BYTES = 2 ** 30;

export function resolvePrecision(p: CachePrecision, values: number): Precision {
  return p !== 'auto' ? p : 4 * values <= AUTO_FP32_BYTES ? 'fp32' : 'int8';
}

export function parsePrecision(s: string, what: string): CachePrecision {
  if ((CACHE_PRECISIONS as readonly string[]).includes(s)) return s as CachePrecision;
  throw new TinypruneError(`${what}: expected one of ${CACHE_PRECISIONS.join(', ')}, found '${s}'`);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 → IEEE binary16 bits, round to nearest even; overflow to ±Inf, NaN kept. */
export function toHalf(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

let halfTable: Float32Array | undefined;
/** binary16 bits → float32, via a 65,536-entry table built once. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    halfTable[h] =
      e === 0
        ? s * m * 2 ** -24
        : e === 0x1f
          ? m
            ? NaN
            : s * Infinity
          : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return halfTable;
}

/** Bytes one example takes in `p` (the int8 per-channel parameters are per block, extra). */
export function bytesPerValue(p: Precision): number {
  return p === 'int8' ? 1 : p === 'fp16' ? 2 : 4;
}

/**
 * Math.round(t) clamped to 0..255 (NaN → 0), the int8 code of t; about twice as fast as
 * Math.round: truncation of t + 0.5, corrected where that sum rounded up across an integer
 * (t just below k + 0.5).
 */
export function roundCode(t: number): number {
  if (!(t >= -0.5)) return 0;
  if (t >= 255.5) return 255;
  const q = (t + 0.5) | 0;
  return q - 0.5 > t ? q - 1 : q;
}

/**
 * Encodes n × dim values (channels = the last dim's size); the result is self-contained. Into
 * `into` (encodedBytes long, 4-byte aligned) when given, else a new array.
 */
export function encodeBlock(
  x: Float32Array,
  channels: number,
  p: Precision,
  into?: Uint8Array,
): Uint8Array {
  if (x.length % channels !== 0)
    throw new RangeError(`encodeBlock: ${x.length} values are not a multiple of ${channels}`);
  const bytes = encodedBytes(x.length, channels, p);
  if (into && (into.length !== bytes || into.byteOffset % 4 !== 0))
    throw new RangeError(`encodeBlock: expected an aligned ${bytes}-byte output`);
  const out = into ?? new Uint8Array(bytes);
  if (p === 'fp32') {
    new Float32Array(out.buffer, out.byteOffset, x.length).set(x);
    return out;
  }
  if (p === 'fp16') {
    const half = new Uint16Array(out.buffer, out.byteOffset, x.length);
    for (let i = 0; i < x.length; i++) half[i] = toHalf(x[i]!);
    return out;
  }
  const native = loadNativeKernels().addon;
  if (native) {
    native.encodeInt8(x, channels, out); // the same bytes as below (test/features.test.ts)
    return out;
  }
  return encodeInt8Js(x, channels, out);
}

/** encodeBlock's int8 form in JavaScript (what runs without the native kernels). */
export function encodeInt8Js(x: Float32Array, channels: number, out: Uint8Array): Uint8Array {
  // int8: [lo (f32) × C][step (f32) × C][codes (u8) × n·dim]. The per-channel numbers are
  // worked with in float64 arrays holding exactly the float32 values that get stored (float32
  // arrays in the inner loops cost a conversion per access: this runs on every extracted value).
  const lo = new Float64Array(channels).fill(Infinity);
  const hi = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < x.length; i += channels)
    for (let c = 0; c < channels; c++) {
      const v = x[i + c]!;
      if (v < lo[c]!) lo[c] = v;
      if (v > hi[c]!) hi[c] = v;
    }
  const step = new Float64Array(channels);
  const inv = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    if (!Number.isFinite(lo[c]!)) lo[c] = hi[c] = 0;
    step[c] = Math.fround(hi[c]! > lo[c]! ? (hi[c]! - lo[c]!) / 255 : 1);
    inv[c] = Math.fround(1 / step[c]!);
  }
  new Float32Array(out.buffer, out.byteOffset, channels).set(lo);
  new Float32Array(out.buffer, out.byteOffset + 4 * channels, channels).set(step);
  const codes = out.subarray(8 * channels);
  for (let i = 0; i < x.length; i += channels)
    for (let c = 0; c < channels; c++) {
      codes[i + c] = roundCode((x[i + c]! - lo[c]!) * inv[c]!);
    }
  return out;
}

/** Decodes `count` values of an encoded block into `out` (from its start). */
export function decodeBlock(
  bytes: Uint8Array,
  count: number,
  channels: number,
  p: Precision,
  out: Float32Array,
): void {
  // Typed-array views need aligned offsets; shard sections are aligned, odd callers get a copy.
  if (bytes.byteOffset % 4 !== 0) bytes = Uint8Array.prototype.slice.call(bytes);
  if (p === 'fp32') {
    const src = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    out.set(src);
    return;
  }
  if (p === 'fp16') {
    const table = halfToFloatTable();
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
    for (let i = 0; i < count; i++) out[i] = table[src[i]!]!;
    return;
  }
  const lo = new Float32Array(bytes.buffer, bytes.byteOffset, channels);
  const step = new Float32Array(bytes.buffer, bytes.byteOffset + 4 * channels, channels);
  const codes = bytes.subarray(8 * channels, 8 * channels + count);
  for (let row = 0; row < count; row += channels)
    for (let c = 0; c < channels; c++) out[row + c] = lo[c]! + codes[row + c]! * step[c]!;
}

/** Encoded size of n·dim values in C channels. */
export function encodedBytes(values: number, channels: number, p: Precision): number {
  return p === 'int8' ? 8 * channels + values : values * bytesPerValue(p);
}
