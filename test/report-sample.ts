// Realistic report data for the report tests: a MobileNetV1-0.25 VWW model (layer costs computed
// from its architecture), a depth-pruning sweep over its cut points with two heads, and a
// pruned model cut at block 5. Accuracies come from a seeded generator, counts are integers.
import { wilson } from '../src/report/stats.js';
import type { LayerCost, ModelSummary, ReportData, SweepRow } from '../src/report/types.js';

/** Deterministic PRNG (mulberry32) so the sample is the same every run. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** MobileNetV1 α=0.25 on 96x96x3 with unfolded BatchNorm: per-layer params and MACs. */
export function mobilenetLayers(blocks = 13): LayerCost[] {
  const layers: LayerCost[] = [];
  let hw = 48;
  let c = 8;
  layers.push({ name: 'conv1', kind: 'conv2d', params: 3 * 3 * 3 * 8, macs: hw * hw * 27 * 8 });
  layers.push({ name: 'conv1_bn', kind: 'batchNorm', params: 4 * 8, macs: 0 });
  layers.push({ name: 'conv1_relu', kind: 'relu', params: 0, macs: 0 });
  const plan: [number, number][] = [
    [16, 1],
    [32, 2],
    [32, 1],
    [64, 2],
    [64, 1],
    [128, 2],
    [128, 1],
    [128, 1],
    [128, 1],
    [128, 1],
    [128, 1],
    [256, 2],
    [256, 1],
  ];
  plan.slice(0, blocks).forEach(([out, stride], i) => {
    const b = `block_${i + 1}`;
    hw = stride === 2 ? hw / 2 : hw;
    layers.push({ name: `${b}_dw`, kind: 'depthwiseConv2d', params: 9 * c, macs: hw * hw * 9 * c });
    layers.push({ name: `${b}_dw_bn`, kind: 'batchNorm', params: 4 * c, macs: 0 });
    layers.push({ name: `${b}_dw_relu`, kind: 'relu', params: 0, macs: 0 });
    layers.push({ name: `${b}_pw`, kind: 'conv2d', params: c * out, macs: hw * hw * c * out });
    layers.push({ name: `${b}_pw_bn`, kind: 'batchNorm', params: 4 * out, macs: 0 });
    layers.push({ name: `${b}_pw_relu`, kind: 'relu', params: 0, macs: 0 });
    c = out;
  });
  return layers;
}

function withClassifier(layers: LayerCost[], classes: number): LayerCost[] {
  const c = 256;
  return [
    ...layers,
    { name: 'avg_pool', kind: 'averagePool2d', params: 0, macs: 0 },
    { name: 'dense', kind: 'fullyConnected', params: c * classes + classes, macs: c * classes },
    { name: 'softmax', kind: 'softmax', params: 0, macs: 0 },
  ];
}

/** The aux head ("dscnn32_16") at a cut with `c` channels on an hw x hw map. */
function auxHead(c: number, hw: number, classes: number): LayerCost[] {
  return [
    { name: 'aux_dw1', kind: 'depthwiseConv2d', params: 9 * c + c, macs: hw * hw * 9 * c },
    { name: 'aux_bn1', kind: 'batchNorm', params: 4 * c, macs: 0 },
    { name: 'aux_pw1', kind: 'conv2d', params: c * 32 + 32, macs: hw * hw * c * 32 },
    { name: 'aux_bn2', kind: 'batchNorm', params: 4 * 32, macs: 0 },
    { name: 'aux_dw2', kind: 'depthwiseConv2d', params: 9 * 32 + 32, macs: hw * hw * 9 * 32 },
    { name: 'aux_bn3', kind: 'batchNorm', params: 4 * 32, macs: 0 },
    { name: 'aux_pw2', kind: 'conv2d', params: 32 * 16 + 16, macs: hw * hw * 32 * 16 },
    { name: 'aux_bn4', kind: 'batchNorm', params: 4 * 16, macs: 0 },
    { name: 'aux_gap', kind: 'mean', params: 0, macs: 0 },
    {
      name: 'aux_dense',
      kind: 'fullyConnected',
      params: 16 * classes + classes,
      macs: 16 * classes,
    },
  ];
}

const sum = (ls: LayerCost[], k: 'params' | 'macs') => ls.reduce((s, l) => s + l[k], 0);

/** The paper's per-cut parameter counts (K) for VWW, conv1 then blocks 1..13. */
const PAPER_CUT_PARAMS_K = [
  1.9, 2.5, 4.2, 5.8, 10.1, 15.4, 28.1, 46.9, 65.7, 84.5, 103.3, 122.2, 163.9, 234.3,
];

export interface SampleOptions {
  seed?: number;
  /** Test-set size per row. */
  n?: number;
  withLatency?: boolean;
}

export function sampleSweep(opts: SampleOptions = {}): SweepRow[] {
  const rand = rng(opts.seed ?? 7);
  const n = opts.n ?? 1000;
  const unprunedLayers = withClassifier(mobilenetLayers(), 2);
  const unprunedCorrect = Math.round(0.857 * n);
  const base = wilson(unprunedCorrect, n);
  const ms = (macs: number) => (macs * 15.8) / 133e3;
  const rows: SweepRow[] = [
    {
      cut: 'full',
      head: 'original',
      variant: 'unpruned',
      params: sum(unprunedLayers, 'params'),
      macs: sum(unprunedLayers, 'macs'),
      peakActivationBytes: 55296,
      test: base,
      dropVsUnpruned: 0,
      ...(opts.withLatency ? { latencyMs: ms(sum(unprunedLayers, 'macs')) } : {}),
    },
  ];
  for (let b = 1; b <= 13; b++) {
    const tail = mobilenetLayers(b);
    const tailMacs = sum(tail, 'macs');
    for (const head of ['aux', 'dense']) {
      for (const variant of head === 'aux' && b % 4 === 1 ? ['frozen', 'finetune'] : ['frozen']) {
        // Accuracy rises with depth and saturates near the unpruned model's.
        const depth = b / 13;
        const p =
          0.6 +
          0.25 * (1 - Math.exp(-4 * depth)) +
          (head === 'aux' ? 0.02 : 0) +
          (variant === 'finetune' ? 0.015 : 0) +
          (rand() - 0.5) * 0.02;
        const correct = Math.round(Math.min(0.99, p) * n);
        const test = wilson(correct, n);
        const headParams =
          head === 'aux' ? Math.round(PAPER_CUT_PARAMS_K[b]! * 1000 - sum(tail, 'params')) : 0;
        const params =
          head === 'aux'
            ? sum(tail, 'params') + Math.max(headParams, 600)
            : sum(tail, 'params') + 64 * 65 + 32 * 65 + 66;
        const macs = tailMacs + (head === 'aux' ? 40000 + b * 3000 : 64 * 64 + 64 * 32 + 64);
        rows.push({
          cut: `block_${b}`,
          head,
          variant,
          params,
          macs,
          peakActivationBytes: 55296,
          test,
          val: wilson(Math.round(p * 400), 400),
          dropVsUnpruned: base.accuracy - test.accuracy,
          ...(opts.withLatency ? { latencyMs: ms(macs) } : {}),
        });
      }
    }
  }
  return rows;
}

function confusion(classes: string[], n: number, acc: number, seed: number) {
  const rand = rng(seed);
  const per = Math.floor(n / classes.length);
  const matrix = classes.map((_, i) => {
    const row = classes.map(() => 0);
    for (let k = 0; k < per; k++) {
      const right = rand() < acc;
      const j = right ? i : Math.floor(rand() * classes.length);
      row[j]! += 1;
    }
    return row;
  });
  return { classes, matrix };
}

export function sampleReport(opts: SampleOptions & { classes?: string[] } = {}): ReportData {
  const n = opts.n ?? 1000;
  const sweep = sampleSweep(opts);
  const classes = opts.classes ?? ['no person', 'person'];
  const unLayers = withClassifier(mobilenetLayers(), classes.length);
  const prLayers = [...mobilenetLayers(5), ...auxHead(64, 12, classes.length)];
  const totalCycles = (ls: LayerCost[]) => ls.reduce((s, l) => s + (l.cycles ?? 0), 0);
  const cyc = (ls: LayerCost[]) =>
    ls.map((l) => ({ ...l, cycles: Math.round(l.macs * 15.8 + l.params * 2) }));
  const unpruned: ModelSummary = {
    label: 'unpruned',
    params: sum(unLayers, 'params'),
    macs: sum(unLayers, 'macs'),
    peakActivationBytes: 55296,
    flashBytes: 336 * 1024,
    ramBytes: 100.7 * 1024,
    layers: cyc(unLayers),
    floatTest: wilson(Math.round(0.857 * n), n),
    int8Test: wilson(Math.round(0.851 * n), n),
    confusion: { ...confusion(classes, n, 0.85, 11), source: 'int8, test set' },
  };
  unpruned.cycles = totalCycles(unpruned.layers);
  unpruned.latencyMs = unpruned.cycles / 133e3;
  const pruned: ModelSummary = {
    label: 'pruned (block_5 + aux)',
    cut: 'block_5',
    head: 'aux',
    params: sum(prLayers, 'params'),
    macs: sum(prLayers, 'macs'),
    peakActivationBytes: 55296,
    flashBytes: 71 * 1024,
    ramBytes: 60.2 * 1024,
    layers: cyc(prLayers),
    floatTest: wilson(Math.round(0.81 * n), n),
    int8Test: wilson(Math.round(0.806 * n), n),
    confusion: { ...confusion(classes, n, 0.8, 12), source: 'int8, test set' },
  };
  pruned.cycles = totalCycles(pruned.layers);
  pruned.latencyMs = pruned.cycles / 133e3;
  return {
    title: 'tinyprune report: vww_96_float.tflite',
    createdAt: '2025-01-01T12:00:00.000Z',
    command:
      'tinyprune run ../shared/models/mlperf_tiny/vww_96_float.tflite --data vww --seed 42 --out "out dir"',
    settings: {
      seed: 42,
      model: 'vww_96_float.tflite',
      heads: ['aux', 'dense'],
      train: { optimizer: 'adam', batch: 32, steps: 3000, lr: [1e-3, 5e-4, 2.5e-4] },
      split: { train: 0.8, val: 0.2, seed: 42 },
    },
    target: { name: 'RP2040 (Cortex-M0+, emulated)', clockMHz: 133 },
    unpruned,
    pruned,
    sweep,
    paper: {
      source: 'De Leon & Atienza, "Depth Pruning with Auxiliary Networks for TinyML", ICASSP 2022',
      unpruned: {
        label: 'MobileNetV1 0.25',
        params: 221800,
        flashBytes: 336 * 1024,
        latencyMs: 904,
        int8Accuracy: 0.8,
      },
      pruned: {
        label: 'block 6 + aux',
        params: 15400,
        flashBytes: 71 * 1024,
        latencyMs: 551,
        int8Accuracy: 0.81,
      },
      notes: ['The paper measured latency on a real Pico4ML board (96x96 grayscale variant).'],
    },
    notes: ['Sample data <for tests> & "escaping" checks.'],
  };
}
