// Test-only int8 forward pass whose conv2d, depthwiseConv2d and fullyConnected requantisation
// rounds either as TFLite Micro's reference kernels do (the default build: gemmlowp
// SaturatingRoundingDoublingHighMul then RoundingDivideByPOT, two roundings) or as a
// TFLITE_SINGLE_ROUNDING build does (one rounding of x·M / 2^(31−shift), ties toward +∞). It exists
// to show where the official TFLite runtime and our interpreter part: every other op kind is
// delegated to our interpreter (one-op graphs), since those agree bit for bit with the official
// runtime already (resnet.test.ts checks that op by op).
//
// The accumulation loops are written here independently of src/quant (naive NHWC loops), so the
// 'double' mode reproducing our interpreter is itself a cross-check.
import { cloneGraph, isConstant, pruneUnusedTensors } from '../../src/graph/graph.js';
import { padBefore } from '../../src/graph/shapes.js';
import type { Graph, Op, Tensor } from '../../src/graph/types.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../../src/quant/fixedpoint.js';
import { prepareInt8 } from '../../src/quant/interpreter.js';

/**
 * 'double': TFLite Micro reference (gemmlowp, two roundings); 'single': TFLITE_SINGLE_ROUNDING;
 * 'fp32': XNNPACK's float requantisation (float32(acc) · float32 scale, round half to even).
 */
export type Rounding = 'double' | 'single' | 'fp32';

const TWO_16 = 65536;

/** The op kinds whose requantisation this module re-implements. */
const REQUANTISING = new Set<Op['kind']>(['conv2d', 'depthwiseConv2d', 'fullyConnected']);

/**
 * TFLITE_SINGLE_ROUNDING's MultiplyByQuantizedMultiplier: floor((x·M + 2^(30−shift)) / 2^(31−shift))
 * in 64-bit. Computed exactly in doubles by splitting M into 16-bit halves (every partial < 2^53).
 */
export function singleRoundingMultiply(x: number, multiplier: number, shift: number): number {
  const totalShift = 31 - shift;
  if (totalShift < 17 || totalShift > 62) throw new RangeError(`shift ${shift} out of range`);
  const mLow = multiplier % TWO_16;
  const mHigh = (multiplier - mLow) / TWO_16;
  const high = x * mHigh; // exact: |x| < 2^31, mHigh < 2^15
  const low = x * mLow + 2 ** (totalShift - 1); // exact: < 2^48
  // x·M + round = high·2^16 + low; floor(n/2^k) = floor((high + floor(low/2^16)) / 2^(k−16)).
  const carry = Math.floor(low / TWO_16);
  return Math.floor((high + carry) / 2 ** (totalShift - 16));
}

function roundHalfToEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function requantize(acc: number, m: number, s: number, rounding: Rounding): number {
  return rounding === 'single'
    ? singleRoundingMultiply(acc, m, s)
    : multiplyByQuantizedMultiplier(acc, m, s);
}

function qOf(t: Tensor): { scale: number; zp: number } {
  return { scale: t.quant!.scale[0]!, zp: t.quant!.zeroPoint[0] ?? 0 };
}

/** The clamp a fused activation implies on an int8 output (TFLite CalculateActivationRangeQuantized). */
function clampRange(op: Op, q: { scale: number; zp: number }): [number, number] {
  const quant = (v: number) => q.zp + Math.round(v / q.scale);
  switch (op.attrs.activation) {
    case 'relu':
      return [Math.max(-128, quant(0)), 127];
    case 'relu6':
      return [Math.max(-128, quant(0)), Math.min(127, quant(6))];
    default:
      return [-128, 127];
  }
}

/** Per-output-channel (multiplier, shift) from double(in)·double(w[c]) / double(out). */
function multipliers(inScale: number, w: Tensor, outScale: number, channels: number) {
  const s = w.quant!.scale;
  return Array.from({ length: channels }, (_, c) =>
    quantizeMultiplier((inScale * (s.length === 1 ? s[0]! : s[c]!)) / outScale),
  );
}

/**
 * conv2d ([outC, kH, kW, inC] weights), depthwiseConv2d ([1, kH, kW, outC] weights, output
 * channel o reading input channel floor(o / multiplier)) or fullyConnected ([out, in] weights) on
 * int8 NHWC input `x`.
 */
export function requantisingOpInt8(g: Graph, op: Op, x: Int8Array, rounding: Rounding): Int8Array {
  const xt = g.tensors.get(op.inputs[0]!)!;
  const wt = g.tensors.get(op.inputs[1]!)!;
  const yt = g.tensors.get(op.outputs[0]!)!;
  const bias = op.inputs[2] ? (g.tensors.get(op.inputs[2])!.data as Int32Array) : undefined;
  const w = wt.data as Int8Array;
  const qi = qOf(xt);
  const qo = qOf(yt);
  const [lo, hi] = clampRange(op, qo);
  const outC = yt.shape[yt.shape.length - 1]!;
  const m = multipliers(qi.scale, wt, qo.scale, outC);
  const ws = wt.quant!.scale;
  // float32 arithmetic, as XNNPACK computes its per-channel scale: in · w[c] / out.
  const f = Math.fround;
  const fscale = Array.from({ length: outC }, (_, c) =>
    f(f(f(qi.scale) * f(ws.length === 1 ? ws[0]! : ws[c]!)) / f(qo.scale)),
  );
  const y = new Int8Array(yt.shape.reduce((a, b) => a * b, 1));
  const finish = (acc: number, c: number) => {
    const v =
      (rounding === 'fp32'
        ? roundHalfToEven(f(f(acc) * fscale[c]!))
        : requantize(acc, m[c]!.multiplier, m[c]!.shift, rounding)) + qo.zp;
    return v < lo ? lo : v > hi ? hi : v;
  };
  if (op.kind === 'fullyConnected') {
    const depth = wt.shape[1]!;
    const rows = y.length / outC;
    for (let r = 0; r < rows; r++)
      for (let o = 0; o < outC; o++) {
        let acc = bias ? bias[o]! : 0;
        for (let k = 0; k < depth; k++) acc += (x[r * depth + k]! - qi.zp) * w[o * depth + k]!;
        y[r * outC + o] = finish(acc, o);
      }
    return y;
  }
  if (!REQUANTISING.has(op.kind)) throw new Error(`requantisingOpInt8: ${op.kind} is not handled`);
  const depthwise = op.kind === 'depthwiseConv2d';
  const [, inH, inW, inC] = xt.shape as [number, number, number, number];
  const [, outH, outW] = yt.shape as [number, number, number, number];
  const [, kH, kW] = wt.shape as [number, number, number, number];
  const perInput = outC / inC;
  const [sH, sW] = op.attrs.strides ?? [1, 1];
  const [dH, dW] = op.attrs.dilations ?? [1, 1];
  const padding = op.attrs.padding ?? 'valid';
  const padT = padBefore(inH, kH, sH, padding, dH);
  const padL = padBefore(inW, kW, sW, padding, dW);
  for (let oy = 0; oy < outH; oy++)
    for (let ox = 0; ox < outW; ox++)
      for (let o = 0; o < outC; o++) {
        let acc = bias ? bias[o]! : 0;
        for (let ky = 0; ky < kH; ky++) {
          const iy = oy * sH - padT + ky * dH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ox * sW - padL + kx * dW;
            if (ix < 0 || ix >= inW) continue;
            const xb = (iy * inW + ix) * inC;
            if (depthwise) {
              const c = Math.floor(o / perInput);
              acc += (x[xb + c]! - qi.zp) * w[(ky * kW + kx) * outC + o]!;
              continue;
            }
            const wb = ((o * kH + ky) * kW + kx) * inC;
            for (let c = 0; c < inC; c++) acc += (x[xb + c]! - qi.zp) * w[wb + c]!;
          }
        }
        y[(oy * outW + ox) * outC + o] = finish(acc, o);
      }
  return y;
}

/**
 * A forward pass of int8 graph `g` (single input, single output) with conv2d, depthwiseConv2d and
 * fullyConnected requantised by `rounding` (one mode, or one per op kind), every other op run by
 * our interpreter alone.
 */
export function createRoundingForward(
  g: Graph,
  rounding: Rounding | Partial<Record<Op['kind'], Rounding>>,
) {
  const modeOf = (op: Op): Rounding =>
    typeof rounding === 'string' ? rounding : (rounding[op.kind] ?? 'double');
  const others = new Map<Op, ReturnType<typeof prepareInt8>>();
  for (const op of g.ops) {
    if (REQUANTISING.has(op.kind)) continue;
    const single = cloneGraph(g);
    single.ops = [op];
    single.inputs = op.inputs.filter((n) => n !== '' && !isConstant(g, n));
    single.outputs = [op.outputs[0]!];
    pruneUnusedTensors(single);
    others.set(op, prepareInt8(single));
  }
  return (x: Int8Array): Int8Array => {
    const acts = new Map<string, Int8Array>([[g.inputs[0]!, x]]);
    for (const op of g.ops) {
      const out = others.has(op)
        ? others
            .get(op)!
            .run(
              op.inputs.filter((n) => n !== '' && !isConstant(g, n)).map((n) => acts.get(n)!),
            )[0]!
        : requantisingOpInt8(g, op, acts.get(op.inputs[0]!)!, modeOf(op));
      acts.set(op.outputs[0]!, out as Int8Array);
    }
    return acts.get(g.outputs[0]!)!;
  };
}
