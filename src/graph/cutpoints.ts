import { opStats, peakActivationBytes } from './accounting.js';
import { consumers, getTensor } from './graph.js';
import type { Graph, OpKind } from './types.js';

export interface CutPoint {
  /** `conv1`, `conv2`… for plain convolutions, `block1`, `block2`… for depthwise-separable pairs. */
  name: string;
  /** The tensor closing the block: the kept model's output. */
  tensor: string;
  /** Index of the last op kept (inclusive). */
  opIndex: number;
  shape: number[];
  /** Parameters, MACs and peak activation bytes of the model kept up to this point. */
  params: number;
  /** Parameters as Keras counts them before BatchNorm folding (see ModelTotals.kerasParams). */
  kerasParams: number;
  macs: number;
  peakActivationBytes: number;
}

/**
 * What each op is to block detection: a block's main op (`unit`), a normalisation/activation
 * belonging to the op before it (`trailing`), a pass-through inside the feature extractor, or
 * the start of the classifier (`stop`).
 */
const CUT_ROLE: Record<OpKind, 'unit' | 'trailing' | 'pass' | 'stop'> = {
  conv2d: 'unit',
  depthwiseConv2d: 'unit',
  add: 'unit',
  batchNorm: 'trailing',
  relu: 'trailing',
  relu6: 'trailing',
  pad: 'pass',
  quantize: 'pass',
  dequantize: 'pass',
  averagePool2d: 'stop',
  maxPool2d: 'stop',
  mean: 'stop',
  reshape: 'stop',
  fullyConnected: 'stop',
  softmax: 'stop',
};

interface Unit {
  kind: 'conv' | 'depthwise' | 'add';
  pointwise: boolean;
  last: number;
}

/**
 * For each op index i, whether the output of op i is the only activation that crosses the
 * boundary between ops[0..i] and the rest: every skip connection opened before it has closed, so
 * the model kept up to op i has that one output.
 */
export function closedBoundaries(g: Graph): boolean[] {
  const readers = consumers(g);
  const lastUse = new Map<string, number>();
  for (const [name, list] of readers)
    if (!getTensor(g, name).data) lastUse.set(name, Math.max(...list));
  for (const o of g.outputs) lastUse.set(o, Infinity);
  const born = new Map<string, number>();
  for (const i of g.inputs) born.set(i, -1);
  g.ops.forEach((op, i) => op.outputs.forEach((o) => born.set(o, i)));
  return g.ops.map((op, i) => {
    const out = op.outputs[0];
    for (const [name, at] of born)
      if (at <= i && name !== out && (lastUse.get(name) ?? -1) > i) return false;
    return op.outputs.length === 1;
  });
}

/**
 * Finds blocks — a conv, or a depthwise conv followed by a 1x1 conv, each with its normalisation
 * and activation, or a residual stack closed by an add — along the model's main chain, and
 * returns the tensor closing each block. A block end inside a residual stack (a skip still
 * open) is no cut point: the tail would have two outputs. Detection stops at the first op that
 * is neither part of a block nor a shape-preserving pass-through (pooling, reshape, dense: the
 * classifier begins there).
 */
export function findCutPoints(g: Graph): CutPoint[] {
  const readers = consumers(g);
  const closed = closedBoundaries(g);
  const units: Unit[] = [];
  let i = 0;
  while (i < g.ops.length) {
    const op = g.ops[i]!;
    const role = CUT_ROLE[op.kind];
    // Pass-throughs, and a normalisation/activation not right after its producer (a residual
    // branch's BatchNorm after the shortcut conv in Keras order).
    if (role === 'pass' || role === 'trailing') {
      i++;
      continue;
    }
    if (role === 'stop') break;
    // An add of a constant is no residual join.
    if (op.kind === 'add' && op.inputs.some((n) => getTensor(g, n).data)) break;
    let last = i;
    // Absorb the normalisation/activation ops that read only this unit's output.
    while (
      last + 1 < g.ops.length &&
      CUT_ROLE[g.ops[last + 1]!.kind] === 'trailing' &&
      g.ops[last + 1]!.inputs[0] === g.ops[last]!.outputs[0] &&
      (readers.get(g.ops[last]!.outputs[0]!)?.length ?? 0) === 1
    )
      last++;
    const w = op.kind === 'add' ? [] : getTensor(g, op.inputs[1]!).shape;
    units.push({
      kind: op.kind === 'conv2d' ? 'conv' : op.kind === 'depthwiseConv2d' ? 'depthwise' : 'add',
      pointwise: op.kind === 'conv2d' && w[1] === 1 && w[2] === 1,
      last,
    });
    i = last + 1;
  }

  const stats = opStats(g);
  const points: CutPoint[] = [];
  let convN = 0;
  let blockN = 0;
  let stackN = 0;
  for (let u = 0; u < units.length; u++) {
    const unit = units[u]!;
    let last = unit.last;
    let name: string;
    if (unit.kind === 'add') name = `stack${++stackN}`;
    else if (unit.kind === 'depthwise' && units[u + 1]?.pointwise) {
      last = units[u + 1]!.last;
      u++;
      name = `block${++blockN}`;
    } else if (unit.kind === 'depthwise') {
      name = `block${++blockN}`;
    } else {
      name = `conv${++convN}`;
    }
    if (!closed[last]) continue;
    const kept = stats.slice(0, last + 1);
    const tensor = g.ops[last]!.outputs[0]!;
    points.push({
      name,
      tensor,
      opIndex: last,
      shape: [...getTensor(g, tensor).shape],
      params: kept.reduce((s, o) => s + o.params, 0),
      kerasParams: kept.reduce((s, o) => s + o.kerasParams, 0),
      macs: kept.reduce((s, o) => s + o.macs, 0),
      peakActivationBytes: peakActivationBytes(g, last + 1),
    });
  }
  return points;
}
