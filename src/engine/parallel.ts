// Data-parallel gradient computation: worker threads, each with its own tfjs-wasm instance and a
// replica of the model, compute gradients on their shard of every batch while this thread
// computes its own; the trainer averages them (synchronous SGD, identical to one big batch).
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from './spawnWorker.js';
import type { Graph } from '../graph/types.js';
import type { TfModel } from './model.js';
import { shardGradients, type Distillation, type ShardResult } from './gradients.js';
import { tf } from './backend.js';

export interface WorkerInit {
  graph: Graph;
  trainable: string[];
  bnMomentum: number;
}

export interface StepRequest {
  type: 'step';
  state: [string, Float32Array][];
  x: Float32Array;
  y: Int32Array;
  n: number;
  teacher?: Float32Array;
  distill?: Distillation;
}

export interface StepReply extends ShardResult {
  stats: [string, Float32Array][];
  error?: string;
}

export class GradientWorkers {
  private constructor(private readonly workers: Worker[]) {}

  static async start(model: TfModel, count: number): Promise<GradientWorkers> {
    const init: WorkerInit = {
      graph: model.graph,
      trainable: model.trainableNames,
      bnMomentum: model.bnMomentum,
    };
    const workers = await Promise.all(
      Array.from({ length: count }, async () => {
        const w = spawnWorker(import.meta.url, 'trainWorker', init);
        await new Promise<void>((resolve, reject) => {
          w.once('message', (m: { ready?: boolean; error?: string }) =>
            m.ready ? resolve() : reject(new Error(`training worker failed: ${m.error}`)),
          );
          w.once('error', reject);
        });
        return w;
      }),
    );
    return new GradientWorkers(workers);
  }

  /** One synchronous step: shards the batch over this thread and the workers. */
  async step(
    model: TfModel,
    x: Float32Array,
    y: Int32Array,
    n: number,
    teacher: Float32Array | undefined,
    distill: Distillation | undefined,
  ): Promise<ShardResult[]> {
    const parts = this.workers.length + 1;
    const per = x.length / n;
    const classes = model.outputSize;
    const bounds = Array.from({ length: parts + 1 }, (_, i) => Math.round((i * n) / parts));
    const state = [...model.getState()];
    const replies = this.workers.map((w, i) => {
      const [a, b] = [bounds[i + 1]!, bounds[i + 2]!];
      const req: StepRequest = {
        type: 'step',
        state,
        x: x.slice(a * per, b * per),
        y: y.slice(a, b),
        n: b - a,
        teacher: teacher?.slice(a * classes, b * classes),
        distill,
      };
      return new Promise<StepReply>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        w.once('error', onError);
        w.once('message', (m: StepReply) => {
          w.off('error', onError);
          if (m.error) reject(new Error(`training worker: ${m.error}`));
          else resolve(m);
        });
        w.postMessage(req);
      });
    });
    const own = shardGradients(
      model,
      x.subarray(0, bounds[1]! * per),
      y.subarray(0, bounds[1]!),
      bounds[1]!,
      teacher?.subarray(0, bounds[1]! * classes),
      distill,
    );
    const others = await Promise.all(replies);
    // Moving statistics: every replica started from the same values, so the size-weighted mean
    // of their updates equals the update with the mean batch statistics.
    const statVars = model.statVariables;
    if (statVars.length) {
      const total = n;
      tf.tidy(() => {
        statVars.forEach(({ name, variable }, k) => {
          const acc = (variable.dataSync() as Float32Array).map((v) => (v * own.n) / total);
          for (const r of others) {
            const [rn, rv] = r.stats[k]!;
            if (rn !== name) throw new Error(`worker statistics out of order: ${rn} vs ${name}`);
            for (let i = 0; i < acc.length; i++) acc[i]! += (rv[i]! * r.n) / total;
          }
          variable.assign(tf.tensor(acc, variable.shape));
        });
      });
    }
    return [own, ...others];
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
