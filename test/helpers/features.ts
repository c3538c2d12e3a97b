// A small feature extraction for the feature-cache tests: generated shapes, the demo model cut
// after block 2, 16-example shards. Shared by the tests and the child process they kill.
import { buildDemoModel } from '../../src/demo/model.js';
import { OnnxRunner } from '../../src/engine/onnxRun.js';
import { getTensor } from '../../src/graph/graph.js';
import { cutGraph, resolveCutPoint } from '../../src/prune/cut.js';
import { preparePruneData } from '../../src/prune/data.js';
import type { Precision } from '../../src/prune/features/codec.js';
import { extract, type ExtractStats } from '../../src/prune/features/extract.js';
import { inThreadLoader, workerLoader } from '../../src/prune/features/pool.js';
import { FeatureStore } from '../../src/prune/features/store.js';

export const SPEC = 'synthetic:shapes?n=200&seed=3&size=32';
export const SHARD = 16;

export async function setup(root: string, precision: Precision = 'int8') {
  const data = await preparePruneData(SPEC, 1);
  const base = buildDemoModel(data.train.inputShape, data.train.classes, 1);
  const tail = cutGraph(base, resolveCutPoint(base, 'block2'));
  const shape = getTensor(tail, tail.outputs[0]!).shape.slice(1);
  const dim = shape.reduce((a, b) => a * b, 1);
  const store = FeatureStore.open(
    root,
    { test: 'features', spec: SPEC, precision },
    {
      n: data.train.length,
      dim,
      channels: shape[shape.length - 1]!,
      shape,
      precision,
      teacherClasses: 0,
      shardSize: SHARD,
    },
  );
  return { data, tail, store };
}

/** Builds the store's missing shards; `onShard` runs after each one is written. */
export async function run(
  root: string,
  o: { workers?: number; onShard?: (k: number) => void | Promise<void> } = {},
): Promise<ExtractStats & { store: FeatureStore }> {
  const { data, tail, store } = await setup(root);
  const loader = o.workers ? await workerLoader(data, o.workers) : inThreadLoader(data);
  const runner = await OnnxRunner.create(tail, { threads: 1 });
  try {
    const stats = await extract({
      store,
      ref: { split: 'train', view: 0 },
      loader,
      tail: runner,
      onShard: o.onShard,
    });
    return { ...stats, store };
  } finally {
    await loader.close();
    await runner.dispose();
  }
}

// As a child process: `node --import tsx test/helpers/features.ts ROOT SLEEP_MS [start]` prints
// one line per written shard, sleeping after each so that the parent can kill it half way (with
// `start`, first a line as the work begins, from which the parent times its kills).
if (process.argv[1]?.endsWith('features.ts') && process.argv[2]) {
  const sleep = Number(process.argv[3] ?? 0);
  if (process.argv[4] === 'start') console.log('start');
  const stats = await run(process.argv[2], {
    onShard: async (k) => {
      console.log(`shard ${k}`);
      if (sleep) await new Promise((r) => setTimeout(r, sleep));
    },
  });
  console.log(`built ${stats.built} reused ${stats.reused}`);
}
