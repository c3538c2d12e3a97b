// Float engine speed: training step time (1 vs 2 data-parallel workers) and forward throughput
// (tfjs-wasm and onnxruntime) for MobileNetV1-0.25 (VWW) and DS-CNN (KWS). Medians over steps.
// Run: npm run bench engine   (or: node --import tsx bench/run.ts --one bench/engine.ts)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../src/engine/backend.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';
import { TfModel } from '../src/engine/model.js';
import { OnnxRunner } from '../src/engine/onnxRun.js';
import { fit } from '../src/engine/train.js';
import { loadModel } from '../src/io/load.js';
import { addTensor, createGraph } from '../src/graph/graph.js';
import type { Graph } from '../src/graph/types.js';
import { attachHead, parseHead } from '../src/prune/heads.js';
import type { BenchReport, BenchRow } from './run.js';

const MODELS = fileURLToPath(new URL('../../shared/models/mlperf_tiny/', import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median seconds per optimiser step over `steps` steps after `warmup`. */
async function stepSeconds(
  model: TfModel,
  batch: number,
  workers: number,
  steps: number,
  warmup = 2,
) {
  const per = model.inputShape.reduce((a, b) => a * b, 1);
  const n = batch * (steps + warmup);
  const rng = new Rng(1);
  const x = randomNormalArray(rng, n * per);
  const y = Int32Array.from({ length: n }, () => rng.int(model.outputSize));
  const times: number[] = [];
  let last = performance.now();
  await fit(model, {
    train: { x, y, n },
    steps: steps + warmup,
    batchSize: batch,
    workers,
    seed: 1,
    onStepEnd: (s) => {
      const now = performance.now();
      if (s > warmup) times.push((now - last) / 1000);
      last = now;
    },
  });
  return median(times);
}

async function forwardPerSecond(run: () => Promise<unknown> | unknown, n: number, reps: number) {
  await run();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push((performance.now() - t0) / 1000);
  }
  return n / median(times);
}

/** The pruning pipeline's "aux" head on cached cut features of shape h×w×c (as PruneSession trains it). */
function auxHead(h: number, w: number, c: number, classes: number): Graph {
  const g = createGraph(`aux head ${h}x${w}x${c}`);
  addTensor(g, { name: 'features', shape: [1, h, w, c], dtype: 'float32' });
  g.inputs = ['features'];
  const rng = new Rng(3);
  attachHead(g, 'features', parseHead('aux'), classes, rng);
  return g;
}

export async function bench(): Promise<BenchReport> {
  if (!existsSync(`${MODELS}vww_96_float.tflite`))
    return { title: 'engine (skipped: ../shared is absent)', rows: [] };
  await useBackend('wasm');
  const steps = Number(process.env.BENCH_STEPS ?? 5);
  const rows: BenchRow[] = [];
  // Depth pruning trains only the head on cached features: KWS block 2 (25x5x64, batch 100) and
  // VWW block 5 (12x12x64, batch 32).
  for (const [h, w, c, classes, batch] of [
    [25, 5, 64, 12, 100],
    [12, 12, 64, 2, 32],
  ] as const) {
    const m = new TfModel(auxHead(h, w, c, classes));
    const sec = await stepSeconds(m, batch, 1, Math.max(steps, 10));
    m.dispose();
    rows.push({
      name: `aux head on ${h}x${w}x${c} features, training, batch ${batch}, 1 worker (${(sec * 1000).toFixed(1)} ms/step)`,
      value: batch / sec,
      unit: 'examples/s',
    });
  }
  const specs = [
    {
      name: 'MobileNetV1-0.25',
      file: 'vww_96_float.tflite',
      batch: 32,
      train: 80,
      infer: 3000,
      anchors: [490, 3900],
    },
    {
      name: 'DS-CNN',
      file: 'kws_ref_model_float32.tflite',
      batch: 100,
      train: 400,
      infer: undefined,
      anchors: [2350, 16000],
    },
  ];
  for (const s of specs) {
    const g = await loadModel(`${MODELS}${s.file}`);
    for (const workers of [1, 2]) {
      const m = new TfModel(g);
      const sec = await stepSeconds(m, s.batch, workers, steps);
      m.dispose();
      rows.push({
        name: `${s.name} training, batch ${s.batch}, ${workers} worker${workers > 1 ? 's' : ''} (${(sec * 1000).toFixed(0)} ms/step)`,
        value: s.batch / sec,
        unit: 'examples/s',
        required: workers === 2 ? s.train : undefined,
        anchor: s.anchors[0],
      });
    }
    const m = new TfModel(g);
    const per = m.inputShape.reduce((a, b) => a * b, 1);
    const n = 256;
    const x = randomNormalArray(new Rng(2), n * per);
    rows.push({
      name: `${s.name} forward, tfjs-wasm, batch 64`,
      value: await forwardPerSecond(() => m.predict(x, n, { batchSize: 64 }), n, 3),
      unit: 'examples/s',
    });
    m.dispose();
    for (const threads of [1, 2]) {
      const r = await OnnxRunner.create(g, { threads, batchSize: 256 });
      rows.push({
        name: `${s.name} forward, onnxruntime, ${threads} thread${threads > 1 ? 's' : ''}, batch 256`,
        value: await forwardPerSecond(() => r.predict(x, n), n, 7),
        unit: 'examples/s',
        required: threads === 2 ? s.infer : undefined,
        anchor: s.anchors[1],
      });
      await r.dispose();
    }
  }
  return {
    title: 'float engine (tfjs-wasm training, onnxruntime inference)',
    rows,
    notes: [
      `Medians over ${steps} steps after 2 warm-up steps (BENCH_STEPS to change). Anchors: PyTorch 1.13, one thread, same machine.`,
      'The machine has 2 cores shared with other jobs: numbers move with its load.',
    ],
  };
}
