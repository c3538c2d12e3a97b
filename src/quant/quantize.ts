// Post-training full-integer quantisation of a float Graph (the TFLite converter's scheme):
// weights int8 symmetric per output channel (conv axis 0, depthwise axis 3; FC per tensor),
// biases int32 at s_in·s_w, activations int8 asymmetric per tensor from calibration ranges
// (always containing 0), pools/reshape/pad sharing their input's parameters, softmax output at
// 1/256 and -128. The graph's own input and output tensors become int8.
import { cloneGraph, getTensor, numElements } from '../graph/graph.js';
import type { Graph, Op, Quantization, Tensor } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { assertNever, supportedKinds, supports } from '../graph/ops.js';
import { constantAsFloat, prepareFloat } from './floatRef.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'mse';

export interface QuantizeOptions {
  method?: CalibrationMethod;
  /** For 'percentile': the upper percentile kept (the lower one is 100 - p). Default 99.99. */
  percentile?: number;
}

const f32 = Math.fround;
const BINS = 2048;

/** Activation range of one tensor as seen over the calibration set. */
interface RangeStats {
  min: number;
  max: number;
  hist?: Float64Array;
}

/** int8 asymmetric parameters for a real range (widened to contain 0), TFLite-style nudging. */
export function activationQuant(min: number, max: number): Quantization {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi - lo < 1e-12) return { scale: [f32(1 / 255)], zeroPoint: [-128] };
  const scale = f32((hi - lo) / 255);
  const zp = Math.min(127, Math.max(-128, Math.round(-128 - lo / scale)));
  return { scale: [scale], zeroPoint: [zp] };
}

async function collectSamples(
  calibration: Iterable<Float32Array> | AsyncIterable<Float32Array>,
  expected: number,
  inputName: string,
): Promise<Float32Array[]> {
  const samples: Float32Array[] = [];
  for await (const s of calibration as AsyncIterable<Float32Array>) {
    if (!(s instanceof Float32Array) || s.length !== expected)
      throw new TinypruneError(
        `calibration sample ${samples.length} for input "${inputName}": expected a Float32Array of ${expected} values, found ${
          s instanceof Float32Array ? `${s.length} values` : typeof s
        }`,
      );
    samples.push(s);
  }
  if (samples.length === 0)
    throw new TinypruneError('calibration set is empty: quantising needs at least one sample');
  return samples;
}

/** Range [lo, hi] for one tensor by the chosen method. */
function chooseRange(st: RangeStats, opts: QuantizeOptions): [number, number] {
  const method = opts.method ?? 'minmax';
  if (method === 'minmax' || !st.hist) return [st.min, st.max];
  const h = st.hist;
  const width = (st.max - st.min) / BINS;
  const total = h.reduce((p, v) => p + v, 0);
  if (method === 'percentile') {
    const p = opts.percentile ?? 99.99;
    const cut = (total * (100 - p)) / 100;
    let acc = 0;
    let loBin = 0;
    while (loBin < BINS - 1 && acc + h[loBin]! <= cut) acc += h[loBin++]!;
    acc = 0;
    let hiBin = BINS - 1;
    while (hiBin > 0 && acc + h[hiBin]! <= cut) acc += h[hiBin--]!;
    const lo = st.min + loBin * width;
    const hi = st.min + (hiBin + 1) * width;
    return [Math.min(lo, st.min >= 0 ? st.min : lo), Math.max(hi, lo)];
  }
  // mse: shrink the range symmetrically toward its ends' percentiles, pick the least expected
  // squared error (rounding noise inside, clipping error outside) from the histogram.
  let best: [number, number] = [st.min, st.max];
  let bestErr = Infinity;
  for (let k = 0; k <= 40; k++) {
    const f = 1 - k * 0.02;
    const lo = st.min < 0 ? st.min * f : st.min;
    const hi = st.max * f;
    const q = activationQuant(lo, hi);
    const s = q.scale[0]!;
    const qlo = (-128 - q.zeroPoint[0]!) * s;
    const qhi = (127 - q.zeroPoint[0]!) * s;
    let err = 0;
    for (let b = 0; b < BINS; b++) {
      if (!h[b]) continue;
      const v = st.min + (b + 0.5) * width;
      const c = v < qlo ? qlo - v : v > qhi ? v - qhi : 0;
      err += h[b]! * (c * c + (s * s) / 12);
    }
    if (err < bestErr) {
      bestErr = err;
      best = [lo, hi];
    }
  }
  return best;
}

/** Quantises a float Graph to a full-integer int8 Graph. */
export async function quantizeGraph(
  floatGraph: Graph,
  calibration: Iterable<Float32Array> | AsyncIterable<Float32Array>,
  opts: QuantizeOptions = {},
): Promise<Graph> {
  if (floatGraph.ops.some((op) => op.kind === 'batchNorm'))
    throw new TinypruneError(
      `${floatGraph.name}: fold BatchNorm into the convolutions before quantising (foldBatchNorm)`,
    );
  floatGraph.ops.forEach((op, i) => {
    if (!supports(op.kind, 'quantize'))
      throw new TinypruneError(
        `cannot quantise op ${i} (${op.kind} "${op.name}") to int8 (quantisable: ${supportedKinds('quantize').join(', ')})`,
      );
  });
  if (floatGraph.inputs.length !== 1)
    throw new TinypruneError(
      `quantising needs a single-input graph, ${floatGraph.name} has ${floatGraph.inputs.length}`,
    );
  const method = opts.method ?? 'minmax';
  if (!['minmax', 'percentile', 'mse'].includes(method))
    throw new TinypruneError(`--method: expected minmax, percentile or mse, found "${method}"`);
  const p = opts.percentile ?? 99.99;
  if (!(p > 50 && p <= 100))
    throw new TinypruneError(`--percentile: expected a number in (50, 100], found ${p}`);

  const inputName = floatGraph.inputs[0]!;
  const samples = await collectSamples(
    calibration,
    numElements(getTensor(floatGraph, inputName).shape),
    inputName,
  );

  // Pass 1: min/max of every activation; pass 2 (percentile/mse): histograms over [min, max].
  const ref = prepareFloat(floatGraph);
  const stats = new Map<string, RangeStats>();
  for (const s of samples)
    ref.run([s], (name, v) => {
      let st = stats.get(name);
      if (!st) stats.set(name, (st = { min: Infinity, max: -Infinity }));
      for (let k = 0; k < v.length; k++) {
        const x = v[k]!;
        if (x < st.min) st.min = x;
        if (x > st.max) st.max = x;
      }
    });
  if (method !== 'minmax') {
    for (const st of stats.values()) if (st.max > st.min) st.hist = new Float64Array(BINS);
    for (const s of samples)
      ref.run([s], (name, v) => {
        const st = stats.get(name)!;
        if (!st.hist) return;
        const k = BINS / (st.max - st.min);
        for (let i = 0; i < v.length; i++)
          st.hist[Math.min(BINS - 1, Math.floor((v[i]! - st.min) * k))]! += 1;
      });
  }

  const g = cloneGraph(floatGraph, `${floatGraph.name}_int8`);
  const quantOf = (name: string): Quantization => {
    const t = getTensor(g, name);
    if (!t.quant) throw new Error(`internal: "${name}" quantised out of order`);
    return t.quant;
  };
  const setAct = (name: string, q: Quantization) => {
    const t = getTensor(g, name);
    t.dtype = 'int8';
    t.quant = { scale: [...q.scale], zeroPoint: [...q.zeroPoint] };
  };
  const fromStats = (name: string) => {
    const st = stats.get(name);
    if (!st) throw new Error(`internal: no calibration range for "${name}"`);
    const [lo, hi] = chooseRange(st, opts);
    return activationQuant(lo, hi);
  };

  setAct(inputName, fromStats(inputName));
  g.ops.forEach((op) => quantizeOp(g, op, quantOf, setAct, fromStats));
  g.metadata = { ...g.metadata, quantization: `int8 (${method}, ${samples.length} samples)` };
  return g;
}

function quantizeOp(
  g: Graph,
  op: Op,
  quantOf: (name: string) => Quantization,
  setAct: (name: string, q: Quantization) => void,
  fromStats: (name: string) => Quantization,
): void {
  const x = op.inputs[0]!;
  const y = op.outputs[0]!;
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d':
    case 'fullyConnected': {
      const sIn = quantOf(x).scale[0]!;
      const axis = op.kind === 'conv2d' ? 0 : op.kind === 'depthwiseConv2d' ? 3 : -1;
      const w = getTensor(g, op.inputs[1]!);
      const bias = op.inputs[2] ? getTensor(g, op.inputs[2]) : undefined;
      const wScales = quantizeWeights(w, axis, bias && biasScaleFloor(bias, sIn));
      const outC = axis === 3 ? w.shape[3]! : w.shape[0]!;
      if (bias) quantizeBias(bias, sIn, wScales, outC);
      setAct(y, fromStats(y));
      return;
    }
    case 'averagePool2d':
    case 'maxPool2d':
    case 'reshape':
    case 'pad':
      setAct(y, quantOf(x));
      return;
    case 'softmax':
      setAct(y, { scale: [1 / 256], zeroPoint: [-128] });
      return;
    // An add's two inputs keep their own scales (the int8 kernel rescales both); its output, like
    // a mean's or an activation's, takes the range seen in calibration.
    case 'mean':
    case 'add':
    case 'relu':
    case 'relu6':
    case 'batchNorm':
    case 'quantize':
    case 'dequantize':
      setAct(y, fromStats(y));
      return;
    default:
      assertNever(op.kind, 'op kind');
  }
}

const INT32_MAX = 2147483647;

/**
 * Smallest weight scale per output channel that keeps the int32 bias (at s_in·s_w) in range.
 * A nearly dead channel (weights ~1e-31, as in MobileNet's trained VWW model) with a real bias
 * would otherwise overflow its bias and lose it; TFLite's quantiser raises such weight scales
 * the same way (AdjustWeightsForBiasScale).
 */
function biasScaleFloor(bias: Tensor, sIn: number): number[] {
  return Array.from(constantAsFloat(bias), (b) => (Math.abs(b) / (sIn * INT32_MAX)) * (1 + 1e-6));
}

/**
 * int8 symmetric weights in [-127, 127]; per channel of `axis`, or per tensor for axis -1.
 * `minScales` (per output channel) raises scales that are too small for the bias.
 */
function quantizeWeights(w: Tensor, axis: number, minScales?: number[]): number[] {
  const data = constantAsFloat(w);
  const channels = axis < 0 ? 1 : w.shape[axis]!;
  const inner = axis < 0 ? data.length : numElements(w.shape.slice(axis + 1));
  const chOf = (i: number) => (axis < 0 ? 0 : Math.floor(i / inner) % channels);
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < data.length; i++)
    maxAbs[chOf(i)] = Math.max(maxAbs[chOf(i)]!, Math.abs(data[i]!));
  const floor = (c: number) =>
    minScales ? (axis < 0 ? Math.max(0, ...minScales) : (minScales[c] ?? 0)) : 0;
  const scales = Array.from(maxAbs, (m, c) => {
    const s = m > 0 ? m / 127 : 1;
    return f32(Math.max(s, floor(c)));
  });
  const q = new Int8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.round(data[i]! / scales[chOf(i)]!);
    q[i] = Math.max(-127, Math.min(127, v));
  }
  w.dtype = 'int8';
  w.data = q;
  w.quant = { scale: scales, zeroPoint: scales.map(() => 0), ...(axis >= 0 ? { axis } : {}) };
  return scales;
}

function quantizeBias(b: Tensor, sIn: number, wScales: number[], outC: number): void {
  const data = constantAsFloat(b);
  const scales = Array.from({ length: outC }, (_, c) =>
    f32(sIn * wScales[wScales.length === 1 ? 0 : c]!),
  );
  const q = new Int32Array(data.length);
  for (let c = 0; c < data.length; c++) {
    const v = Math.round(data[c]! / scales[c]!);
    q[c] = Math.max(-INT32_MAX, Math.min(INT32_MAX, v));
  }
  b.dtype = 'int32';
  b.data = q;
  b.quant = { scale: scales, zeroPoint: scales.map(() => 0), axis: 0 };
}
