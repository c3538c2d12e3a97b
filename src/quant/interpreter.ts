// The int8 interpreter: runs a full-integer Graph with exactly the integer arithmetic of the
// TFLite Micro reference kernels (conv.h, depthwise_conv.h, fully_connected.h, pooling.h, add.h,
// reduce.h, pad, softmax.h, quantize/requantize). `prepareInt8` does all per-op work that does not
// depend on the data (multipliers, shifts, clamps, weight sums, buffers) once.
import { getTensor, numElements } from '../graph/graph.js';
import { padBefore } from '../graph/shapes.js';
import type { Activation, Graph, Op, Tensor } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { assertNever } from '../graph/ops.js';
import {
  multiplyByQuantizedMultiplier,
  quantizeMultiplier,
  roundHalfAwayFromZero,
} from './fixedpoint.js';
import { softmaxInt8, softmaxInt8Params } from './softmaxInt8.js';

type Buffer = Int8Array | Float32Array;

export interface PreparedInt8 {
  /** Runs one example; inputs in graph input order, outputs in graph output order (fresh copies). */
  run(inputs: Int8Array[]): Int8Array[];
  /** Like run, for graphs whose inputs or outputs are float32 (QUANTIZE / DEQUANTIZE at the ends). */
  runMixed(inputs: Buffer[]): Buffer[];
  readonly inputShapes: number[][];
  readonly outputShapes: number[][];
}

interface QParams {
  scale: number;
  zp: number;
}

const f32 = Math.fround;

/** TFLite's Quantize(scale, zp, f): float32 division, round half away from zero. */
function quantizeValue(f: number, q: QParams): number {
  return q.zp + roundHalfAwayFromZero(f32(f32(f) / f32(q.scale)));
}

/** CalculateActivationRangeQuantized for int8 outputs. */
export function activationRangeInt8(
  activation: Activation | undefined,
  q: QParams,
): [number, number] {
  if (activation === 'relu') return [Math.max(-128, quantizeValue(0, q)), 127];
  if (activation === 'relu6')
    return [Math.max(-128, quantizeValue(0, q)), Math.min(127, quantizeValue(6, q))];
  return [-128, 127];
}

function opError(op: Op, index: number, msg: string): never {
  throw new TinypruneError(`int8 interpreter: op ${index} (${op.kind} "${op.name}"): ${msg}`);
}

function perTensorQ(t: Tensor, op: Op, index: number): QParams {
  const q = t.quant;
  if (!q || q.scale.length === 0)
    opError(
      op,
      index,
      `tensor "${t.name}" has no quantisation; expected int8 with scale/zero point`,
    );
  return { scale: q.scale[0]!, zp: q.zeroPoint[0] ?? 0 };
}

function expectDtype(t: Tensor, dtype: string, op: Op, index: number): void {
  if (t.dtype !== dtype)
    opError(op, index, `tensor "${t.name}" must be ${dtype}, found ${t.dtype}`);
}

/** Per-output-channel requantisation parameters: effective scale s_in·s_w[c] / s_out. */
function channelMultipliers(
  inScale: number,
  w: Tensor,
  outScale: number,
  channels: number,
): { mult: Int32Array; shift: Int32Array } {
  const scales = w.quant?.scale ?? [];
  const mult = new Int32Array(channels);
  const shift = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const ws = scales.length === 1 ? scales[0]! : scales[c]!;
    const q = quantizeMultiplier((inScale * ws) / outScale);
    mult[c] = q.multiplier;
    shift[c] = q.shift;
  }
  return { mult, shift };
}

type Kernel = (bufs: Buffer[]) => void;

function constValues(g: Graph, name: string | undefined): number[] | undefined {
  if (!name) return undefined;
  const t = g.tensors.get(name);
  return t?.data ? Array.from(t.data as ArrayLike<number>, Number) : undefined;
}

export function prepareInt8(graph: Graph): PreparedInt8 {
  // Buffer slots: one per activation tensor; reshape outputs alias their input's slot.
  const slotOf = new Map<string, number>();
  const slotSizes: { n: number; float: boolean }[] = [];
  const newSlot = (t: Tensor): number => {
    slotSizes.push({ n: numElements(t.shape), float: t.dtype === 'float32' });
    slotOf.set(t.name, slotSizes.length - 1);
    return slotSizes.length - 1;
  };
  for (const name of graph.inputs) {
    const t = getTensor(graph, name);
    if (t.dtype !== 'int8' && t.dtype !== 'float32')
      throw new TinypruneError(
        `int8 interpreter: graph input "${name}" must be int8 (or float32 before a QUANTIZE), found ${t.dtype}`,
      );
    newSlot(t);
  }
  const slot = (name: string, op: Op, i: number): number => {
    const s = slotOf.get(name);
    if (s === undefined) opError(op, i, `reads "${name}" before it is produced`);
    return s;
  };

  const kernels: Kernel[] = graph.ops.map((op, i) => {
    const x = getTensor(graph, op.inputs[0]!);
    const y = getTensor(graph, op.outputs[0]!);
    const xs = slot(x.name, op, i);
    if (op.kind === 'reshape') {
      if (numElements(x.shape) !== numElements(y.shape))
        opError(op, i, `reshape changes the element count (${x.shape} → ${y.shape})`);
      slotOf.set(y.name, xs);
      return () => {};
    }
    const ys = newSlot(y);
    return buildKernel(graph, op, i, x, y, xs, ys, (n) => slot(n, op, i));
  });

  const inputShapes = graph.inputs.map((n) => [...getTensor(graph, n).shape]);
  const outputShapes = graph.outputs.map((n) => [...getTensor(graph, n).shape]);
  const bufs: Buffer[] = slotSizes.map((s) =>
    s.float ? new Float32Array(s.n) : new Int8Array(s.n),
  );
  const inSlots = graph.inputs.map((n) => slotOf.get(n)!);
  const outSlots = graph.outputs.map((n) => {
    const s = slotOf.get(n);
    if (s === undefined)
      throw new TinypruneError(`int8 interpreter: graph output "${n}" is never produced`);
    return s;
  });

  const runMixed = (inputs: Buffer[]): Buffer[] => {
    if (inputs.length !== inSlots.length)
      throw new TinypruneError(
        `int8 interpreter: graph ${graph.name} takes ${inSlots.length} input(s), got ${inputs.length}`,
      );
    inputs.forEach((inp, k) => {
      const b = bufs[inSlots[k]!]!;
      if (inp.length !== b.length || inp.constructor !== b.constructor)
        throw new TinypruneError(
          `int8 interpreter: input ${k} ("${graph.inputs[k]}") must be ${b.constructor.name} of ${b.length} values [${inputShapes[k]}], got ${inp.constructor.name} of ${inp.length}`,
        );
      b.set(inp as never);
    });
    for (const k of kernels) k(bufs);
    return outSlots.map((s) => bufs[s]!.slice());
  };
  return {
    inputShapes,
    outputShapes,
    runMixed,
    run(inputs: Int8Array[]): Int8Array[] {
      const out = runMixed(inputs);
      out.forEach((o, k) => {
        if (!(o instanceof Int8Array))
          throw new TinypruneError(
            `int8 interpreter: output "${graph.outputs[k]}" is float32; use runMixed`,
          );
      });
      return out as Int8Array[];
    },
  };
}

/** One-shot convenience: prepares and runs the graph once. */
export function runInt8(graph: Graph, inputs: Int8Array[]): Int8Array[] {
  return prepareInt8(graph).run(inputs);
}

function buildKernel(
  g: Graph,
  op: Op,
  i: number,
  x: Tensor,
  y: Tensor,
  xs: number,
  ys: number,
  slot: (name: string) => number,
): Kernel {
  const a = op.attrs;
  const isInt8 = (t: Tensor) => expectDtype(t, 'int8', op, i);
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      isInt8(x);
      isInt8(y);
      const w = getTensor(g, op.inputs[1]!);
      isInt8(w);
      if (!w.data) opError(op, i, `weights "${w.name}" are not constant`);
      const bias = op.inputs[2] ? getTensor(g, op.inputs[2]) : undefined;
      if (bias && (bias.dtype !== 'int32' || !bias.data))
        opError(op, i, `bias "${bias.name}" must be a constant int32 tensor, found ${bias.dtype}`);
      const qi = perTensorQ(x, op, i);
      const qo = perTensorQ(y, op, i);
      if (!w.quant) opError(op, i, `weights "${w.name}" have no quantisation`);
      if (w.quant.zeroPoint.some((z) => z !== 0))
        opError(op, i, `weights "${w.name}" must be symmetric (zero point 0)`);
      const [, inH, inW, inC] = x.shape as [number, number, number, number];
      const [, outH, outW, outC] = y.shape as [number, number, number, number];
      const kH = w.shape[1]!;
      const kW = w.shape[2]!;
      const [sH, sW] = a.strides ?? [1, 1];
      const [dH, dW] = a.dilations ?? [1, 1];
      const pad = a.padding ?? 'valid';
      const geo: ConvGeometry = {
        inH,
        inW,
        inC,
        outH,
        outW,
        outC,
        kH,
        kW,
        sH,
        sW,
        dH,
        dW,
        padT: padBefore(inH, kH, sH, pad, dH),
        padL: padBefore(inW, kW, sW, pad, dW),
      };
      const { mult, shift } = channelMultipliers(qi.scale, w, qo.scale, outC);
      const [actMin, actMax] = activationRangeInt8(a.activation, qo);
      const biasData = bias ? (bias.data as Int32Array) : new Int32Array(outC);
      const wData = w.data as Int8Array;
      const rq: Requant = { mult, shift, outZp: qo.zp, actMin, actMax };
      if (op.kind === 'conv2d') {
        if (w.shape[3] !== inC)
          opError(op, i, `filter expects ${w.shape[3]} input channels, input has ${inC}`);
        const k = prepareConv(geo, wData, biasData, -qi.zp, rq);
        return (b) => k(b[xs] as Int8Array, b[ys] as Int8Array);
      }
      const mDepth = outC / inC;
      if (!Number.isInteger(mDepth)) opError(op, i, `${outC} output channels for ${inC} inputs`);
      const k = prepareDepthwise(geo, mDepth, wData, biasData, -qi.zp, rq);
      return (b) => k(b[xs] as Int8Array, b[ys] as Int8Array);
    }
    case 'fullyConnected': {
      isInt8(x);
      isInt8(y);
      const w = getTensor(g, op.inputs[1]!);
      isInt8(w);
      if (!w.data || !w.quant) opError(op, i, `weights "${w.name}" must be constant and quantised`);
      const bias = op.inputs[2] ? getTensor(g, op.inputs[2]) : undefined;
      if (bias && (bias.dtype !== 'int32' || !bias.data))
        opError(op, i, `bias "${bias.name}" must be a constant int32 tensor, found ${bias.dtype}`);
      const qi = perTensorQ(x, op, i);
      const qo = perTensorQ(y, op, i);
      const [outUnits, inUnits] = w.shape as [number, number];
      const { mult, shift } = channelMultipliers(qi.scale, w, qo.scale, outUnits);
      const [actMin, actMax] = activationRangeInt8(a.activation, qo);
      const wZp = w.quant.zeroPoint.length === 1 ? w.quant.zeroPoint[0]! : 0;
      if (w.quant.zeroPoint.length > 1 && w.quant.zeroPoint.some((z) => z !== 0))
        opError(op, i, `per-channel weights "${w.name}" must be symmetric`);
      const wData = w.data as Int8Array;
      const biasData = bias ? (bias.data as Int32Array) : new Int32Array(outUnits);
      const rq: Requant = { mult, shift, outZp: qo.zp, actMin, actMax };
      const batches = numElements(x.shape) / inUnits;
      // sum((x + inOff)(w + wOff)) = sum(x(w + wOff)) + inOff·sum(w + wOff): fold the second
      // term into the bias and widen the weights once.
      const wAdj = new Int32Array(wData.length);
      const biasAdj = new Float64Array(outUnits);
      for (let o = 0; o < outUnits; o++) {
        let s = 0;
        for (let k = 0; k < inUnits; k++) {
          const v = wData[o * inUnits + k]! - wZp;
          wAdj[o * inUnits + k] = v;
          s += v;
        }
        biasAdj[o] = biasData[o]! - qi.zp * s;
      }
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        for (let n = 0; n < batches; n++) {
          const xb = n * inUnits;
          for (let o = 0; o < outUnits; o++) {
            let acc = biasAdj[o]!;
            const wb = o * inUnits;
            for (let k = 0; k < inUnits; k++) acc += xin[xb + k]! * wAdj[wb + k]!;
            out[n * outUnits + o] = requant(acc | 0, o, rq);
          }
        }
      };
    }
    case 'averagePool2d':
    case 'maxPool2d': {
      isInt8(x);
      isInt8(y);
      const [, inH, inW, C] = x.shape as [number, number, number, number];
      const [, outH, outW] = y.shape as [number, number, number, number];
      const [kH, kW] = a.poolSize ?? [1, 1];
      const [sH, sW] = a.strides ?? [1, 1];
      const pad = a.padding ?? 'valid';
      const padT = padBefore(inH, kH, sH, pad);
      const padL = padBefore(inW, kW, sW, pad);
      const [actMin, actMax] = activationRangeInt8(a.activation, perTensorQ(y, op, i));
      const isAvg = op.kind === 'averagePool2d';
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        for (let oy = 0; oy < outH; oy++) {
          const iy0 = oy * sH - padT;
          const fy0 = Math.max(0, -iy0);
          const fy1 = Math.min(kH, inH - iy0);
          for (let ox = 0; ox < outW; ox++) {
            const ix0 = ox * sW - padL;
            const fx0 = Math.max(0, -ix0);
            const fx1 = Math.min(kW, inW - ix0);
            const count = (fy1 - fy0) * (fx1 - fx0);
            const ob = (oy * outW + ox) * C;
            for (let c = 0; c < C; c++) {
              let acc = isAvg ? 0 : -128;
              for (let fy = fy0; fy < fy1; fy++)
                for (let fx = fx0; fx < fx1; fx++) {
                  const v = xin[((iy0 + fy) * inW + ix0 + fx) * C + c]!;
                  if (isAvg) acc += v;
                  else if (v > acc) acc = v;
                }
              if (isAvg) {
                const half = count >> 1;
                acc = acc > 0 ? Math.trunc((acc + half) / count) : Math.trunc((acc - half) / count);
              }
              out[ob + c] = acc < actMin ? actMin : acc > actMax ? actMax : acc;
            }
          }
        }
      };
    }
    case 'mean': {
      isInt8(x);
      isInt8(y);
      const qi = perTensorQ(x, op, i);
      const qo = perTensorQ(y, op, i);
      const rank = x.shape.length;
      const axes = (a.axes ?? constValues(g, op.inputs[1]) ?? [1, 2]).map((ax) =>
        ax < 0 ? ax + rank : ax,
      );
      // Reduce as [outer, reduced, inner] only when the axes are contiguous (the NHWC [1, 2] case).
      const sorted = [...new Set(axes)].sort((p, q) => p - q);
      if (sorted.some((ax, k) => k > 0 && ax !== sorted[k - 1]! + 1))
        opError(op, i, `MEAN over non-contiguous axes [${axes}] is not supported`);
      const outer = numElements(x.shape.slice(0, sorted[0]));
      const reduced = numElements(sorted.map((ax) => x.shape[ax]!));
      const inner = numElements(x.shape.slice(sorted[sorted.length - 1]! + 1));
      // reduce.h QuantizedMeanOrSum: fold 1/n into the multiplier with extra precision bits.
      const base = quantizeMultiplier(qi.scale / qo.scale);
      let sh = 31 - Math.clz32(reduced); // floor(log2 n), n < 2^31
      sh = Math.min(sh, 32, 31 + base.shift);
      const mult = Number((BigInt(base.multiplier) << BigInt(sh)) / BigInt(reduced));
      const outShift = base.shift - sh;
      const offset = qi.zp * reduced;
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        for (let o = 0; o < outer; o++)
          for (let c = 0; c < inner; c++) {
            let s = 0;
            for (let r = 0; r < reduced; r++) s += xin[(o * reduced + r) * inner + c]!;
            const v = multiplyByQuantizedMultiplier(s - offset, mult | 0, outShift) + qo.zp;
            out[o * inner + c] = v < -128 ? -128 : v > 127 ? 127 : v;
          }
      };
    }
    case 'add': {
      const x2 = getTensor(g, op.inputs[1]!);
      isInt8(x);
      isInt8(x2);
      isInt8(y);
      const q1 = perTensorQ(x, op, i);
      const q2 = perTensorQ(x2, op, i);
      const qo = perTensorQ(y, op, i);
      const leftShift = 20;
      const twiceMax = 2 * Math.max(q1.scale, q2.scale);
      const m1 = quantizeMultiplier(q1.scale / twiceMax);
      const m2 = quantizeMultiplier(q2.scale / twiceMax);
      const mo = quantizeMultiplier(twiceMax / (2 ** leftShift * qo.scale));
      const [actMin, actMax] = activationRangeInt8(a.activation, qo);
      const n = numElements(y.shape);
      const broadcast = numElements(x2.shape) === 1 && n !== 1;
      const constB = x2.data as Int8Array | undefined;
      const x2s = constB ? -1 : slot(x2.name);
      return (b) => {
        const in1 = b[xs] as Int8Array;
        const in2 = constB ?? (b[x2s] as Int8Array);
        const out = b[ys] as Int8Array;
        for (let k = 0; k < n; k++) {
          const v1 = (in1[k]! - q1.zp) * (1 << leftShift);
          const v2 = (in2[broadcast ? 0 : k]! - q2.zp) * (1 << leftShift);
          const s1 = multiplyByQuantizedMultiplier(v1, m1.multiplier, m1.shift);
          const s2 = multiplyByQuantizedMultiplier(v2, m2.multiplier, m2.shift);
          const v = multiplyByQuantizedMultiplier((s1 + s2) | 0, mo.multiplier, mo.shift) + qo.zp;
          out[k] = v < actMin ? actMin : v > actMax ? actMax : v;
        }
      };
    }
    case 'pad': {
      isInt8(x);
      isInt8(y);
      const paddings: [number, number][] =
        a.paddings ??
        (() => {
          const v = constValues(g, op.inputs[1]);
          if (!v) opError(op, i, 'has no paddings');
          return x.shape.map((_, d) => [v[2 * d]!, v[2 * d + 1]!] as [number, number]);
        })();
      const padValue = perTensorQ(y, op, i).zp;
      const inShape = x.shape;
      const outShape = y.shape;
      const rank = inShape.length;
      // Copy rows of the innermost dimension into a zero-point-filled output.
      const innerIn = inShape[rank - 1]!;
      const rows = numElements(inShape) / innerIn;
      const outStrides = outShape.map((_, d) => numElements(outShape.slice(d + 1)));
      const rowOffsets = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        let rem = r;
        let off = paddings[rank - 1]![0] * outStrides[rank - 1]!;
        for (let d = rank - 2; d >= 0; d--) {
          const idx = rem % inShape[d]!;
          rem = Math.floor(rem / inShape[d]!);
          off += (idx + paddings[d]![0]) * outStrides[d]!;
        }
        rowOffsets[r] = off;
      }
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        out.fill(padValue);
        for (let r = 0; r < rows; r++)
          out.set(xin.subarray(r * innerIn, (r + 1) * innerIn), rowOffsets[r]!);
      };
    }
    case 'softmax': {
      isInt8(x);
      isInt8(y);
      const qi = perTensorQ(x, op, i);
      const qo = perTensorQ(y, op, i);
      if (qo.zp !== -128 || f32(qo.scale) !== 1 / 256)
        opError(
          op,
          i,
          `int8 softmax output must have scale 1/256 and zero point -128, found ${qo.scale}, ${qo.zp}`,
        );
      const p = softmaxInt8Params(qi.scale, a.beta ?? 1);
      const depth = x.shape[x.shape.length - 1]!;
      return (b) => softmaxInt8(p, b[xs] as Int8Array, b[ys] as Int8Array, depth);
    }
    case 'relu':
    case 'relu6': {
      isInt8(x);
      isInt8(y);
      const qi = perTensorQ(x, op, i);
      const qo = perTensorQ(y, op, i);
      const m = quantizeMultiplier(qi.scale / qo.scale);
      const [lo, hi] = activationRangeInt8(op.kind, qo);
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        for (let k = 0; k < xin.length; k++) {
          const v = qo.zp + multiplyByQuantizedMultiplier(xin[k]! - qi.zp, m.multiplier, m.shift);
          out[k] = v < lo ? lo : v > hi ? hi : v;
        }
      };
    }
    case 'quantize': {
      isInt8(y);
      const qo = perTensorQ(y, op, i);
      if (x.dtype === 'float32') {
        return (b) => {
          const xin = b[xs] as Float32Array;
          const out = b[ys] as Int8Array;
          for (let k = 0; k < xin.length; k++) {
            const v = quantizeValue(xin[k]!, qo);
            out[k] = v < -128 ? -128 : v > 127 ? 127 : v;
          }
        };
      }
      isInt8(x);
      const qi = perTensorQ(x, op, i);
      const m = quantizeMultiplier(qi.scale / qo.scale);
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Int8Array;
        for (let k = 0; k < xin.length; k++) {
          const v = multiplyByQuantizedMultiplier(xin[k]! - qi.zp, m.multiplier, m.shift) + qo.zp;
          out[k] = v < -128 ? -128 : v > 127 ? 127 : v;
        }
      };
    }
    case 'dequantize': {
      isInt8(x);
      expectDtype(y, 'float32', op, i);
      const qi = perTensorQ(x, op, i);
      const s = f32(qi.scale);
      return (b) => {
        const xin = b[xs] as Int8Array;
        const out = b[ys] as Float32Array;
        for (let k = 0; k < xin.length; k++) out[k] = f32((xin[k]! - qi.zp) * s);
      };
    }
    case 'batchNorm':
    case 'reshape':
      opError(op, i, `${op.kind} cannot run in an int8 graph (fold BatchNorm before quantising)`);
    default:
      return assertNever(op.kind, 'op kind');
  }
}

interface Requant {
  mult: Int32Array;
  shift: Int32Array;
  outZp: number;
  actMin: number;
  actMax: number;
}

function requant(acc: number, c: number, rq: Requant): number {
  const v = multiplyByQuantizedMultiplier(acc, rq.mult[c]!, rq.shift[c]!) + rq.outZp;
  return v < rq.actMin ? rq.actMin : v > rq.actMax ? rq.actMax : v;
}

interface ConvGeometry {
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  dH: number;
  dW: number;
  padT: number;
  padL: number;
}

/**
 * CONV_2D: acc = bias + Σ (x + inOff)·w over in-image taps. Computed as Σ x·w + inOff·Σw, with
 * the Σw of each (channel, tap) precomputed so padding still contributes exactly zero.
 */
function prepareConv(
  geo: ConvGeometry,
  w: Int8Array,
  bias: Int32Array,
  inOff: number,
  rq: Requant,
): (x: Int8Array, out: Int8Array) => void {
  const { inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, dH, dW, padT, padL } = geo;
  const taps = kH * kW;
  const wide = Int32Array.from(w);
  const tapSum = new Float64Array(outC * taps);
  const fullSum = new Float64Array(outC);
  for (let oc = 0; oc < outC; oc++)
    for (let t = 0; t < taps; t++) {
      let s = 0;
      for (let ic = 0; ic < inC; ic++) s += w[(oc * taps + t) * inC + ic]!;
      tapSum[oc * taps + t] = s;
      fullSum[oc] += s;
    }
  const pointwise = kH === 1 && kW === 1 && sH === 1 && sW === 1 && padT === 0 && padL === 0;
  const acc = new Float64Array(outC);
  // bias + inOff·Σw: the whole constant part of a pointwise accumulator.
  const base = new Float64Array(outC);
  for (let oc = 0; oc < outC; oc++) base[oc] = bias[oc]! + inOff * fullSum[oc]!;
  return (x, out) => {
    if (pointwise) {
      // Blocked 2 pixels × 4 channels so every loaded input and weight is used twice or more.
      const pixels = outH * outW;
      const oc4 = outC & ~3;
      let p = 0;
      for (; p + 1 < pixels; p += 2) {
        const xa = p * inC;
        const xb = xa + inC;
        const oa = p * outC;
        const ob = oa + outC;
        let oc = 0;
        for (; oc < oc4; oc += 4) {
          const w0 = oc * inC;
          const w1 = w0 + inC;
          const w2 = w1 + inC;
          const w3 = w2 + inC;
          let a0 = 0,
            a1 = 0,
            a2 = 0,
            a3 = 0,
            b0 = 0,
            b1 = 0,
            b2 = 0,
            b3 = 0;
          for (let ic = 0; ic < inC; ic++) {
            const u = x[xa + ic]!;
            const v = x[xb + ic]!;
            const k0 = wide[w0 + ic]!;
            const k1 = wide[w1 + ic]!;
            const k2 = wide[w2 + ic]!;
            const k3 = wide[w3 + ic]!;
            a0 += u * k0;
            a1 += u * k1;
            a2 += u * k2;
            a3 += u * k3;
            b0 += v * k0;
            b1 += v * k1;
            b2 += v * k2;
            b3 += v * k3;
          }
          out[oa + oc] = requant((base[oc]! + a0) | 0, oc, rq);
          out[oa + oc + 1] = requant((base[oc + 1]! + a1) | 0, oc + 1, rq);
          out[oa + oc + 2] = requant((base[oc + 2]! + a2) | 0, oc + 2, rq);
          out[oa + oc + 3] = requant((base[oc + 3]! + a3) | 0, oc + 3, rq);
          out[ob + oc] = requant((base[oc]! + b0) | 0, oc, rq);
          out[ob + oc + 1] = requant((base[oc + 1]! + b1) | 0, oc + 1, rq);
          out[ob + oc + 2] = requant((base[oc + 2]! + b2) | 0, oc + 2, rq);
          out[ob + oc + 3] = requant((base[oc + 3]! + b3) | 0, oc + 3, rq);
        }
        for (; oc < outC; oc++) {
          const w0 = oc * inC;
          let a0 = 0,
            b0 = 0;
          for (let ic = 0; ic < inC; ic++) {
            a0 += x[xa + ic]! * wide[w0 + ic]!;
            b0 += x[xb + ic]! * wide[w0 + ic]!;
          }
          out[oa + oc] = requant((base[oc]! + a0) | 0, oc, rq);
          out[ob + oc] = requant((base[oc]! + b0) | 0, oc, rq);
        }
      }
      for (; p < pixels; p++) {
        const xa = p * inC;
        for (let oc = 0; oc < outC; oc++) {
          const w0 = oc * inC;
          let a0 = 0;
          for (let ic = 0; ic < inC; ic++) a0 += x[xa + ic]! * wide[w0 + ic]!;
          out[p * outC + oc] = requant((base[oc]! + a0) | 0, oc, rq);
        }
      }
      return;
    }
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        for (let oc = 0; oc < outC; oc++) acc[oc] = bias[oc]!;
        for (let ky = 0; ky < kH; ky++) {
          const iy = iy0 + ky * dH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ix0 + kx * dW;
            if (ix < 0 || ix >= inW) continue;
            const xb = (iy * inW + ix) * inC;
            const t = ky * kW + kx;
            for (let oc = 0; oc < outC; oc++) {
              let s = inOff * tapSum[oc * taps + t]!;
              const wb = (oc * taps + t) * inC;
              for (let ic = 0; ic < inC; ic++) s += x[xb + ic]! * wide[wb + ic]!;
              acc[oc] += s;
            }
          }
        }
        const ob = (oy * outW + ox) * outC;
        for (let oc = 0; oc < outC; oc++) out[ob + oc] = requant(acc[oc]! | 0, oc, rq);
      }
    }
  };
}

/** DEPTHWISE_CONV_2D: output channel ic·M + m reads input channel ic; filter [1, kH, kW, C·M]. */
function prepareDepthwise(
  geo: ConvGeometry,
  mDepth: number,
  w: Int8Array,
  bias: Int32Array,
  inOff: number,
  rq: Requant,
): (x: Int8Array, out: Int8Array) => void {
  const { inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, dH, dW, padT, padL } = geo;
  const wide = Int32Array.from(w);
  const acc = new Int32Array(outC);
  return (x, out) => {
    for (let oy = 0; oy < outH; oy++) {
      const iy0 = oy * sH - padT;
      for (let ox = 0; ox < outW; ox++) {
        const ix0 = ox * sW - padL;
        acc.set(bias);
        for (let ky = 0; ky < kH; ky++) {
          const iy = iy0 + ky * dH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kW; kx++) {
            const ix = ix0 + kx * dW;
            if (ix < 0 || ix >= inW) continue;
            const xb = (iy * inW + ix) * inC;
            const wb = (ky * kW + kx) * outC;
            if (mDepth === 1) {
              for (let c = 0; c < outC; c++) acc[c] += (x[xb + c]! + inOff) * wide[wb + c]!;
            } else {
              for (let ic = 0; ic < inC; ic++) {
                const v = x[xb + ic]! + inOff;
                for (let m = 0; m < mDepth; m++) {
                  const oc = ic * mDepth + m;
                  acc[oc] += v * wide[wb + oc]!;
                }
              }
            }
          }
        }
        const ob = (oy * outW + ox) * outC;
        for (let oc = 0; oc < outC; oc++) out[ob + oc] = requant(acc[oc]!, oc, rq);
      }
    }
  };
}
