import { modelTotals } from '../graph/accounting.js';
import type { CutPoint } from '../graph/cutpoints.js';
import { cloneGraph, getTensor, pruneUnusedTensors } from '../graph/graph.js';
import { TinypruneError, type Graph } from '../graph/types.js';
import { OnnxRunner } from '../engine/onnxRun.js';
import { TfModel } from '../engine/model.js';
import { useBackend } from '../engine/backend.js';
import { fit, type Distillation, type EpochLogs, type LrSchedule } from '../engine/train.js';
import { Rng } from '../data/random.js';
import { argmaxRows } from '../eval/predict.js';
import { evaluatePredictions, type Evaluation } from '../eval/metrics.js';
import { cutGraph, pruneModel } from './cut.js';
import { loadAll, type PruneData } from './data.js';
import { mixup, type Examples, type MixSettings } from './mixup.js';
import { checkViewBudget } from './limits.js';

export interface Schedule {
  optimizer: 'adam' | 'sgd';
  batchSize: number;
  epochs: number;
  lr: LrSchedule;
}

/** The paper's schedules (De Leon & Atienza; MLPerf Tiny training scripts). */
export const PAPER_SCHEDULES: Record<'kws' | 'vww', Schedule> = {
  kws: {
    optimizer: 'adam',
    batchSize: 100,
    epochs: 30,
    lr: { unit: 'epoch', boundaries: [12, 24], values: [5e-4, 1e-4, 2e-5] },
  },
  vww: {
    optimizer: 'adam',
    batchSize: 32,
    epochs: 50,
    lr: { unit: 'epoch', boundaries: [20, 30], values: [1e-3, 5e-4, 2.5e-4] },
  },
};

/** KWS models take 49x10 MFCC; everything else gets the image schedule. */
export function taskOf(g: Graph): 'kws' | 'vww' {
  const s = getTensor(g, g.inputs[0]!).shape;
  return s[1] === 49 && s[2] === 10 ? 'kws' : 'vww';
}

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
}

/** The part of a pruned graph after the cut, as a graph reading the cut tensor. */
export function headGraph(pruned: Graph, cut: CutPoint): Graph {
  const head = cloneGraph(pruned, `${pruned.name}/head`);
  head.ops = head.ops.slice(cut.opIndex + 1);
  head.inputs = [cut.tensor];
  pruneUnusedTensors(head);
  return head;
}

async function runGraph(g: Graph, x: Float32Array, n: number): Promise<Float32Array> {
  const runner = await OnnxRunner.create(g);
  try {
    return await runner.predict(x, n);
  } finally {
    await runner.dispose();
  }
}

/**
 * Holds what every cut of one model on one dataset shares: the loaded splits, augmented views,
 * and the unpruned model's outputs (teacher logits and its accuracy on each split).
 */
export class PruneSession {
  /** Training views by `viewKey`. */
  private views = new Map<string, Examples>();
  private teacher = new Map<string, Float32Array>();
  unpruned?: { train: Evaluation; val: Evaluation; test: Evaluation };

  private constructor(
    readonly base: Graph,
    readonly data: PruneData,
    readonly train: Examples,
    readonly val: Examples,
    readonly test: Examples,
  ) {}

  static async open(base: Graph, data: PruneData): Promise<PruneSession> {
    await useBackend('wasm');
    const [train, val, test] = [
      await loadAll(data.train),
      await loadAll(data.val),
      await loadAll(data.test),
    ];
    const s = new PruneSession(base, data, train, val, test);
    s.views.set(viewKey(0), train);
    return s;
  }

  get classes(): string[] {
    return this.data.train.classes;
  }

  /** Training view v (0 = clean), mixed up when `mix` is given (v ≥ 1). */
  async view(v: number, mix?: MixSettings): Promise<Examples> {
    const key = viewKey(v, mix);
    const hit = this.views.get(key);
    if (hit) return hit;
    let arrays: Examples;
    if (mix) {
      const m = mixup(await this.view(v), mix.alpha, mix.seed * 1_000_003 + v);
      arrays = { x: m.x, y: m.y, n: m.n };
    } else if (this.data.augmentedTrain) {
      arrays = await loadAll(await this.data.augmentedTrain(v));
    } else {
      return this.train;
    }
    this.views.set(key, arrays);
    return arrays;
  }

  /** The unpruned model's log-probabilities on a training view (distillation targets). */
  async teacherLogits(v: number, mix?: MixSettings): Promise<Float32Array> {
    const key = viewKey(v, mix);
    const hit = this.teacher.get(key);
    if (hit) return hit;
    const a = await this.view(v, mix);
    const p = await runGraph(this.base, a.x, a.n);
    const logits = p.map((q) => Math.log(Math.max(q, 1e-12)));
    this.teacher.set(key, logits);
    return logits;
  }

  evaluate(scores: Float32Array, labels: Int32Array): Evaluation {
    return evaluatePredictions(labels, argmaxRows(scores, this.classes.length), this.classes);
  }

  async unprunedAccuracy(): Promise<NonNullable<PruneSession['unpruned']>> {
    if (!this.unpruned) {
      const ev = async (a: Examples) => this.evaluate(await runGraph(this.base, a.x, a.n), a.y);
      this.unpruned = {
        train: await ev(this.train),
        val: await ev(this.val),
        test: await ev(this.test),
      };
    }
    return this.unpruned;
  }

  /** Cuts the base model at `cut`, attaches `head`, trains it, and evaluates every split. */
  async prune(cut: CutPoint, head: string, opts: PruneOptions): Promise<PruneResult> {
    const rng = new Rng(opts.seed);
    const graph = pruneModel(this.base, cut, head, rng, this.classes.length);
    const views = opts.views ?? 0;
    // Inputs, features and teacher logits of every cached view must fit (prune/limits.ts).
    const perExample =
      this.train.x.length / Math.max(1, this.train.n) + cut.shape.reduce((a, b) => a * b, 1);
    if (views > 0) checkViewBudget(views, this.train.n, 4 * (perExample + this.classes.length));
    if (opts.mixup && (!opts.distill || views < 1))
      throw new TinypruneError(
        '--mixup needs --distill and --views 1 or more: it mixes the augmented views, and the teacher scores the mixed inputs',
      );
    const mix = opts.mixup ? { alpha: opts.mixup, seed: opts.seed } : undefined;
    const fitCommon = {
      epochs: opts.schedule.epochs,
      batchSize: opts.schedule.batchSize,
      optimizer: opts.schedule.optimizer,
      lr: opts.schedule.lr,
      patience: opts.patience,
      ema: opts.ema,
      seed: opts.seed,
      workers: opts.workers,
      distill: opts.distill,
      onEpochEnd: opts.onEpochEnd,
    };
    let history;
    if (opts.finetune) {
      const trainSet = await this.stackViews(views, mix, (a) => a.x, opts.distill !== undefined);
      const model = new TfModel(graph);
      try {
        history = await fit(model, {
          ...fitCommon,
          train: trainSet,
          validation: { x: this.val.x, y: this.val.y, n: this.val.n },
        });
        model.exportWeights(graph);
      } finally {
        model.dispose();
      }
    } else {
      const tail = cutGraph(this.base, cut);
      opts.onStage?.('features');
      const tailRunner = await OnnxRunner.create(tail);
      let trainSet;
      let valFeatures: Float32Array;
      try {
        const feats = async (a: Examples) => tailRunner.predict(a.x, a.n);
        trainSet = await this.stackViews(views, mix, feats, opts.distill !== undefined);
        valFeatures = await feats(this.val);
      } finally {
        await tailRunner.dispose();
      }
      opts.onStage?.('train');
      const headOnly = headGraph(graph, cut);
      const model = new TfModel(headOnly);
      try {
        history = await fit(model, {
          ...fitCommon,
          train: trainSet,
          validation: { x: valFeatures, y: this.val.y, n: this.val.n },
        });
        model.exportWeights(headOnly);
      } finally {
        model.dispose();
      }
      for (const [name, t] of headOnly.tensors) if (t.data) graph.tensors.set(name, t);
    }
    opts.onStage?.('evaluate');
    const runner = await OnnxRunner.create(graph);
    const ev = async (a: Examples) => this.evaluate(await runner.predict(a.x, a.n), a.y);
    const [train, val, test] = [await ev(this.train), await ev(this.val), await ev(this.test)];
    await runner.dispose();
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
    };
  }

  /**
   * Clean training data plus `views` augmented (and with `mix`, mixed) views, mapped by `f`
   * (features or raw inputs).
   */
  private async stackViews(
    views: number,
    mix: MixSettings | undefined,
    f: (a: Examples) => Float32Array | Promise<Float32Array>,
    withTeacher: boolean,
  ): Promise<{ x: Float32Array; y: Int32Array; n: number; teacherLogits?: Float32Array }> {
    const parts: Float32Array[] = [];
    const labels: Int32Array[] = [];
    const teachers: Float32Array[] = [];
    for (let v = 0; v <= views; v++) {
      const m = v === 0 ? undefined : mix;
      const a = await this.view(v, m);
      parts.push(await f(a));
      labels.push(a.y);
      if (withTeacher) teachers.push(await this.teacherLogits(v, m));
    }
    const concat = <T extends Float32Array | Int32Array>(list: T[], make: (n: number) => T): T => {
      const out = make(list.reduce((s, p) => s + p.length, 0));
      let at = 0;
      for (const p of list) {
        out.set(p as never, at);
        at += p.length;
      }
      return out;
    };
    const n = labels.reduce((s, l) => s + l.length, 0);
    return {
      x: concat(parts, (k) => new Float32Array(k)),
      y: concat(labels, (k) => new Int32Array(k)),
      n,
      teacherLogits: withTeacher ? concat(teachers, (k) => new Float32Array(k)) : undefined,
    };
  }
}

function viewKey(v: number, mix?: MixSettings): string {
  return mix ? `${v} mixup ${mix.alpha} seed ${mix.seed}` : `${v}`;
}
