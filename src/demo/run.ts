import type { Graph } from '../graph/types.js';
import type { PruneData } from '../prune/data.js';
import { buildDemoModel, trainDemoModel, type DemoBlock } from './model.js';

/**
 * MobileNet-like proportions: cheap early blocks, parameter-heavy late ones, so cutting early
 * and attaching a small head saves most of the model (as on VWW).
 */
export const RUN_DEMO_BLOCKS: DemoBlock[] = [
  { filters: 16, stride: 1 },
  { filters: 32, stride: 2 },
  { filters: 32, stride: 1 },
  { filters: 64, stride: 2 },
  { filters: 64, stride: 1 },
  { filters: 128, stride: 2 },
];

/** Builds the demo model for the data and trains it from scratch (seeded). */
export async function trainDemo(
  data: PruneData,
  log: (line: string) => void,
  opts: { seed: number; epochs?: number },
): Promise<Graph> {
  const { seed } = opts;
  const g = buildDemoModel(data.train.inputShape, data.train.classes, seed, {
    blocks: RUN_DEMO_BLOCKS,
  });
  const r = await trainDemoModel(g, data.train, data.val, {
    seed,
    epochs: opts.epochs,
    onEpochEnd: (e) =>
      log(
        `demo model epoch ${e.epoch + 1}: loss ${e.loss.toFixed(3)}, val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}%`,
      ),
  });
  log(
    `demo model trained from scratch in ${r.seconds.toFixed(0)} s: val accuracy ${(r.valAccuracy * 100).toFixed(1)}%`,
  );
  return g;
}
