// Float ↔ int8/uint8 conversion of model inputs.

export interface QuantizeOptions {
  /**
   * 'nearest' (default): round half away from zero, as TFLite's QUANTIZE kernel (TfLiteRound).
   * 'truncate': toward zero, as numpy's float→int cast that MLPerf's make_bin_files.py uses.
   */
  rounding?: 'nearest' | 'truncate';
  /**
   * 'saturate' (default) clamps to the type's range. 'wrap' reproduces numpy's cast of
   * out-of-range values (two's-complement wrap-around), which is how a few values in the
   * published EEMBC MFCC files were written.
   */
  overflow?: 'saturate' | 'wrap';
}

export interface QuantParams {
  scale: number;
  zeroPoint: number;
}

function quantizeTo<T extends Int8Array | Uint8Array>(
  out: T,
  lo: number,
  values: ArrayLike<number>,
  scale: number,
  zeroPoint: number,
  opts: QuantizeOptions,
): T {
  if (!(scale > 0)) throw new RangeError(`quantisation scale must be > 0, got ${scale}`);
  const truncate = opts.rounding === 'truncate';
  const wrap = opts.overflow === 'wrap';
  const hi = lo + 255;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]! / scale;
    // Math.round rounds half up; mirror it for negatives to get half away from zero.
    const r = truncate
      ? Math.trunc(x + zeroPoint)
      : Math.sign(x) * Math.round(Math.abs(x)) + zeroPoint;
    out[i] = wrap ? ((((r - lo) % 256) + 256) % 256) + lo : r < lo ? lo : r > hi ? hi : r;
  }
  return out;
}

/** q = round(x / scale) + zeroPoint, clamped to [-128, 127] (see QuantizeOptions). */
export function quantizeInt8(
  values: ArrayLike<number>,
  scale: number,
  zeroPoint: number,
  opts: QuantizeOptions = {},
  out: Int8Array = new Int8Array(values.length),
): Int8Array {
  return quantizeTo(out, -128, values, scale, zeroPoint, opts);
}

/** q = round(x / scale) + zeroPoint, clamped to [0, 255] (see QuantizeOptions). */
export function quantizeUint8(
  values: ArrayLike<number>,
  scale: number,
  zeroPoint: number,
  opts: QuantizeOptions = {},
  out: Uint8Array = new Uint8Array(values.length),
): Uint8Array {
  return quantizeTo(out, 0, values, scale, zeroPoint, opts);
}

/** x = (q - zeroPoint) · scale. */
export function dequantize(
  values: ArrayLike<number>,
  scale: number,
  zeroPoint: number,
  out: Float32Array = new Float32Array(values.length),
): Float32Array {
  for (let i = 0; i < values.length; i++) out[i] = (values[i]! - zeroPoint) * scale;
  return out;
}

/**
 * Input quantisation of the MLPerf Tiny KWS reference model (kws_ref_model.tflite), read from
 * the flatbuffer: the scale is the float32 stored there. Prefer the model's own input
 * quantisation when a model is at hand.
 */
export const KWS_REF_INPUT_QUANT: QuantParams = { scale: 0.5847029089927673, zeroPoint: 83 };
