// Fuses a standalone relu/relu6 into the op producing its input, as TFLite stores them
// (the op's fused_activation_function).
import { cloneGraph, consumers, producers, pruneUnusedTensors } from '../graph.js';
import type { Graph, OpKind } from '../types.js';

/** Ops whose `attrs.activation` our IR (and TFLite) applies to their output. */
const FUSABLE: Record<OpKind, boolean> = {
  conv2d: true,
  depthwiseConv2d: true,
  fullyConnected: true,
  add: true,
  averagePool2d: true,
  maxPool2d: true,
  mean: false,
  reshape: false,
  softmax: false,
  pad: false,
  relu: false,
  relu6: false,
  batchNorm: false,
  quantize: false,
  dequantize: false,
};

function fuseOne(g: Graph, actIndex: number): boolean {
  const act = g.ops[actIndex]!;
  if (act.kind !== 'relu' && act.kind !== 'relu6') return false;
  const x = act.inputs[0]!;
  const p = producers(g).get(x);
  if (p === undefined) return false;
  const op = g.ops[p]!;
  if (!FUSABLE[op.kind] || (op.attrs.activation ?? 'none') !== 'none') return false;
  if (op.outputs.length !== 1 || (consumers(g).get(x)?.length ?? 0) !== 1 || g.outputs.includes(x))
    return false;
  // Quantised tensors must agree, or fusing would change the int8 arithmetic.
  const a = g.tensors.get(x)?.quant;
  const b = g.tensors.get(act.outputs[0]!)?.quant;
  if ((a || b) && JSON.stringify(a) !== JSON.stringify(b)) return false;
  op.attrs = { ...op.attrs, activation: act.kind };
  op.outputs = [...act.outputs];
  g.ops.splice(actIndex, 1);
  return true;
}

/**
 * A new graph in which every relu/relu6 op that is the only reader of a conv, depthwise, dense,
 * add or pooling output (with no activation yet) becomes that op's fused activation.
 */
export function fuseActivations(g: Graph): Graph {
  const out = cloneGraph(g);
  for (let i = 0; i < out.ops.length; i++) if (fuseOne(out, i)) i--;
  pruneUnusedTensors(out);
  return out;
}
