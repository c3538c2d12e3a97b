// Training speed: tinyprune's libtorch backend and its tfjs-wasm fallback against PyTorch itself
// (bench/anchors/train_anchor.py, run when a python3 with torch is installed), measured in one
// run, interleaved in rounds so that the machine's load hits all of them alike. Cases: the aux
// head on KWS block 2 (25x5x64, batch 100) and VWW block 5 (12x12x64, batch 32) features, and
// whole-model training of MobileNetV1-0.25 (batch 32) and DS-CNN (batch 100); 1 and 2 threads.
// Run: npm run bench train   (BENCH_ROUNDS, default 3; BENCH_STEPS scales the step counts;
// BENCH_CASES=KWS,VWW keeps the cases whose names contain a word)
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, randomNormalArray } from '../src/engine/init.js';
import { loadTorch, TorchModel } from '../src/engine/torch.js';
import { createTrainable, type Trainable } from '../src/engine/trainable.js';
import { fit } from '../src/engine/train.js';
import { addTensor, createGraph } from '../src/graph/graph.js';
import type { Graph } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { attachHead, parseHead } from '../src/prune/heads.js';
import type { BenchReport, BenchRow } from './run.js';

const MODELS = fileURLToPath(new URL('../../shared/models/mlperf_tiny/', import.meta.url));
const ANCHOR = fileURLToPath(new URL('./anchors/train_anchor.py', import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function auxHead(h: number, w: number, c: number, classes: number): Graph {
  const g = createGraph(`aux head ${h}x${w}x${c}`);
  addTensor(g, { name: 'features', shape: [1, h, w, c], dtype: 'float32' });
  g.inputs = ['features'];
  attachHead(g, 'features', parseHead('aux'), classes, new Rng(3));
  return g;
}

interface Case {
  name: string;
  graph: Graph;
  batch: number;
  steps: number;
}

/** Median examples/s over `steps` optimiser steps after 3 warm-up steps (fit's own loop). */
async function examplesPerSecond(m: Trainable, c: Case): Promise<number> {
  const per = m.inputShape.reduce((a, b) => a * b, 1);
  const warmup = 3;
  const n = c.batch * (c.steps + warmup);
  const rng = new Rng(1);
  const x = randomNormalArray(rng, n * per);
  const y = Int32Array.from({ length: n }, () => rng.int(m.outputSize));
  const times: number[] = [];
  let last = performance.now();
  await fit(m, {
    train: { x, y, n },
    steps: c.steps + warmup,
    batchSize: c.batch,
    seed: 1,
    onStepEnd: (s) => {
      const now = performance.now();
      if (s > warmup) times.push((now - last) / 1000);
      last = now;
    },
  });
  return c.batch / median(times);
}

/** A python3 that imports torch (Debian's python3-torch lives in /usr/bin/python3). */
function findPython(): string | undefined {
  for (const p of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return p;
  }
  return undefined;
}

/** The OpenMP wait settings the user gave (the addon's loader sets a short spin for tinyprune). */
const USER_WAIT = {
  OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY,
  GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT,
};

const THREADS = [1, 2];
const LAYOUTS = ['nchw', 'channels_last'] as const;

export async function bench(): Promise<BenchReport> {
  const torch = loadTorch();
  if (!torch.addon)
    return {
      title: `training backends (skipped: ${torch.error}; run npm run bootstrap)`,
      rows: [],
    };
  const scale = Number(process.env.BENCH_STEPS ?? 1);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const cases: Case[] = [
    {
      name: 'aux head, KWS block 2 (25x5x64)',
      graph: auxHead(25, 5, 64, 12),
      batch: 100,
      steps: 20,
    },
    {
      name: 'aux head, VWW block 5 (12x12x64)',
      graph: auxHead(12, 12, 64, 2),
      batch: 32,
      steps: 30,
    },
  ];
  if (existsSync(`${MODELS}vww_96_float.tflite`)) {
    const vww = await loadModel(`${MODELS}vww_96_float.tflite`);
    const kws = await loadModel(`${MODELS}kws_ref_model_float32.tflite`);
    cases.push(
      { name: 'MobileNetV1-0.25 (VWW), whole model', graph: vww, batch: 32, steps: 8 },
      { name: 'DS-CNN (KWS), whole model', graph: kws, batch: 100, steps: 8 },
    );
  }
  for (const c of cases) c.steps = Math.max(3, Math.round(c.steps * scale));
  const only = process.env.BENCH_CASES;
  const chosen = only
    ? cases.filter((c) => only.split(',').some((w) => c.name.includes(w)))
    : cases;
  const python = findPython();
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-bench-'));
  const results = new Map<string, number[]>();
  const add = (key: string, v: number) => results.set(key, [...(results.get(key) ?? []), v]);
  const notes: string[] = [];
  try {
    // One case at a time, PyTorch then tinyprune, so that both meet the same load.
    for (let r = 0; r < rounds; r++)
      for (const c of chosen) {
        if (python) {
          const job = join(dir, 'case.json');
          const m = new TorchModel(c.graph);
          // The anchor builds the same layers from the addon's own model description (shapes only).
          const spec = { ...m.spec, params: m.spec.params.map((p) => ({ ...p, data: undefined })) };
          m.dispose();
          const one = { name: c.name, spec, batch: c.batch, steps: c.steps, warmup: 3 };
          writeFileSync(
            job,
            JSON.stringify({ cases: [{ ...one, threads: THREADS, layouts: LAYOUTS }] }),
          );
          // PyTorch as users run it: the environment as given, not tinyprune's wait policy.
          const env = { ...process.env };
          for (const [k, v] of Object.entries(USER_WAIT))
            if (v === undefined) delete env[k];
            else env[k] = v;
          const out = spawnSync(python, [ANCHOR, job], { encoding: 'utf8', env });
          if (out.status !== 0)
            notes.push(`PyTorch anchor failed: ${out.stderr.trim().split('\n').pop()}`);
          for (const line of out.stdout.split('\n').filter(Boolean)) {
            const a = JSON.parse(line) as {
              name: string;
              threads: number;
              layout: string;
              examplesPerSecond: number;
            };
            add(`${a.name}|${a.threads}|${a.layout}`, a.examplesPerSecond);
          }
        }
        for (const threads of THREADS) {
          const m = await createTrainable(c.graph, { backend: 'torch', threads });
          add(`${c.name}|${threads}|torch`, await examplesPerSecond(m, c));
          m.dispose();
        }
        const w = await createTrainable(c.graph, { backend: 'wasm' });
        add(`${c.name}|1|wasm`, await examplesPerSecond(w, c));
        w.dispose();
      }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows: BenchRow[] = [];
  const get = (k: string) => (results.has(k) ? median(results.get(k)!) : undefined);
  for (const c of chosen)
    for (const threads of THREADS) {
      const at = `${c.name}, batch ${c.batch}, ${threads} thread${threads > 1 ? 's' : ''}`;
      const t = get(`${c.name}|${threads}|torch`)!;
      const eager = get(`${c.name}|${threads}|nchw`);
      const cl = get(`${c.name}|${threads}|channels_last`);
      const wasm = threads === 1 ? get(`${c.name}|1|wasm`) : undefined;
      rows.push({
        name: `${at}: tinyprune torch`,
        value: t,
        unit: 'examples/s',
        anchor: eager && Math.round(eager),
      });
      if (wasm !== undefined)
        rows.push({ name: `${at}: tinyprune wasm`, value: wasm, unit: 'examples/s' });
      if (eager !== undefined)
        rows.push({ name: `${at}: PyTorch eager NCHW`, value: eager, unit: 'examples/s' });
      if (cl !== undefined)
        rows.push({ name: `${at}: PyTorch channels_last`, value: cl, unit: 'examples/s' });
      if (eager !== undefined) {
        rows.push({
          name: `${at}: ratio torch / PyTorch eager`,
          value: t / eager,
          unit: '×',
          required: 1,
        });
        if (cl !== undefined)
          rows.push({
            name: `${at}: ratio torch / PyTorch channels_last`,
            value: t / cl,
            unit: '×',
          });
        if (wasm !== undefined)
          rows.push({ name: `${at}: ratio wasm / PyTorch eager`, value: wasm / eager, unit: '×' });
      }
    }
  notes.push(
    `Medians over ${rounds} rounds (BENCH_ROUNDS), each the median step of a run after 3 warm-up steps; tinyprune, its wasm fallback and PyTorch ${python ? '(' + python + ')' : '(not found: no ratios)'} interleaved per round on the same machine. libtorch ${torch.addon.version}; OpenMP wait for tinyprune: OMP_WAIT_POLICY ${process.env.OMP_WAIT_POLICY ?? 'unset'}, GOMP_SPINCOUNT ${process.env.GOMP_SPINCOUNT ?? 'unset'}; for PyTorch: ${USER_WAIT.OMP_WAIT_POLICY ?? 'unset'}, ${USER_WAIT.GOMP_SPINCOUNT ?? 'unset'} (as given).`,
    'The anchor trains the same layers and shapes (random values) with torch.optim.Adam and F.cross_entropy; "eager NCHW" is PyTorch as usually written, channels_last its faster layout.',
  );
  return { title: 'training: libtorch backend vs tfjs-wasm vs PyTorch', rows, notes };
}
