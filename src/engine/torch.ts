// The libtorch backend: loads the native addon (native/, built by the bootstrap with node-gyp)
// and describes a Graph to it as slots, parameters and ops. Training steps, predictions and
// gradients then run natively, one call each; weights stay in the Graph's layouts.
import { createRequire } from 'node:module';
import { getTensor, numElements, padAmounts } from '../graph/graph.js';
import type { Activation, Graph, Op } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { floatValues, type TrainablePredicate } from './model.js';
import type { Distillation, ShardResult } from './gradients.js';
import type { OptimizerConfig, StepBatch, StepResult, Trainable } from './trainable.js';

interface NativeModel {
  step(
    x: Float32Array,
    y: Int32Array,
    n: number,
    teacher: Float32Array | null,
    alpha: number,
    temperature: number,
    lr: number,
  ): [number, number];
  gradients(
    x: Float32Array,
    y: Int32Array,
    n: number,
    teacher: Float32Array | null,
    alpha: number,
    temperature: number,
  ): { lossSum: number; correct: number; grads: Float32Array[] };
  predict(x: Float32Array, n: number, batchSize: number): Float32Array;
  getParam(i: number): Float32Array;
  setParam(i: number, values: Float32Array): void;
  resetOptimizer(opt: OptimizerConfig): void;
}

interface Addon {
  Model: new (spec: ModelSpec) => NativeModel;
  setThreads(n: number): number;
  getThreads(): number;
  config(): string;
  version: string;
}

export interface ParamSpec {
  name: string;
  slot: number;
  shape: number[];
  data: Float32Array;
  trainable: boolean;
}

export interface OpSpec {
  kind: Op['kind'];
  inputs: number[];
  output: number;
  act?: Activation;
  strides?: number[];
  dilations?: number[];
  /** SAME padding resolved as TensorFlow does it: top, bottom, left, right. */
  pads?: number[];
  pool?: number[];
  global?: boolean;
  axes?: number[];
  keepDims?: boolean;
  keepNumDims?: boolean;
  shape?: number[];
  padList?: number[];
  beta?: number;
  eps?: number;
  momentum?: number;
  bnTraining?: boolean;
}

/** What the addon builds a model from (also read by the PyTorch anchor in bench/anchors/). */
export interface ModelSpec {
  slots: number;
  input: number;
  output: number;
  classes: number;
  inputShape: number[];
  params: ParamSpec[];
  ops: OpSpec[];
  optimizer: OptimizerConfig;
}

/** Where node-gyp puts the addon, from src/engine or dist/engine alike. */
const ADDON_PATH = new URL('../../native/build/Release/tinyprune_torch.node', import.meta.url);

let loaded: { addon?: Addon; error?: string } | undefined;

/** The addon, or why it is not available (never throws). */
export function loadTorch(): { addon?: Addon; error?: string } {
  if (loaded) return loaded;
  // libgomp reads its wait policy once, when libtorch loads it. Idle OpenMP threads that spin
  // for long (its default) steal the core from the main thread on a busy machine; threads that
  // sleep at once (PASSIVE) pay a wake-up per parallel region, which halved 2-thread training on
  // an idle one. A short spin (10,000 rounds, ~10 µs) gets both (bench/train.ts: VWW aux head at
  // 2 threads 3,645 examples/s PASSIVE, 9,743 with the short spin). The user's settings win.
  if (process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT ??= '10000';
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH.pathname) as Addon;
    // One intra-op thread unless asked: libtorch's parallel reductions sum in an order that
    // depends on the thread count, so the same seed would train to different weights on
    // machines with different core counts (measured: KWS block 2 + aux, 391 vs 392/633).
    addon.setThreads(1);
    loaded = { addon };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!;
    loaded = { error: msg.includes('Cannot find module') ? 'the addon is not built' : msg };
  }
  return loaded;
}

export function torchAvailable(): boolean {
  return loadTorch().addon !== undefined;
}

function addon(): Addon {
  const l = loadTorch();
  if (!l.addon)
    throw new TinypruneError(
      `--backend torch: the libtorch addon does not load (${l.error}); run \`npm run bootstrap\` on Debian with libtorch-dev, or use --backend wasm`,
    );
  return l.addon;
}

/** Intra-op threads for every torch model in this process; returns the number in effect. */
export function setTorchThreads(n: number): number {
  return addon().setThreads(Math.max(1, Math.floor(n)));
}

export function torchThreads(): number {
  return addon().getThreads();
}

/** TensorFlow SAME padding: [before, after] for one spatial dim. */
function samePad(size: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function pads(inShape: number[], k: number[], op: Op): number[] {
  if (op.attrs.padding !== 'same') return [0, 0, 0, 0];
  const s = op.attrs.strides ?? [1, 1];
  const d = op.attrs.dilations ?? [1, 1];
  return [...samePad(inShape[1]!, k[0]!, s[0], d[0]), ...samePad(inShape[2]!, k[1]!, s[1], d[1])];
}

/** Inputs that are op attributes in disguise (shapes, paddings, axes), not tensors to run. */
function attributeInput(op: Op, idx: number): boolean {
  return idx >= 1 && (op.kind === 'reshape' || op.kind === 'pad' || op.kind === 'mean');
}

const WEIGHT_OPS = new Set<Op['kind']>([
  'conv2d',
  'depthwiseConv2d',
  'fullyConnected',
  'batchNorm',
]);

export interface TorchModelOptions {
  trainable?: TrainablePredicate;
  bnMomentum?: number;
  optimizer?: OptimizerConfig;
}

/** A float Graph trained and run by libtorch; the same contract as the wasm backend. */
export class TorchModel implements Trainable {
  readonly backend = 'torch' as const;
  readonly inputShape: number[];
  readonly outputSize: number;
  readonly trainableNames: string[] = [];
  /** Parameter index in the addon by tensor name (weights, biases, statistics, constants). */
  private readonly index = new Map<string, number>();
  /** Names whose values are state: trainable weights and BatchNorm moving statistics. */
  private readonly stateNames: string[] = [];
  private native: NativeModel | undefined;
  /** The description the addon built this model from. */
  readonly spec: ModelSpec;

  constructor(
    readonly graph: Graph,
    opts: TorchModelOptions = {},
  ) {
    const lib = addon();
    const trainable: TrainablePredicate = opts.trainable ?? (() => true);
    if (graph.inputs.length !== 1 || graph.outputs.length !== 1)
      throw new TinypruneError(
        `${graph.name}: the float engine runs graphs with one input and one output, found ${graph.inputs.length} and ${graph.outputs.length}`,
      );
    const input = getTensor(graph, graph.inputs[0]!);
    this.inputShape = input.shape.slice(1);
    this.outputSize = numElements(getTensor(graph, graph.outputs[0]!).shape.slice(1));
    const slots = new Map<string, number>();
    const slot = (name: string) => {
      let s = slots.get(name);
      if (s === undefined) slots.set(name, (s = slots.size));
      return s;
    };
    const params: ParamSpec[] = [];
    const ops: OpSpec[] = [];
    const momentum = 1 - (opts.bnMomentum ?? 0.99);
    slot(graph.inputs[0]!);
    for (const op of graph.ops) {
      if (op.kind === 'quantize' || op.kind === 'dequantize')
        throw new TinypruneError(
          `${graph.name}: op "${op.name}" is ${op.kind}; the float engine runs float graphs only`,
        );
      const bnTraining =
        op.kind === 'batchNorm' && trainable(op.inputs[1]!, op) && op.inputs.length >= 5;
      op.inputs.forEach((name, idx) => {
        if (name === '' || attributeInput(op, idx) || this.index.has(name)) return;
        const t = getTensor(graph, name);
        if (!t.data) return;
        const isStat = op.kind === 'batchNorm' && idx >= 3;
        const learn = WEIGHT_OPS.has(op.kind) && idx >= 1 && !isStat && trainable(name, op);
        this.index.set(name, params.length);
        params.push({
          name,
          slot: slot(name),
          shape: t.shape.length ? t.shape : [numElements(t.shape)],
          data: floatValues(t),
          trainable: learn,
        });
        if (learn) this.trainableNames.push(name);
        if (learn || (isStat && bnTraining)) this.stateNames.push(name);
      });
      ops.push(this.describe(graph, op, slot, momentum, bnTraining));
    }
    if (this.trainableNames.length === 0)
      throw new TinypruneError(`${graph.name}: nothing to train (no trainable weights)`);
    this.spec = {
      slots: slots.size,
      input: slot(graph.inputs[0]!),
      output: slot(graph.outputs[0]!),
      classes: this.outputSize,
      inputShape: this.inputShape,
      params,
      ops,
      optimizer: opts.optimizer ?? { kind: 'adam' },
    };
    this.native = new lib.Model(this.spec);
  }

  private describe(
    g: Graph,
    op: Op,
    slot: (name: string) => number,
    momentum: number,
    bnTraining: boolean,
  ): OpSpec {
    const a = op.attrs;
    const inShape = getTensor(g, op.inputs[0]!).shape;
    const inputs = op.inputs.map((n, i) => (n === '' || attributeInput(op, i) ? -1 : slot(n)));
    const base = { kind: op.kind, inputs, output: slot(op.outputs[0]!), act: a.activation };
    switch (op.kind) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        const w = getTensor(g, op.inputs[1]!).shape;
        return {
          ...base,
          strides: a.strides ?? [1, 1],
          dilations: a.dilations ?? [1, 1],
          pads: pads(inShape, [w[1]!, w[2]!], op),
        };
      }
      case 'averagePool2d':
      case 'maxPool2d': {
        const k = a.poolSize ?? [1, 1];
        const global =
          op.kind === 'averagePool2d' &&
          k[0] === inShape[1] &&
          k[1] === inShape[2] &&
          a.padding !== 'same';
        return {
          ...base,
          strides: a.strides ?? [1, 1],
          pool: k,
          pads: pads(inShape, k, op),
          global,
        };
      }
      case 'mean': {
        const r = inShape.length;
        const axes = (a.axes ?? [1, 2]).map((x) => (x < 0 ? x + r : x));
        return { ...base, axes, keepDims: a.keepDims ?? false };
      }
      case 'reshape':
        return { ...base, shape: getTensor(g, op.outputs[0]!).shape.slice(1) };
      case 'softmax':
        return { ...base, beta: a.beta ?? 1 };
      case 'pad': {
        const p = padAmounts(g, op);
        // torch pads the last dim first.
        return { ...base, padList: p.slice().reverse().flat() };
      }
      case 'batchNorm':
        return { ...base, eps: a.epsilon ?? 1e-3, momentum, bnTraining };
      case 'fullyConnected':
        return { ...base, keepNumDims: a.keepNumDims ?? false };
      case 'add':
      case 'relu':
      case 'relu6':
        return base;
      case 'quantize':
      case 'dequantize':
        throw new TinypruneError(`op "${op.name}": ${op.kind} is not a float op`);
    }
  }

  private get model(): NativeModel {
    if (!this.native) throw new Error('torch model used after dispose()');
    return this.native;
  }

  begin(opt: OptimizerConfig): Promise<void> {
    this.model.resetOptimizer(opt);
    return Promise.resolve();
  }

  step(b: StepBatch, lr: number, distill?: Distillation): Promise<StepResult> {
    const t = distill && b.teacher ? b.teacher : null;
    const [lossSum, correct] = this.model.step(
      b.x,
      b.y,
      b.n,
      t,
      distill?.alpha ?? 1,
      distill?.temperature ?? 1,
      lr,
    );
    return Promise.resolve({ lossSum, correct, n: b.n });
  }

  end(): Promise<void> {
    return Promise.resolve();
  }

  /** Gradients of the mean loss (training mode), in trainableNames order and Graph layouts. */
  gradients(b: StepBatch, distill?: Distillation): ShardResult {
    const t = distill && b.teacher ? b.teacher : null;
    const r = this.model.gradients(
      b.x,
      b.y,
      b.n,
      t,
      distill?.alpha ?? 1,
      distill?.temperature ?? 1,
    );
    return { ...r, n: b.n };
  }

  predict(batch: Float32Array, n: number, opts: { batchSize?: number } = {}): Float32Array {
    const per = numElements(this.inputShape);
    if (batch.length !== n * per)
      throw new TinypruneError(
        `predict: expected ${n} × ${per} input values (${[n, ...this.inputShape].join('x')}), got ${batch.length}`,
      );
    return this.model.predict(batch, n, opts.batchSize ?? 64);
  }

  getWeights(): Float32Array[] {
    return this.trainableNames.map((n) => this.model.getParam(this.index.get(n)!));
  }

  setWeights(ws: Float32Array[]): void {
    this.trainableNames.forEach((n, k) => this.model.setParam(this.index.get(n)!, ws[k]!));
  }

  getState(): Map<string, Float32Array> {
    return new Map(this.stateNames.map((n) => [n, this.model.getParam(this.index.get(n)!)]));
  }

  setState(state: Map<string, Float32Array>): void {
    for (const [name, values] of state) {
      const i = this.index.get(name);
      if (i !== undefined) this.model.setParam(i, values);
    }
  }

  /** Writes the trained weights and moving statistics back into `graph`. */
  exportWeights(graph: Graph = this.graph): void {
    for (const [name, values] of this.getState()) {
      const t = graph.tensors.get(name);
      if (!t?.data) continue;
      t.data = values;
      t.dtype = 'float32';
      delete t.quant;
    }
  }

  dispose(): void {
    this.native = undefined;
  }
}
