import { bytesPerElement, consumers, getTensor, numElements } from './graph.js';
import type { Graph, Op, OpKind } from './types.js';
import { assertNever } from './ops.js';

export interface OpStats {
  index: number;
  name: string;
  kind: Op['kind'];
  outputShape: number[];
  /** Learned parameters (weights, biases, BatchNorm's four vectors as Keras counts them). */
  params: number;
  /** params plus the BatchNorm parameters folded into this op (see ModelTotals.kerasParams). */
  kerasParams: number;
  /** Multiply-accumulates of conv, depthwise and fully-connected ops. */
  macs: number;
  /** Bytes of the op's outputs. */
  activationBytes: number;
}

export interface ModelTotals {
  params: number;
  /**
   * Parameters as Keras counts the trained model before BatchNorm folding: a conv or depthwise
   * op with a fused ReLU/ReLU6 and no BatchNorm op after it is taken to have had one folded in
   * (TFLite's converter does this), which adds gamma, beta, mean and variance per channel. Exact
   * for the MLPerf Tiny reference models; equal to `params` for unfolded (Keras) graphs.
   */
  kerasParams: number;
  macs: number;
  /** Peak bytes of live activations (inputs, outputs and pending tensors) when ops run in order. */
  peakActivationBytes: number;
}

/** Ops whose constant inputs are learned parameters (others' constants are shapes, axes…). */
const HAS_PARAMS: Record<OpKind, boolean> = {
  conv2d: true,
  depthwiseConv2d: true,
  fullyConnected: true,
  batchNorm: true,
  averagePool2d: false,
  maxPool2d: false,
  mean: false,
  reshape: false,
  softmax: false,
  add: false,
  pad: false,
  relu: false,
  relu6: false,
  quantize: false,
  dequantize: false,
};

export function opParams(g: Graph, op: Op): number {
  if (!HAS_PARAMS[op.kind]) return 0;
  let n = 0;
  for (const name of op.inputs.slice(1)) {
    if (name === '') continue;
    const t = getTensor(g, name);
    if (t.data) n += numElements(t.shape);
  }
  return n;
}

/** BatchNorm parameters folded into this op by a converter (see ModelTotals.kerasParams). */
export function foldedBatchNormParams(g: Graph, op: Op, next: Op | undefined): number {
  if (op.kind !== 'conv2d' && op.kind !== 'depthwiseConv2d') return 0;
  const fused = op.attrs.activation === 'relu' || op.attrs.activation === 'relu6';
  if (!fused || next?.kind === 'batchNorm') return 0;
  const out = getTensor(g, op.outputs[0]!).shape;
  return 4 * out[out.length - 1]!;
}

export function opMacs(g: Graph, op: Op): number {
  const out = getTensor(g, op.outputs[0]!).shape;
  switch (op.kind) {
    case 'conv2d': {
      const w = getTensor(g, op.inputs[1]!).shape; // [outC, kH, kW, inC]
      return numElements(out) * w[1]! * w[2]! * w[3]!;
    }
    case 'depthwiseConv2d': {
      const w = getTensor(g, op.inputs[1]!).shape; // [1, kH, kW, C]
      return numElements(out) * w[1]! * w[2]!;
    }
    case 'fullyConnected': {
      const w = getTensor(g, op.inputs[1]!).shape; // [out, in]
      return (numElements(out) / w[0]!) * w[0]! * w[1]!;
    }
    case 'averagePool2d':
    case 'maxPool2d':
    case 'mean':
    case 'reshape':
    case 'softmax':
    case 'add':
    case 'pad':
    case 'relu':
    case 'relu6':
    case 'batchNorm':
    case 'quantize':
    case 'dequantize':
      return 0;
    default:
      return assertNever(op.kind, 'op kind');
  }
}

function tensorBytes(g: Graph, name: string): number {
  const t = getTensor(g, name);
  return numElements(t.shape) * bytesPerElement(t.dtype);
}

export function opStats(g: Graph): OpStats[] {
  return g.ops.map((op, index) => ({
    index,
    name: op.name,
    kind: op.kind,
    outputShape: [...getTensor(g, op.outputs[0]!).shape],
    params: opParams(g, op),
    kerasParams: opParams(g, op) + foldedBatchNormParams(g, op, g.ops[index + 1]),
    macs: opMacs(g, op),
    activationBytes: op.outputs.reduce((s, o) => s + tensorBytes(g, o), 0),
  }));
}

/**
 * Peak live activation bytes when the first `opCount` ops run in order, each op's inputs and
 * outputs live at once and every tensor freed after its last reader (graph outputs, and the
 * output of the last op run, stay live).
 */
export function peakActivationBytes(g: Graph, opCount = g.ops.length): number {
  const readers = consumers(g);
  const lastUse = new Map<string, number>();
  for (const [name, list] of readers) lastUse.set(name, Math.max(...list));
  const keep = new Set(g.outputs);
  const live = new Map<string, number>();
  for (const i of g.inputs) live.set(i, tensorBytes(g, i));
  let peak = [...live.values()].reduce((a, b) => a + b, 0);
  for (let i = 0; i < opCount; i++) {
    const op = g.ops[i]!;
    for (const o of op.outputs) live.set(o, tensorBytes(g, o));
    const now = [...live.values()].reduce((a, b) => a + b, 0);
    peak = Math.max(peak, now);
    for (const name of [...live.keys()]) {
      const last = lastUse.get(name) ?? -1;
      if (last <= i && !keep.has(name) && !op.outputs.includes(name)) live.delete(name);
    }
  }
  return peak;
}

export function modelTotals(g: Graph): ModelTotals {
  const stats = opStats(g);
  return {
    params: stats.reduce((s, o) => s + o.params, 0),
    kerasParams: stats.reduce((s, o) => s + o.kerasParams, 0),
    macs: stats.reduce((s, o) => s + o.macs, 0),
    peakActivationBytes: peakActivationBytes(g),
  };
}
