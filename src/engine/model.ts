// Graph → tfjs executor: runs any float Graph forward, and trains it with tf.variables.
//
// Weights live in tfjs layouts ([kH,kW,inC,outC] conv, [kH,kW,C,M] depthwise, FC kept as
// [out,in]) and are converted back to the Graph's TFLite layouts by exportWeights().
import { tf } from './backend.js';
import { getTensor, numElements, padAmounts } from '../graph/graph.js';
import type { Activation, Graph, Op, Tensor } from '../graph/types.js';
import { assertNever } from '../graph/ops.js';
import { TinypruneError } from '../graph/types.js';

/** Which constant tensors train (default: every weight of conv/depthwise/FC/batchNorm ops). */
export type TrainablePredicate = (tensorName: string, op: Op) => boolean;

export interface ModelOptions {
  trainable?: TrainablePredicate;
  /** Keras BatchNormalization momentum for the moving statistics. */
  bnMomentum?: number;
  /**
   * Run hybrid layers (int8-stored weights from a hybrid .tflite, still unchanged) as TFLite's
   * hybrid kernels do: each example's input quantised to int8 on the fly (symmetric, per example)
   * before the layer, in inference. Default false: plain float math.
   */
  emulateHybrid?: boolean;
}

/** TFLite's SymmetricQuantizeFloats per example, then back to float: round(x·127/max|x|). */
function hybridInput(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const range = tf.max(tf.abs(x), [1, 2, 3], true);
    const safe = tf.where(tf.equal(range, 0), tf.onesLike(range), range);
    const scaled = tf.mul(x, tf.div(127, safe));
    // TfLiteRound rounds half away from zero (tf.round rounds half to even).
    const rounded = tf.mul(tf.sign(scaled), tf.floor(tf.add(tf.abs(scaled), 0.5)));
    return tf.mul(tf.clipByValue(rounded, -127, 127), tf.div(safe, 127));
  });
}

export interface ForwardResult {
  /** The graph's output (softmax probabilities when the graph ends in softmax). */
  output: tf.Tensor;
  /** The softmax input when the graph ends in softmax (what losses should use), else output. */
  logits: tf.Tensor;
}

const WEIGHT_OPS = new Set<Op['kind']>([
  'conv2d',
  'depthwiseConv2d',
  'fullyConnected',
  'batchNorm',
]);

/** A constant's values as float32, dequantising int8/int32 weights (hybrid models). */
export function floatValues(t: Tensor): Float32Array {
  if (!t.data) throw new Error(`tensor ${t.name} has no data`);
  if (t.dtype === 'float32') return t.data as Float32Array;
  if (t.data instanceof BigInt64Array) return Float32Array.from(t.data, (v) => Number(v));
  const q = t.quant;
  if (!q) return Float32Array.from(t.data as ArrayLike<number>);
  const out = new Float32Array(t.data.length);
  const axis = q.axis ?? 0;
  const perChannel = q.scale.length > 1;
  const inner = perChannel ? numElements(t.shape.slice(axis + 1)) : 1;
  const channels = perChannel ? t.shape[axis]! : 1;
  const src = t.data as ArrayLike<number>;
  for (let i = 0; i < out.length; i++) {
    const ch = perChannel ? Math.floor(i / inner) % channels : 0;
    out[i] = (src[i]! - (q.zeroPoint[ch] ?? 0)) * q.scale[ch]!;
  }
  return out;
}

/** tfjs layout of a graph weight, given the op reading it and its position. */
function toTfLayout(g: Graph, op: Op, inputIndex: number, t: Tensor): tf.Tensor {
  const values = floatValues(t);
  if (inputIndex === 1 && op.kind === 'conv2d') {
    const [o, kh, kw, i] = t.shape as [number, number, number, number];
    return tf.tidy(() => tf.transpose(tf.tensor4d(values, [o, kh, kw, i]), [1, 2, 3, 0]));
  }
  if (inputIndex === 1 && op.kind === 'depthwiseConv2d') {
    const c = getTensor(g, op.inputs[0]!).shape[3]!;
    const [, kh, kw, cm] = t.shape as [number, number, number, number];
    return tf.tensor4d(values, [kh, kw, c, cm / c]);
  }
  return tf.tensor(values, t.shape.length ? t.shape : [values.length], 'float32');
}

/** The inverse of toTfLayout, as flat values in the Graph's layout. */
function fromTfLayout(op: Op, inputIndex: number, v: tf.Tensor): Float32Array {
  if (inputIndex === 1 && op.kind === 'conv2d')
    return tf.tidy(() => tf.transpose(v, [3, 0, 1, 2]).dataSync() as Float32Array);
  return v.dataSync().slice() as Float32Array;
}

function applyActivation(x: tf.Tensor, act: Activation | undefined): tf.Tensor {
  if (act === 'relu') return tf.relu(x);
  if (act === 'relu6') return tf.relu6(x);
  return x;
}

/** Fused activations tfjs can differentiate inside its fused kernels. */
function fusable(act: Activation | undefined): 'relu' | 'linear' | undefined {
  if (act === undefined || act === 'none') return 'linear';
  if (act === 'relu') return 'relu';
  return undefined;
}

interface BnStats {
  mean: tf.Tensor;
  variance: tf.Tensor;
  count: number;
}

/** Sums over every axis but the channels (our wasm Sum kernel makes this one SIMD sweep). */
function sumRows(x: tf.Tensor): tf.Tensor {
  return tf.sum(x, x.shape.map((_, i) => i).slice(0, -1));
}

/**
 * BatchNorm in training mode with its closed-form gradient (cheaper than differentiating
 * moments()), returning the batch statistics for the moving averages.
 */
function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  epsilon: number,
  stats: BnStats[],
): tf.Tensor {
  const count = x.size / x.shape[x.shape.length - 1]!;
  const f = tf.customGrad((xi, g, b, save) => {
    const xt = xi as tf.Tensor;
    const mean = tf.div(sumRows(xt), count);
    const centred = tf.sub(xt, mean);
    const variance = tf.div(sumRows(tf.square(centred)), count);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(centred, rstd);
    const y = tf.add(tf.mul(xhat, g as tf.Tensor), b as tf.Tensor);
    (save as (t: tf.Tensor[]) => void)([xhat, rstd, g as tf.Tensor]);
    stats.push({ mean: tf.keep(mean), variance: tf.keep(variance), count });
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const d = dy as tf.Tensor;
        const [sxhat, srstd, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dbeta = sumRows(d);
        const dgamma = sumRows(tf.mul(d, sxhat));
        // dx = γ·rstd/N · (N·dy − Σdy − x̂·Σ(dy·x̂))
        const inner = tf.sub(tf.sub(d, tf.div(dbeta, count)), tf.mul(sxhat, tf.div(dgamma, count)));
        const dx = tf.mul(inner, tf.mul(sg, srstd));
        return [dx, dgamma, dbeta];
      },
    };
  });
  return f(x, gamma, beta);
}

/**
 * Mean over H and W of an NHWC tensor (global average pooling) with a broadcast gradient; tfjs's
 * own gradients (AvgPoolGrad, Mean's ones-filled JS array) are slow on the wasm backend.
 */
function spatialMean(x: tf.Tensor4D, keepDims: boolean): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const f = tf.customGrad((xi) => {
    const y = tf.avgPool(xi as tf.Tensor4D, [h, w], [h, w], 'valid');
    return {
      value: keepDims ? y : y.reshape([n, c]),
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) =>
        tf.mul((dy as tf.Tensor).reshape([n, 1, 1, c]), tf.fill([1, h, w, 1], 1 / (h * w))),
    };
  });
  return f(x);
}

/** A float Graph made runnable and trainable in tfjs. */
export class TfModel {
  /** Per constant tensor: its tfjs value (a tf.Variable when trainable). */
  readonly weights = new Map<string, tf.Tensor>();
  readonly trainableNames: string[] = [];
  /** BatchNorm ops whose statistics come from the batch when training. */
  readonly trainingBatchNorms = new Set<string>();
  readonly inputShape: number[];
  readonly outputSize: number;
  readonly bnMomentum: number;
  /** Ops whose input is quantised per example first (see ModelOptions.emulateHybrid). */
  readonly hybridOps = new Set<string>();

  constructor(
    readonly graph: Graph,
    opts: ModelOptions = {},
  ) {
    this.bnMomentum = opts.bnMomentum ?? 0.99;
    if (opts.emulateHybrid)
      for (const op of graph.ops) {
        const w = op.inputs[1] ? graph.tensors.get(op.inputs[1]) : undefined;
        if (op.kind === 'conv2d' && w?.stored && w.stored.quant.scale.length === 1)
          this.hybridOps.add(op.name);
      }
    const trainable: TrainablePredicate = opts.trainable ?? (() => true);
    if (graph.inputs.length !== 1 || graph.outputs.length !== 1)
      throw new TinypruneError(
        `${graph.name}: the float engine runs graphs with one input and one output, found ${graph.inputs.length} and ${graph.outputs.length}`,
      );
    const input = getTensor(graph, graph.inputs[0]!);
    if (input.dtype !== 'float32')
      throw new TinypruneError(
        `${graph.name}: the float engine needs a float32 input, found ${input.dtype} (an int8 model? use the int8 interpreter)`,
      );
    this.inputShape = input.shape.slice(1);
    this.outputSize = numElements(getTensor(graph, graph.outputs[0]!).shape.slice(1));
    for (const op of graph.ops) {
      if (op.kind === 'quantize' || op.kind === 'dequantize')
        throw new TinypruneError(
          `${graph.name}: op "${op.name}" is ${op.kind}; the float engine runs float graphs only`,
        );
      op.inputs.forEach((name, idx) => {
        if (name === '' || this.weights.has(name)) return;
        const t = getTensor(graph, name);
        if (!t.data) return;
        const value = toTfLayout(graph, op, idx, t);
        const isWeight = WEIGHT_OPS.has(op.kind) && idx >= 1;
        // Moving statistics are state, not trained by gradients.
        const isStat = op.kind === 'batchNorm' && idx >= 3;
        if (isWeight && !isStat && trainable(name, op)) {
          this.weights.set(name, tf.variable(value, true));
          value.dispose();
          this.trainableNames.push(name);
          if (op.kind === 'batchNorm' && idx === 1) this.trainingBatchNorms.add(op.name);
        } else if (isStat) {
          this.weights.set(name, tf.variable(value, false));
          value.dispose();
        } else {
          this.weights.set(name, value);
        }
      });
    }
  }

  get trainableVariables(): tf.Variable[] {
    return this.trainableNames.map((n) => this.weights.get(n) as tf.Variable);
  }

  /** Moving-statistics variables of the BatchNorms that train (synchronised across workers). */
  get statVariables(): { name: string; variable: tf.Variable }[] {
    const out: { name: string; variable: tf.Variable }[] = [];
    for (const op of this.graph.ops)
      if (op.kind === 'batchNorm' && this.trainingBatchNorms.has(op.name))
        for (const n of op.inputs.slice(3))
          out.push({ name: n, variable: this.weights.get(n) as tf.Variable });
    return out;
  }

  /**
   * Runs the graph on a batch [n, ...inputShape]. In training mode the trainable BatchNorms use
   * batch statistics and update their moving averages.
   */
  forward(x: tf.Tensor, training = false): ForwardResult {
    const g = this.graph;
    const values = new Map<string, tf.Tensor>([[g.inputs[0]!, x]]);
    const get = (name: string) => {
      const v = values.get(name) ?? this.weights.get(name);
      if (!v) throw new Error(`tensor ${name} has no value`);
      return v;
    };
    const n = x.shape[0]!;
    const bnStats: { op: Op; stats: BnStats }[] = [];
    let logits: tf.Tensor | undefined;
    for (const op of g.ops) {
      const a = op.attrs;
      const inp = get(op.inputs[0]!);
      const bias = op.inputs[2] ? get(op.inputs[2]) : undefined;
      let y: tf.Tensor;
      switch (op.kind) {
        case 'conv2d':
        case 'depthwiseConv2d': {
          const f = fusable(a.activation);
          const hybrid = !training && this.hybridOps.has(op.name);
          const args = {
            x: (hybrid ? hybridInput(inp) : inp) as tf.Tensor4D,
            filter: get(op.inputs[1]!) as tf.Tensor4D,
            strides: a.strides ?? [1, 1],
            pad: a.padding ?? 'valid',
            dilations: a.dilations ?? [1, 1],
            bias,
            activation: f ?? 'linear',
          } as const;
          y =
            op.kind === 'conv2d'
              ? tf.fused.conv2d({ ...args, dataFormat: 'NHWC' })
              : tf.fused.depthwiseConv2d({ ...args, dataFormat: 'NHWC' });
          if (!f) y = applyActivation(y, a.activation);
          break;
        }
        case 'fullyConnected': {
          const w = get(op.inputs[1]!);
          const inUnits = w.shape[1]!;
          const flat = inp.reshape([-1, inUnits]);
          // Not tf.fused.matMul: wasm's _FusedMatMul with transposeB and a bias gives wrong
          // rows for batches > 1 (tfjs 4.22), so bias and activation are applied separately.
          y = tf.matMul(flat, w, false, true);
          if (bias) y = tf.add(y, bias);
          y = applyActivation(y, a.activation);
          if (a.keepNumDims) y = y.reshape([...inp.shape.slice(0, -1), w.shape[0]!]);
          break;
        }
        case 'averagePool2d':
        case 'maxPool2d': {
          const x4 = inp as tf.Tensor4D;
          const [ph, pw] = a.poolSize ?? [1, 1];
          const global = ph === x4.shape[1] && pw === x4.shape[2] && a.padding !== 'same';
          const pool = op.kind === 'averagePool2d' ? tf.avgPool : tf.maxPool;
          y =
            global && op.kind === 'averagePool2d'
              ? spatialMean(x4, true)
              : pool(
                  inp as tf.Tensor4D,
                  a.poolSize ?? [1, 1],
                  a.strides ?? [1, 1],
                  a.padding ?? 'valid',
                );
          y = applyActivation(y, a.activation);
          break;
        }
        case 'mean': {
          const axes = a.axes ?? [1, 2];
          y =
            inp.rank === 4 && axes.length === 2 && axes[0] === 1 && axes[1] === 2
              ? spatialMean(inp as tf.Tensor4D, a.keepDims ?? false)
              : tf.mean(inp, axes, a.keepDims ?? false);
          break;
        }
        case 'reshape': {
          const shape = getTensor(g, op.outputs[0]!).shape;
          y = inp.reshape([n, ...shape.slice(1)]);
          break;
        }
        case 'softmax': {
          const beta = a.beta ?? 1;
          logits = beta === 1 ? inp : tf.mul(inp, beta);
          y = tf.softmax(logits);
          break;
        }
        case 'add':
          y = applyActivation(tf.add(inp, get(op.inputs[1]!)), a.activation);
          break;
        case 'pad': {
          const p = padAmounts(g, op);
          y = tf.pad(inp, p);
          break;
        }
        case 'relu':
          y = tf.relu(inp);
          break;
        case 'relu6':
          y = tf.relu6(inp);
          break;
        case 'batchNorm': {
          const [gamma, beta, mean, variance] = op.inputs.slice(1).map(get) as tf.Tensor[];
          const eps = a.epsilon ?? 1e-3;
          if (training && this.trainingBatchNorms.has(op.name)) {
            const stats: BnStats[] = [];
            y = batchNormTraining(inp, gamma!, beta!, eps, stats);
            bnStats.push({ op, stats: stats[0]! });
          } else {
            y = tf.batchNorm(inp, mean!, variance!, beta!, gamma!, eps);
          }
          break;
        }
        case 'quantize':
        case 'dequantize':
          throw new TinypruneError(`op "${op.name}": ${op.kind} is not a float op`);
        default:
          assertNever(op.kind, 'op kind');
      }
      values.set(op.outputs[0]!, y);
      if (op.kind !== 'softmax') logits = undefined;
    }
    for (const { op, stats } of bnStats) this.updateMovingStats(op, stats);
    const output = get(g.outputs[0]!);
    return { output, logits: logits ?? output };
  }

  private updateMovingStats(op: Op, s: BnStats): void {
    const m = this.bnMomentum;
    const movingMean = this.weights.get(op.inputs[3]!) as tf.Variable;
    const movingVar = this.weights.get(op.inputs[4]!) as tf.Variable;
    // TF's fused BatchNorm feeds the moving variance the unbiased batch variance.
    const bessel = s.count > 1 ? s.count / (s.count - 1) : 1;
    tf.tidy(() => {
      movingMean.assign(tf.add(tf.mul(movingMean, m), tf.mul(s.mean, 1 - m)));
      movingVar.assign(tf.add(tf.mul(movingVar, m), tf.mul(s.variance, (1 - m) * bessel)));
    });
    s.mean.dispose();
    s.variance.dispose();
  }

  /** Inference on n examples laid out [n, ...inputShape]; returns n × outputSize values. */
  predict(batch: Float32Array, n: number, opts: { batchSize?: number } = {}): Float32Array {
    const per = numElements(this.inputShape);
    if (batch.length !== n * per)
      throw new TinypruneError(
        `predict: expected ${n} × ${per} input values (${[n, ...this.inputShape].join('x')}), got ${batch.length}`,
      );
    const out = new Float32Array(n * this.outputSize);
    const bs = opts.batchSize ?? 64;
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      const y = tf.tidy(() => {
        const x = tf.tensor(batch.subarray(s * per, (s + m) * per), [m, ...this.inputShape]);
        return this.forward(x, false).output;
      });
      out.set(y.dataSync() as Float32Array, s * this.outputSize);
      y.dispose();
    }
    return out;
  }

  /** Writes the current weights (and moving statistics) back into `graph` in its layouts. */
  exportWeights(graph: Graph = this.graph): void {
    for (const op of graph.ops)
      op.inputs.forEach((name, idx) => {
        const v = this.weights.get(name);
        const t = graph.tensors.get(name);
        if (!v || !t?.data || !(v instanceof tf.Variable)) return;
        t.data = fromTfLayout(op, idx, v);
        t.dtype = 'float32';
        delete t.quant;
      });
  }

  /** A weight's values (tfjs layout, e.g. a gradient) in the Graph's layout. */
  toGraphLayout(name: string, values: Float32Array): Float32Array {
    for (const op of this.graph.ops) {
      const idx = op.inputs.indexOf(name);
      if (idx < 0) continue;
      const v = this.weights.get(name)!;
      return tf.tidy(() => fromTfLayout(op, idx, tf.tensor(values, v.shape)));
    }
    throw new Error(`toGraphLayout: ${name} is not an op input`);
  }

  /** Current values of every trainable weight and moving statistic, by tensor name. */
  getState(): Map<string, Float32Array> {
    const m = new Map<string, Float32Array>();
    for (const [name, v] of this.weights)
      if (v instanceof tf.Variable) m.set(name, v.dataSync().slice() as Float32Array);
    return m;
  }

  setState(state: Map<string, Float32Array>): void {
    for (const [name, values] of state) {
      const v = this.weights.get(name);
      if (v instanceof tf.Variable) tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    }
  }

  dispose(): void {
    for (const v of this.weights.values()) v.dispose();
    this.weights.clear();
  }
}
