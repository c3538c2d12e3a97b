// A plain float32 reference interpreter for the Graph IR: the float forward pass the quantiser
// calibrates with, and an independent cross-check for the tfjs engine. Straight loops, float64
// accumulation, float32 storage; clarity over speed, apart from a blocked pointwise conv.
import { getTensor, numElements } from '../graph/graph.js';
import { padBefore } from '../graph/shapes.js';
import type { Activation, Graph, Op, Tensor } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { assertNever } from '../graph/ops.js';

export interface PreparedFloat {
  /**
   * Runs one example. `observe`, if given, sees every activation tensor the run produces
   * (graph inputs included) by name; its array is reused by the next run, so copy to keep.
   */
  run(
    inputs: Float32Array[],
    observe?: (tensor: string, values: Float32Array) => void,
  ): Float32Array[];
  readonly inputShapes: number[][];
  readonly outputShapes: number[][];
}

type FloatKernel = (get: (name: string) => Float32Array, out: Float32Array) => void;

function opError(op: Op, index: number, msg: string): never {
  throw new TinypruneError(`float reference: op ${index} (${op.kind} "${op.name}"): ${msg}`);
}

/** Constant data as float32 (int8 weights with a scale are dequantised). */
export function constantAsFloat(t: Tensor): Float32Array {
  const d = t.data;
  if (!d) throw new TinypruneError(`tensor "${t.name}" is not a constant`);
  if (d instanceof Float32Array) return d;
  const q = t.quant;
  const out = new Float32Array(d.length);
  if (!q) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
    return out;
  }
  const axis = q.axis ?? 0;
  const inner = numElements(t.shape.slice(axis + 1));
  const channels = t.shape[axis] ?? 1;
  for (let i = 0; i < d.length; i++) {
    const c = q.scale.length === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = (Number(d[i]) - (q.zeroPoint[c] ?? 0)) * q.scale[c]!;
  }
  return out;
}

function applyActivation(v: number, a: Activation | undefined): number {
  if (a === 'relu') return v < 0 ? 0 : v;
  if (a === 'relu6') return v < 0 ? 0 : v > 6 ? 6 : v;
  return v;
}

export function prepareFloat(graph: Graph): PreparedFloat {
  const kernels: { op: Op; out: string; kernel: FloatKernel }[] = [];
  graph.ops.forEach((op, i) =>
    kernels.push({ op, out: op.outputs[0]!, kernel: floatKernel(graph, op, i) }),
  );
  const sizes = new Map<string, number>();
  for (const n of graph.inputs) sizes.set(n, numElements(getTensor(graph, n).shape));
  for (const op of graph.ops)
    sizes.set(op.outputs[0]!, numElements(getTensor(graph, op.outputs[0]!).shape));
  const bufs = new Map<string, Float32Array>();
  for (const [n, s] of sizes) bufs.set(n, new Float32Array(s));
  const get = (name: string): Float32Array => {
    const b = bufs.get(name);
    if (b) return b;
    const t = getTensor(graph, name);
    if (t.data) {
      const c = constantAsFloat(t);
      bufs.set(name, c);
      return c;
    }
    throw new TinypruneError(`float reference: tensor "${name}" is read before it is produced`);
  };
  const inputShapes = graph.inputs.map((n) => [...getTensor(graph, n).shape]);
  return {
    inputShapes,
    outputShapes: graph.outputs.map((n) => [...getTensor(graph, n).shape]),
    run(inputs, observe) {
      if (inputs.length !== graph.inputs.length)
        throw new TinypruneError(
          `float reference: graph ${graph.name} takes ${graph.inputs.length} input(s), got ${inputs.length}`,
        );
      graph.inputs.forEach((n, k) => {
        const b = bufs.get(n)!;
        if (inputs[k]!.length !== b.length)
          throw new TinypruneError(
            `float reference: input ${k} ("${n}") must have ${b.length} values [${inputShapes[k]}], got ${inputs[k]!.length}`,
          );
        b.set(inputs[k]!);
        observe?.(n, b);
      });
      for (const { out, kernel } of kernels) {
        const b = bufs.get(out)!;
        kernel(get, b);
        observe?.(out, b);
      }
      return graph.outputs.map((n) => get(n).slice());
    },
  };
}

export function runFloat(graph: Graph, inputs: Float32Array[]): Float32Array[] {
  return prepareFloat(graph).run(inputs);
}

function floatKernel(g: Graph, op: Op, i: number): FloatKernel {
  const a = op.attrs;
  const xName = op.inputs[0]!;
  const x = getTensor(g, xName);
  const y = getTensor(g, op.outputs[0]!);
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      const wT = getTensor(g, op.inputs[1]!);
      const w = constantAsFloat(wT);
      const bias = op.inputs[2] ? constantAsFloat(getTensor(g, op.inputs[2])) : undefined;
      const [, inH, inW, inC] = x.shape as [number, number, number, number];
      const [, outH, outW, outC] = y.shape as [number, number, number, number];
      const kH = wT.shape[1]!;
      const kW = wT.shape[2]!;
      const [sH, sW] = a.strides ?? [1, 1];
      const [dH, dW] = a.dilations ?? [1, 1];
      const pad = a.padding ?? 'valid';
      const padT = padBefore(inH, kH, sH, pad, dH);
      const padL = padBefore(inW, kW, sW, pad, dW);
      const depthwise = op.kind === 'depthwiseConv2d';
      const mult = depthwise ? outC / inC : 1;
      if (!depthwise && wT.shape[3] !== inC)
        opError(op, i, `filter expects ${wT.shape[3]} input channels, input has ${inC}`);
      const acc = new Float64Array(outC);
      const pointwise = !depthwise && kH === 1 && kW === 1 && sH === 1 && sW === 1;
      return (get, out) => {
        const xin = get(xName);
        if (pointwise) {
          // Four output channels per pass over the input pixel.
          const oc4 = outC & ~3;
          for (let p = 0; p < outH * outW; p++) {
            const xb = p * inC;
            const ob = p * outC;
            let oc = 0;
            for (; oc < oc4; oc += 4) {
              const w0 = oc * inC;
              const w1 = w0 + inC;
              const w2 = w1 + inC;
              const w3 = w2 + inC;
              let s0 = 0;
              let s1 = 0;
              let s2 = 0;
              let s3 = 0;
              for (let ic = 0; ic < inC; ic++) {
                const v = xin[xb + ic]!;
                s0 += v * w[w0 + ic]!;
                s1 += v * w[w1 + ic]!;
                s2 += v * w[w2 + ic]!;
                s3 += v * w[w3 + ic]!;
              }
              out[ob + oc] = applyActivation(s0 + (bias ? bias[oc]! : 0), a.activation);
              out[ob + oc + 1] = applyActivation(s1 + (bias ? bias[oc + 1]! : 0), a.activation);
              out[ob + oc + 2] = applyActivation(s2 + (bias ? bias[oc + 2]! : 0), a.activation);
              out[ob + oc + 3] = applyActivation(s3 + (bias ? bias[oc + 3]! : 0), a.activation);
            }
            for (; oc < outC; oc++) {
              let s = bias ? bias[oc]! : 0;
              const wb = oc * inC;
              for (let ic = 0; ic < inC; ic++) s += xin[xb + ic]! * w[wb + ic]!;
              out[ob + oc] = applyActivation(s, a.activation);
            }
          }
          return;
        }
        for (let oy = 0; oy < outH; oy++)
          for (let ox = 0; ox < outW; ox++) {
            for (let oc = 0; oc < outC; oc++) acc[oc] = bias ? bias[oc]! : 0;
            for (let ky = 0; ky < kH; ky++) {
              const iy = oy * sH - padT + ky * dH;
              if (iy < 0 || iy >= inH) continue;
              for (let kx = 0; kx < kW; kx++) {
                const ix = ox * sW - padL + kx * dW;
                if (ix < 0 || ix >= inW) continue;
                const xb = (iy * inW + ix) * inC;
                if (depthwise) {
                  const wb = (ky * kW + kx) * outC;
                  if (mult === 1)
                    for (let oc = 0; oc < outC; oc++) acc[oc] += xin[xb + oc]! * w[wb + oc]!;
                  else
                    for (let oc = 0; oc < outC; oc++)
                      acc[oc] += xin[xb + Math.floor(oc / mult)]! * w[wb + oc]!;
                } else {
                  for (let oc = 0; oc < outC; oc++) {
                    const wb = ((oc * kH + ky) * kW + kx) * inC;
                    let s = 0;
                    for (let ic = 0; ic < inC; ic++) s += xin[xb + ic]! * w[wb + ic]!;
                    acc[oc] += s;
                  }
                }
              }
            }
            const ob = (oy * outW + ox) * outC;
            for (let oc = 0; oc < outC; oc++)
              out[ob + oc] = applyActivation(acc[oc]!, a.activation);
          }
      };
    }
    case 'fullyConnected': {
      const wT = getTensor(g, op.inputs[1]!);
      const w = constantAsFloat(wT);
      const bias = op.inputs[2] ? constantAsFloat(getTensor(g, op.inputs[2])) : undefined;
      const [outU, inU] = wT.shape as [number, number];
      return (get, out) => {
        const xin = get(xName);
        const batches = xin.length / inU;
        for (let n = 0; n < batches; n++)
          for (let o = 0; o < outU; o++) {
            let s = bias ? bias[o]! : 0;
            for (let k = 0; k < inU; k++) s += xin[n * inU + k]! * w[o * inU + k]!;
            out[n * outU + o] = applyActivation(s, a.activation);
          }
      };
    }
    case 'averagePool2d':
    case 'maxPool2d': {
      const [, inH, inW, C] = x.shape as [number, number, number, number];
      const [, outH, outW] = y.shape as [number, number, number, number];
      const [kH, kW] = a.poolSize ?? [1, 1];
      const [sH, sW] = a.strides ?? [1, 1];
      const pad = a.padding ?? 'valid';
      const padT = padBefore(inH, kH, sH, pad);
      const padL = padBefore(inW, kW, sW, pad);
      const avg = op.kind === 'averagePool2d';
      return (get, out) => {
        const xin = get(xName);
        for (let oy = 0; oy < outH; oy++)
          for (let ox = 0; ox < outW; ox++)
            for (let c = 0; c < C; c++) {
              let s = avg ? 0 : -Infinity;
              let n = 0;
              for (let fy = 0; fy < kH; fy++) {
                const iy = oy * sH - padT + fy;
                if (iy < 0 || iy >= inH) continue;
                for (let fx = 0; fx < kW; fx++) {
                  const ix = ox * sW - padL + fx;
                  if (ix < 0 || ix >= inW) continue;
                  const v = xin[(iy * inW + ix) * C + c]!;
                  if (avg) s += v;
                  else if (v > s) s = v;
                  n++;
                }
              }
              out[(oy * outW + ox) * C + c] = applyActivation(avg ? s / n : s, a.activation);
            }
      };
    }
    case 'mean': {
      const rank = x.shape.length;
      const axes = [...new Set((a.axes ?? [1, 2]).map((ax) => (ax < 0 ? ax + rank : ax)))].sort();
      if (axes.some((ax, k) => k > 0 && ax !== axes[k - 1]! + 1))
        opError(op, i, `mean over non-contiguous axes [${axes}] is not supported`);
      const outer = numElements(x.shape.slice(0, axes[0]));
      const reduced = numElements(axes.map((ax) => x.shape[ax]!));
      const inner = numElements(x.shape.slice(axes[axes.length - 1]! + 1));
      return (get, out) => {
        const xin = get(xName);
        for (let o = 0; o < outer; o++)
          for (let c = 0; c < inner; c++) {
            let s = 0;
            for (let r = 0; r < reduced; r++) s += xin[(o * reduced + r) * inner + c]!;
            out[o * inner + c] = s / reduced;
          }
      };
    }
    case 'add': {
      const bName = op.inputs[1]!;
      return (get, out) => {
        const p = get(xName);
        const q = get(bName);
        const bc = q.length === 1;
        for (let k = 0; k < out.length; k++)
          out[k] = applyActivation(p[k]! + q[bc ? 0 : k]!, a.activation);
      };
    }
    case 'pad': {
      const paddings: [number, number][] =
        a.paddings ??
        (() => {
          const t = op.inputs[1] ? g.tensors.get(op.inputs[1]) : undefined;
          if (!t?.data) opError(op, i, 'has no paddings');
          const v = Array.from(t.data as ArrayLike<number>, Number);
          return x.shape.map((_, d) => [v[2 * d]!, v[2 * d + 1]!] as [number, number]);
        })();
      const inShape = x.shape;
      const outStrides = y.shape.map((_, d) => numElements(y.shape.slice(d + 1)));
      return (get, out) => {
        const xin = get(xName);
        out.fill(0);
        for (let k = 0; k < xin.length; k++) {
          let rem = k;
          let off = 0;
          for (let d = inShape.length - 1; d >= 0; d--) {
            const idx = rem % inShape[d]!;
            rem = Math.floor(rem / inShape[d]!);
            off += (idx + paddings[d]![0]) * outStrides[d]!;
          }
          out[off] = xin[k]!;
        }
      };
    }
    case 'reshape':
      return (get, out) => out.set(get(xName));
    case 'softmax': {
      const depth = x.shape[x.shape.length - 1]!;
      const beta = a.beta ?? 1;
      return (get, out) => {
        const xin = get(xName);
        for (let r = 0; r < xin.length / depth; r++) {
          let m = -Infinity;
          for (let c = 0; c < depth; c++) m = Math.max(m, xin[r * depth + c]!);
          let s = 0;
          for (let c = 0; c < depth; c++) s += Math.exp(beta * (xin[r * depth + c]! - m));
          for (let c = 0; c < depth; c++)
            out[r * depth + c] = Math.exp(beta * (xin[r * depth + c]! - m)) / s;
        }
      };
    }
    case 'relu':
    case 'relu6': {
      const kind = op.kind;
      return (get, out) => {
        const xin = get(xName);
        for (let k = 0; k < xin.length; k++) out[k] = applyActivation(xin[k]!, kind);
      };
    }
    case 'batchNorm': {
      const [gamma, beta, mean, variance] = op.inputs
        .slice(1, 5)
        .map((n) => constantAsFloat(getTensor(g, n)));
      const eps = a.epsilon ?? 1e-3;
      const C = x.shape[x.shape.length - 1]!;
      const mul = new Float64Array(C);
      const add = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        mul[c] = gamma![c]! / Math.sqrt(variance![c]! + eps);
        add[c] = beta![c]! - mean![c]! * mul[c]!;
      }
      return (get, out) => {
        const xin = get(xName);
        for (let k = 0; k < xin.length; k++) out[k] = xin[k]! * mul[k % C]! + add[k % C]!;
      };
    }
    case 'quantize':
    case 'dequantize':
      opError(op, i, `${op.kind} has no place in a float graph`);
    default:
      return assertNever(op.kind, 'op kind');
  }
}
