// Folds inference-mode BatchNorm into the conv / depthwise / dense op before it, as TFLite
// converters do:  y = gamma·(W·x + b − mean)/sqrt(var + eps) + beta
//                   = (s·W)·x + (s·(b − mean) + beta)   with s = gamma/sqrt(var + eps).
import {
  cloneGraph,
  consumers,
  producers,
  pruneUnusedTensors,
  uniqueTensorName,
} from '../graph.js';
import type { Graph, Op, Tensor } from '../types.js';

const FOLDABLE = new Set<Op['kind']>(['conv2d', 'depthwiseConv2d', 'fullyConnected']);

type FloatConstant = Tensor & { data: Float32Array };

function floatConstant(g: Graph, name: string | undefined): FloatConstant | undefined {
  if (name === undefined || name === '') return undefined;
  const t = g.tensors.get(name);
  return t?.data instanceof Float32Array && !t.quant ? (t as FloatConstant) : undefined;
}

/** Output channels of a weight tensor, and the axis they run along. */
function channelAxis(op: Op, weights: Tensor): { count: number; axis: number } {
  const axis = op.kind === 'depthwiseConv2d' ? 3 : 0;
  return { count: weights.shape[axis]!, axis };
}

/** Tries to fold `bn` (at index bnIndex) into its producer; returns true when done. */
function foldOne(g: Graph, bnIndex: number): boolean {
  const bn = g.ops[bnIndex]!;
  const x = bn.inputs[0]!;
  const producer = producers(g).get(x);
  if (producer === undefined) return false;
  const op = g.ops[producer]!;
  if (!FOLDABLE.has(op.kind) || (op.attrs.activation ?? 'none') !== 'none') return false;
  // The un-normalised tensor must vanish: nobody else may read it.
  if ((consumers(g).get(x)?.length ?? 0) !== 1 || g.outputs.includes(x)) return false;

  const weights = floatConstant(g, op.inputs[1]);
  const [gamma, beta, mean, variance] = bn.inputs.slice(1, 5).map((n) => floatConstant(g, n));
  if (!weights || !gamma || !beta || !mean || !variance) return false;
  const { count, axis } = channelAxis(op, weights);
  if ([gamma, beta, mean, variance].some((t) => t.data.length !== count)) return false;
  const biasName = op.inputs[2];
  const bias = floatConstant(g, biasName);
  if (biasName && biasName !== '' && !bias) return false; // a non-float bias: leave it alone
  if (bias && bias.data.length !== count) return false;

  const eps = bn.attrs.epsilon ?? 1e-3;
  const scale = new Float64Array(count);
  for (let c = 0; c < count; c++) scale[c] = gamma.data[c]! / Math.sqrt(variance.data[c]! + eps);

  // New tensors, so that weights shared with another op are never changed under it.
  const w = weights.data;
  const folded = new Float32Array(w.length);
  const inner = weights.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < w.length; i++) folded[i] = w[i]! * scale[Math.floor(i / inner) % count]!;
  const newBias = new Float32Array(count);
  for (let c = 0; c < count; c++) {
    const b = bias ? bias.data[c]! : 0;
    newBias[c] = (b - mean.data[c]!) * scale[c]! + beta.data[c]!;
  }
  const wName = uniqueTensorName(g, `${op.name}/folded_weights`);
  g.tensors.set(wName, { name: wName, shape: [...weights.shape], dtype: 'float32', data: folded });
  const bName = uniqueTensorName(g, `${op.name}/folded_bias`);
  g.tensors.set(bName, { name: bName, shape: [count], dtype: 'float32', data: newBias });

  op.inputs = [op.inputs[0]!, wName, bName];
  op.outputs = [...bn.outputs];
  g.ops.splice(bnIndex, 1);
  return true;
}

/**
 * A new graph in which every batchNorm reading the sole output of a conv2d, depthwiseConv2d or
 * fullyConnected op (without a fused activation) is folded into that op's weights and bias
 * (a bias is created if absent). Other batchNorms stay as they are.
 */
export function foldBatchNorm(g: Graph): Graph {
  const out = cloneGraph(g);
  for (let i = 0; i < out.ops.length; i++) {
    if (out.ops[i]!.kind === 'batchNorm' && foldOne(out, i)) i--;
  }
  pruneUnusedTensors(out);
  return out;
}
