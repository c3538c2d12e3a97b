// What fit() trains: a model behind one small interface, run by tfjs-wasm (TfModel, JS optimiser,
// optional data-parallel workers) or by libtorch (TorchModel, everything native). `auto` picks
// torch when the addon loads; TINYPRUNE_BACKEND=wasm|torch sets what `auto` means (CI forces
// the fallback path with it).
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { useBackend, tf } from './backend.js';
import { TfModel, type TrainablePredicate } from './model.js';
import { shardGradients, type Distillation, type ShardResult } from './gradients.js';
import { Optimizer, type OptimizerConfig } from './optimizer.js';
import { GradientWorkers } from './parallel.js';
import { loadTorch, setTorchThreads, TorchModel } from './torch.js';

export type { OptimizerConfig };
export type BackendKind = 'torch' | 'wasm';
export type BackendChoice = BackendKind | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'torch', 'wasm'];

export interface StepBatch {
  x: Float32Array;
  y: Int32Array;
  n: number;
  /** Teacher logits, n × classes (distillation only). */
  teacher?: Float32Array;
}

export interface StepResult {
  lossSum: number;
  correct: number;
  n: number;
}

export interface Trainable {
  readonly backend: BackendKind;
  readonly graph: Graph;
  readonly inputShape: number[];
  readonly outputSize: number;
  readonly trainableNames: string[];
  /** Fresh optimiser state before training (and, on wasm, `workers` data-parallel replicas). */
  begin(opt: OptimizerConfig, workers?: number): Promise<void>;
  /** One optimiser step on a batch: forward (training mode), loss, backward, update. */
  step(batch: StepBatch, lr: number, distill?: Distillation): Promise<StepResult>;
  end(): Promise<void>;
  /** Gradients of the mean loss (training mode) in trainableNames order, Graph layouts. */
  gradients(batch: StepBatch, distill?: Distillation): ShardResult;
  predict(x: Float32Array, n: number, opts?: { batchSize?: number }): Float32Array;
  /** Trainable weights in trainableNames order (copies). */
  getWeights(): Float32Array[];
  setWeights(ws: Float32Array[]): void;
  /** Trainable weights and moving statistics by tensor name (checkpoints). */
  getState(): Map<string, Float32Array>;
  setState(state: Map<string, Float32Array>): void;
  exportWeights(graph?: Graph): void;
  dispose(): void;
}

/** TfModel under the Trainable interface: JS optimiser on Float32Arrays, optional workers. */
export class WasmTrainable implements Trainable {
  readonly backend = 'wasm' as const;
  private weights: Float32Array[] = [];
  private optimizer?: Optimizer;
  private pool?: GradientWorkers;

  constructor(readonly model: TfModel) {}

  get graph(): Graph {
    return this.model.graph;
  }
  get inputShape(): number[] {
    return this.model.inputShape;
  }
  get outputSize(): number {
    return this.model.outputSize;
  }
  get trainableNames(): string[] {
    return this.model.trainableNames;
  }

  async begin(opt: OptimizerConfig, workers = 1): Promise<void> {
    this.weights = this.model.trainableVariables.map((v) => (v.dataSync() as Float32Array).slice());
    this.optimizer = new Optimizer(
      opt.kind,
      this.weights.map((w) => w.length),
      opt.momentum,
    );
    const n = Math.max(1, Math.floor(workers));
    this.pool = n > 1 ? await GradientWorkers.start(this.model, n - 1) : undefined;
  }

  async step(b: StepBatch, lr: number, distill?: Distillation): Promise<StepResult> {
    if (!this.optimizer) throw new Error('WasmTrainable.step before begin()');
    const results = this.pool
      ? await this.pool.step(this.model, b.x, b.y, b.n, b.teacher, distill)
      : [shardGradients(this.model, b.x, b.y, b.n, b.teacher, distill)];
    // Average shard gradients weighted by shard size (= the full batch's mean gradient).
    const n = results.reduce((a, r) => a + r.n, 0);
    const grads =
      results.length === 1
        ? results[0]!.grads
        : this.weights.map((w, k) => {
            const g = new Float32Array(w.length);
            for (const r of results) {
              const f = r.n / n;
              const rg = r.grads[k]!;
              for (let i = 0; i < g.length; i++) g[i]! += f * rg[i]!;
            }
            return g;
          });
    this.optimizer.apply(this.weights, grads, lr);
    this.load();
    return {
      lossSum: results.reduce((a, r) => a + r.lossSum, 0),
      correct: results.reduce((a, r) => a + r.correct, 0),
      n,
    };
  }

  async end(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }

  gradients(b: StepBatch, distill?: Distillation): ShardResult {
    const r = shardGradients(this.model, b.x, b.y, b.n, b.teacher, distill);
    return {
      ...r,
      grads: r.grads.map((g, k) => this.model.toGraphLayout(this.trainableNames[k]!, g)),
    };
  }

  predict(x: Float32Array, n: number, opts: { batchSize?: number } = {}): Float32Array {
    return this.model.predict(x, n, opts);
  }

  private load(): void {
    const vars = this.model.trainableVariables;
    tf.tidy(() => vars.forEach((v, k) => v.assign(tf.tensor(this.weights[k]!, v.shape))));
  }

  getWeights(): Float32Array[] {
    return this.model.trainableVariables.map((v) => (v.dataSync() as Float32Array).slice());
  }

  setWeights(ws: Float32Array[]): void {
    this.weights = ws.map((w) => w.slice());
    this.load();
  }

  getState(): Map<string, Float32Array> {
    return this.model.getState();
  }

  setState(state: Map<string, Float32Array>): void {
    this.model.setState(state);
    if (this.optimizer) this.weights = this.getWeights();
  }

  exportWeights(graph?: Graph): void {
    this.model.exportWeights(graph);
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** The backend `choice` resolves to here: auto → TINYPRUNE_BACKEND, else torch when it loads. */
export function resolveBackend(choice: BackendChoice = 'auto'): BackendKind {
  let c = choice;
  if (c === 'auto') {
    const env = process.env.TINYPRUNE_BACKEND;
    if (env !== undefined && env !== '' && env !== 'auto') {
      if (env !== 'torch' && env !== 'wasm')
        throw new TinypruneError(
          `TINYPRUNE_BACKEND: expected torch, wasm or auto, found ${JSON.stringify(env)}`,
        );
      c = env;
    }
  }
  if (c === 'auto') return loadTorch().addon ? 'torch' : 'wasm';
  if (c === 'torch' && !loadTorch().addon)
    throw new TinypruneError(
      `--backend torch: the libtorch addon does not load (${loadTorch().error}); run \`npm run bootstrap\` on Debian with libtorch-dev, or use --backend wasm`,
    );
  return c;
}

export interface TrainableOptions {
  backend?: BackendChoice;
  /** Intra-op threads of the torch backend (default 1: the same numbers on every machine). */
  threads?: number;
  trainable?: TrainablePredicate;
  bnMomentum?: number;
}

/** A trainable model of `graph` on the chosen backend. */
export async function createTrainable(
  graph: Graph,
  opts: TrainableOptions = {},
): Promise<Trainable> {
  const kind = resolveBackend(opts.backend);
  const modelOpts = { trainable: opts.trainable, bnMomentum: opts.bnMomentum };
  if (kind === 'torch') {
    if (opts.threads !== undefined) setTorchThreads(opts.threads);
    return new TorchModel(graph, modelOpts);
  }
  await useBackend('wasm');
  return new WasmTrainable(new TfModel(graph, modelOpts));
}
