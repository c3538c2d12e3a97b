import { modelTotals } from '../graph/accounting.js';
import type { CutPoint } from '../graph/cutpoints.js';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneGraph, getTensor, numElements, pruneUnusedTensors } from '../graph/graph.js';
import { TinypruneError, type Graph } from '../graph/types.js';
import { OnnxRunner } from '../engine/onnxRun.js';
import { createTrainable, type BackendChoice, type BackendKind } from '../engine/trainable.js';
import { useBackend } from '../engine/backend.js';
import { fit, type Distillation, type EpochLogs, type LrSchedule } from '../engine/train.js';
import { Rng } from '../data/random.js';
import { argmaxRows } from '../eval/predict.js';
import { evaluatePredictions, type Evaluation } from '../eval/metrics.js';
import { cutGraph, pruneModel } from './cut.js';
import type { PruneData } from './data.js';
import type { Examples, MixSettings } from './mixup.js';
import { sizeSchedule, type Recipe } from './recipe.js';
import { graphToOnnx } from '../engine/onnx.js';
import { dataFingerprint } from '../data/fingerprint.js';
import { releaseMemory } from '../io/memory.js';
import type { Progress } from '../cli/progress.js';
import { resolvePrecision, type CachePrecision, type Precision } from './features/codec.js';
import { extract } from './features/extract.js';
import { defaultWorkers, inThreadLoader, workerLoader } from './features/pool.js';
import { storeSource, trainingSources } from './features/source.js';
import { defaultShardSize, FeatureStore } from './features/store.js';
import { loadRange, openView, viewName, type Split, type ViewRef } from './features/views.js';

export interface Schedule {
  optimizer: 'adam' | 'sgd';
  batchSize: number;
  epochs: number;
  lr: LrSchedule;
  /**
   * Size the schedule to about this many optimiser steps once the training set is known
   * (`sizeSchedule` in recipe.ts sets `epochs` and moves the learning-rate boundaries).
   */
  steps?: number;
}

// The paper's schedules live with the recipes (src/prune/recipe.ts); re-exported for callers.
export { PAPER_SCHEDULES } from './recipe.js';

export interface PruneOptions {
  seed: number;
  /** Train tail and head together instead of freezing the tail. */
  finetune?: boolean;
  distill?: Distillation;
  schedule: Schedule;
  /**
   * Augmented views of the training set cached as features (frozen tail) in addition to the
   * clean one; 0 trains on clean data only.
   */
  views?: number;
  /**
   * With distillation: each augmented view is mixed with a shuffled copy of itself,
   * λ ~ Beta(mixup, mixup), and the teacher scores the mixed inputs; 0 or absent leaves views as
   * they are.
   */
  mixup?: number;
  patience?: number;
  /** Decay of the weights' moving average (Polyak averaging); absent trains without it. */
  ema?: number;
  workers?: number;
  /** The recipe these settings were resolved from (a record; the settings themselves rule). */
  recipe?: Recipe;
  /** Training backend (default auto: torch when the libtorch addon loads, else wasm). */
  backend?: BackendChoice;
  /** Intra-op threads of the torch backend (default 1: the same numbers on every machine). */
  threads?: number;
  /**
   * Encoding of the training views' cached features (evaluation sets stay fp32); default auto.
   * A row setting, not a session one: it changes the trained weights, so it travels with a
   * distributed row.
   */
  cachePrecision?: CachePrecision;
  onEpochEnd?: (logs: EpochLogs) => void;
  onStage?: (stage: string) => void;
}

export interface PruneResult {
  cut: string;
  head: string;
  variant: 'frozen' | 'finetune' | 'distill';
  graph: Graph;
  params: number;
  /** Parameters as Keras counts them (BatchNorm folded into the tail counted back). */
  kerasParams: number;
  macs: number;
  peakActivationBytes: number;
  train: Evaluation;
  val: Evaluation;
  test: Evaluation;
  epochs: EpochLogs[];
  bestEpoch: number;
  /** The backend that trained. */
  backend: BackendKind;
  /** The schedule trained (a step-sized one made concrete for this training set). */
  schedule: Schedule;
  /** Encoding of the cached training features it trained on. */
  cachePrecision: Precision;
}

/** The part of a pruned graph after the cut, as a graph reading the cut tensor. */
export function headGraph(pruned: Graph, cut: CutPoint): Graph {
  const head = cloneGraph(pruned, `${pruned.name}/head`);
  head.ops = head.ops.slice(cut.opIndex + 1);
  head.inputs = [cut.tensor];
  pruneUnusedTensors(head);
  return head;
}

/** Where and how a session keeps its feature caches. */
export interface SessionOptions {
  /** Root folder of the content-addressed feature stores (default: the OS temp folder's). */
  cacheDir?: string;
  /** Extraction worker threads (0: load in this thread); default one per core. */
  workers?: number;
  /** Examples per shard (default: ~16 MB of float features). */
  shardSize?: number;
  progress?: (label: string, total: number) => Progress;
  log?: (line: string) => void;
}

/** What one store holds: features (a tail's outputs or the inputs), teacher outputs, or both. */
interface StoreSpec {
  ref: ViewRef;
  /** Features = tail(x); 'input' stores the inputs; undefined stores none. */
  features?: Graph | 'input';
  /** Log-probabilities of this graph on the features (or inputs). */
  teacher?: Graph;
  precision: Precision;
}

/** Bumped when augmentation or extraction changes what a key's features are. */
/** Shape of one example's stored features: the tail's output, or the input when fine-tuning. */
function featureShape(features: Graph | 'input', inputShape: readonly number[]): number[] {
  return features === 'input'
    ? [...inputShape]
    : getTensor(features, features.outputs[0]!).shape.slice(1);
}

const FEATURE_FORMAT = 1;

const graphHashes = new WeakMap<Graph, string>();
function graphHash(g: Graph): string {
  let h = graphHashes.get(g);
  if (!h) {
    h = createHash('sha256').update(graphToOnnx(g)).digest('hex');
    graphHashes.set(g, h);
  }
  return h;
}

/**
 * Holds what every cut of one model on one dataset shares: the prepared splits and the feature
 * caches on disk (the frozen tail's features per view, the unpruned model's outputs). Nothing
 * that grows with the dataset stays in memory: features are extracted into shards (in
 * parallel, resumably) and streamed from them.
 */
/**
 * Examples per scoring call: onnxruntime's arena grows to the largest batch's intermediate
 * tensors (VWW block 5 at 1,024: brief peaks ~150 MB above training's); scoring is a small
 * part of a run, so the smaller batch costs little.
 */
const SCORE_BATCH = 256;

export class PruneSession {
  unpruned?: { train: Evaluation; val: Evaluation; test: Evaluation };
  /** Extraction totals of this session (benchmarks): examples extracted and seconds spent. */
  readonly extraction = {
    /** Examples loaded (decoded and preprocessed once, however many stores they fill). */
    examples: 0,
    /** Rows written to stores. */
    rows: 0,
    seconds: 0,
    cpuSeconds: 0,
    reusedShards: 0,
    builtShards: 0,
  };
  private readonly cacheDir: string;
  /**
   * The data's fingerprint, part of every store's key: computed once per session (it lists and
   * stats every file, and reads the per-machine hash memo), not once per store.
   */
  private fingerprint?: Promise<string>;

  private constructor(
    readonly base: Graph,
    readonly data: PruneData,
    readonly options: SessionOptions,
  ) {
    this.cacheDir = options.cacheDir ?? join(tmpdir(), 'tinyprune-features');
  }

  static async open(
    base: Graph,
    data: PruneData,
    opts: SessionOptions = {},
  ): Promise<PruneSession> {
    await useBackend('wasm');
    return new PruneSession(base, data, opts);
  }

  get classes(): string[] {
    return this.data.train.classes;
  }

  /** Training view v (0 = clean), mixed up when `mix` is given (v ≥ 1), as arrays: small data only. */
  async view(v: number, mix?: MixSettings): Promise<Examples> {
    const loader = await openView(this.data, { split: 'train', view: v, mix });
    const { x, y } = await loadRange(loader, 0, loader.length);
    return { x, y, n: loader.length };
  }

  /** The first `n` inputs of a split (calibration, deployment checks). */
  async sampleInputs(split: Split, n: number): Promise<Float32Array[]> {
    const loader = await openView(this.data, { split, view: 0 });
    const m = Math.min(n, loader.length);
    const { x } = await loadRange(loader, 0, m);
    const per = x.length / Math.max(m, 1);
    return Array.from({ length: m }, (_, i) => x.slice(i * per, (i + 1) * per));
  }

  private async storeFor(spec: StoreSpec): Promise<FeatureStore> {
    const ds = this.data[spec.ref.split];
    const shape = spec.features === undefined ? [] : featureShape(spec.features, ds.inputShape);
    const dim = spec.features === undefined ? 0 : numElements(shape);
    const examples = createHash('sha256')
      .update(ds.ids ? ds.ids.join('\n') : JSON.stringify(this.data.reopen))
      .update(new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength))
      .digest('hex');
    const key = {
      format: FEATURE_FORMAT,
      data: await (this.fingerprint ??= dataFingerprint(this.data.spec)),
      examples,
      ref: spec.ref,
      // Augmented views follow the seed; the clean examples do not.
      seed: spec.ref.view > 0 ? this.data.reopen[1] : null,
      features:
        spec.features === undefined
          ? null
          : spec.features === 'input'
            ? 'input'
            : graphHash(spec.features),
      teacher: spec.teacher ? graphHash(spec.teacher) : null,
    };
    return FeatureStore.open(this.cacheDir, key, {
      n: ds.length,
      dim,
      channels: dim > 0 ? shape[shape.length - 1]! : 0,
      shape,
      precision: dim > 0 ? spec.precision : 'fp32',
      teacherClasses: spec.teacher ? this.classes.length : 0,
      shardSize: this.options.shardSize ?? defaultShardSize(dim),
    });
  }

  /**
   * The stores for `specs`, with their missing or damaged shards built first (one pool of
   * loaders, one onnxruntime session per graph).
   */
  private async ensure(specs: StoreSpec[], label: string): Promise<FeatureStore[]> {
    const log = this.options.log ?? (() => {});
    const stores = await Promise.all(specs.map((s) => this.storeFor(s)));
    const todo = await Promise.all(
      stores.map((s) =>
        s.missing((file, why) => log(`feature cache: rebuilding ${file} (${why})`)),
      ),
    );
    const reused = stores.reduce((a, s, i) => a + s.shardCount - todo[i]!.length, 0);
    this.extraction.reusedShards += reused;
    if (todo.every((t) => t.length === 0)) {
      log(`${label}: features reused from ${stores[0]!.dir.replace(/[^/\\]+$/, '')}`);
      return stores;
    }
    // The data's opening and fingerprint leave garbage that would add to extraction's peak.
    releaseMemory();
    // The stage's wall clock and CPU time (every thread of the process, so a rate that the
    // machine's load skews less) include starting the workers and the model sessions.
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const workers = this.options.workers ?? defaultWorkers();
    const loader = workers > 0 ? await workerLoader(this.data, workers) : inThreadLoader(this.data);
    const runners = new Map<Graph, OnnxRunner>();
    const runner = async (g: Graph | undefined) => {
      if (!g) return undefined;
      let r = runners.get(g);
      if (!r) runners.set(g, (r = await OnnxRunner.create(g)));
      return r;
    };
    try {
      let examples = 0;
      let rows = 0;
      // Stores of the same examples (same split and view) fill from one load of each example.
      const groups = new Map<string, number[]>();
      for (const [i, spec] of specs.entries()) {
        if (todo[i]!.length === 0) continue;
        const key = JSON.stringify(spec.ref);
        groups.set(key, [...(groups.get(key) ?? []), i]);
      }
      const target = async (i: number) => ({
        store: stores[i]!,
        shards: todo[i],
        tail: specs[i]!.features === 'input' ? undefined : await runner(specs[i]!.features),
        teacher: await runner(specs[i]!.teacher),
      });
      for (const [first, ...more] of groups.values()) {
        const spec = specs[first!]!;
        const st = await extract({
          ...(await target(first!)),
          also: await Promise.all(more.map(target)),
          ref: spec.ref,
          loader,
          progress: this.options.progress,
          label: `${label}: ${viewName(spec.ref)}`,
        });
        examples += st.examples;
        rows += st.rows;
        this.extraction.builtShards += st.built;
      }
      const seconds = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(cpu0);
      const cpu = (used.user + used.system) / 1e6;
      this.extraction.examples += examples;
      this.extraction.rows += rows;
      this.extraction.seconds += seconds;
      this.extraction.cpuSeconds += cpu;
      log(
        `${label}: extracted ${examples} examples in ${seconds.toFixed(1)} s (${Math.round(examples / Math.max(seconds, 1e-9))}/s, ${cpu.toFixed(1)} CPU-s; ${rows} rows written, ${reused} shards reused, ${workers} workers)`,
      );
    } finally {
      await loader.close();
      for (const r of runners.values()) await r.dispose();
      // What the workers and sessions freed stays in the C heap otherwise (io/memory.ts).
      releaseMemory();
    }
    return stores;
  }

  /** Scores of `g` on every example of a store (in order), with the labels. */
  private async scores(g: Graph, store: FeatureStore): Promise<Evaluation> {
    const runner = await OnnxRunner.create(g);
    const labels = new Int32Array(store.layout.n);
    const out = new Float32Array(store.layout.n * this.classes.length);
    let at = 0;
    try {
      for await (const b of storeSource([store]).batches(SCORE_BATCH)) {
        labels.set(b.y, at);
        out.set(await runner.predict(b.x, b.n), at * this.classes.length);
        at += b.n;
      }
    } finally {
      await runner.dispose();
    }
    return this.evaluate(out, labels);
  }

  evaluate(scores: Float32Array, labels: Int32Array): Evaluation {
    return evaluatePredictions(labels, argmaxRows(scores, this.classes.length), this.classes);
  }

  /** The unpruned model's outputs on the clean examples of every split. */
  private unprunedSpecs(): StoreSpec[] {
    const splits: Split[] = ['train', 'val', 'test'];
    return splits.map((split) => ({
      ref: { split, view: 0, shuffled: true },
      teacher: this.base,
      precision: 'fp32',
    }));
  }

  async unprunedAccuracy(): Promise<NonNullable<PruneSession['unpruned']>> {
    if (!this.unpruned) {
      const stores = await this.ensure(this.unprunedSpecs(), 'unpruned model');
      const ev = async (s: FeatureStore) => {
        const labels = new Int32Array(s.layout.n);
        const out = new Float32Array(s.layout.n * this.classes.length);
        let at = 0;
        for await (const b of storeSource([s], { teacher: true }).batches(4096)) {
          labels.set(b.y, at);
          out.set(b.t!, at * this.classes.length);
          at += b.n;
        }
        return this.evaluate(out, labels);
      };
      this.unpruned = {
        train: await ev(stores[0]!),
        val: await ev(stores[1]!),
        test: await ev(stores[2]!),
      };
    }
    return this.unpruned;
  }

  /** The schedule `prune` trains with these options: sized to clean + augmented views. */
  schedule(opts: Pick<PruneOptions, 'schedule' | 'views'>): Schedule {
    return sizeSchedule(opts.schedule, this.data.train.length * ((opts.views ?? 0) + 1));
  }

  /** Cuts the base model at `cut`, attaches `head`, trains it, and evaluates every split. */
  async prune(cut: CutPoint, head: string, opts: PruneOptions): Promise<PruneResult> {
    const rng = new Rng(opts.seed);
    const graph = pruneModel(this.base, cut, head, rng, this.classes.length);
    const views = opts.views ?? 0;
    if (opts.mixup && (!opts.distill || views < 1))
      throw new TinypruneError(
        '--mixup needs --distill and --views 1 or more: it mixes the augmented views, and the teacher scores the mixed inputs',
      );
    const mix = opts.mixup ? { alpha: opts.mixup, seed: opts.seed } : undefined;
    const distill = opts.distill !== undefined;
    // Frozen tail: the stores hold the tail's features and the head trains on them; fine-tuning
    // stores the inputs and trains the whole pruned model.
    const features: Graph | 'input' = opts.finetune ? 'input' : cutGraph(this.base, cut);
    const teacher = distill ? (opts.finetune ? this.base : headGraph(this.base, cut)) : undefined;
    // Without augmentation every view equals the clean one: extracted once, served views + 1 times.
    const distinct = this.data.augmentedTrain || mix;
    const trainViews = distinct ? views : 0;
    const dim = numElements(featureShape(features, this.data.train.inputShape));
    const precision = resolvePrecision(
      opts.cachePrecision ?? 'auto',
      this.data.train.length * (trainViews + 1) * dim,
    );
    const specs: StoreSpec[] = [
      ...Array.from({ length: trainViews + 1 }, (_, v) => ({
        ref: { split: 'train' as const, view: v, mix: v > 0 ? mix : undefined, shuffled: true },
        features,
        teacher,
        precision,
      })),
      { ref: { split: 'val', view: 0, shuffled: true }, features, precision: 'fp32' },
      { ref: { split: 'test', view: 0, shuffled: true }, features, precision: 'fp32' },
    ];
    opts.onStage?.('features');
    // The unpruned model's stores, when not made yet, fill from the same loads as the cut's
    // clean ones (each clip decoded once); unprunedAccuracy() then finds them made.
    const extra = this.unpruned ? [] : this.unprunedSpecs();
    const stores = (await this.ensure([...specs, ...extra], `${cut.name}`)).slice(0, specs.length);
    const trainStores = distinct
      ? stores.slice(0, trainViews + 1)
      : new Array<FeatureStore>(views + 1).fill(stores[0]!);
    const [valStore, testStore] = stores.slice(trainViews + 1) as [FeatureStore, FeatureStore];
    opts.onStage?.('train');
    const trained = opts.finetune ? graph : headGraph(graph, cut);
    const model = await createTrainable(trained, { backend: opts.backend, threads: opts.threads });
    const schedule = this.schedule(opts);
    let history;
    try {
      history = await fit(model, {
        epochs: schedule.epochs,
        batchSize: schedule.batchSize,
        optimizer: schedule.optimizer,
        lr: schedule.lr,
        patience: opts.patience,
        ema: opts.ema,
        seed: opts.seed,
        workers: opts.workers,
        distill: opts.distill,
        onEpochEnd: opts.onEpochEnd,
        ...trainingSources(trainStores, valStore, distill),
      });
      model.exportWeights(trained);
    } finally {
      model.dispose();
      releaseMemory();
    }
    if (!opts.finetune)
      for (const [name, t] of trained.tensors) if (t.data) graph.tensors.set(name, t);
    opts.onStage?.('evaluate');
    const [train, val, test] = [
      await this.scores(trained, trainStores[0]!),
      await this.scores(trained, valStore),
      await this.scores(trained, testStore),
    ];
    const totals = modelTotals(graph);
    return {
      cut: cut.name,
      head,
      variant: opts.finetune ? 'finetune' : opts.distill ? 'distill' : 'frozen',
      graph,
      ...totals,
      train,
      val,
      test,
      epochs: history.epochs,
      bestEpoch: history.bestEpoch,
      cachePrecision: precision,
      backend: history.backend,
      schedule,
    };
  }
}
