import type { Graph } from '../graph/types.js';
import type { PruneData } from '../prune/data.js';
import { buildDemoModel, trainDemoModel, type DemoBlock } from './model.js';
import { DEMO_JOBS, demoJobFor } from './jobs.js';

/**
 * MobileNet-like proportions: cheap early blocks, parameter-heavy late ones, so cutting early
 * and attaching a small head saves most of the model (as on VWW).
 */
export const RUN_DEMO_BLOCKS: DemoBlock[] = DEMO_JOBS.shapes.blocks;

/** Builds the demo model of the data's job (src/demo/jobs.ts) and trains it from scratch (seeded). */
export async function trainDemo(
  data: PruneData,
  log: (line: string) => void,
  opts: { seed: number; epochs?: number; workers?: number },
): Promise<Graph> {
  const { seed } = opts;
  const job = demoJobFor(data.spec);
  const g = buildDemoModel(data.train.inputShape, data.train.classes, seed, {
    stem: job.stem,
    blocks: job.blocks,
  });
  const r = await trainDemoModel(g, data.train, data.val, {
    seed,
    epochs: opts.epochs ?? job.base.epochs,
    batchSize: job.base.batchSize,
    lr: job.base.lr,
    decay: job.base.decay,
    augment: job.base.dihedral,
    workers: opts.workers,
    onEpochEnd: (e) =>
      log(
        `demo model epoch ${e.epoch + 1}: loss ${e.loss.toFixed(3)}, val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}% (${e.seconds.toFixed(0)} s)`,
      ),
  });
  log(
    `demo model trained from scratch on ${data.train.length} examples in ${r.seconds.toFixed(0)} s: val accuracy ${(r.valAccuracy * 100).toFixed(1)}%`,
  );
  return g;
}
