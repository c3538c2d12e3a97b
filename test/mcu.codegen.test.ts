// Code generation without ../shared: a small hand-built int8 graph with every kernel family
// (patch-gather conv, depthwise with padding and stride, pointwise GEMM, pools, mean, FC,
// softmax) runs on the emulated Cortex-M0+ bit-exactly with the int8 interpreter; and the fast
// requantisation formulas equal TFLite's MultiplyByQuantizedMultiplier exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addTensor, createGraph } from '../src/graph/graph.js';
import { inferShapes } from '../src/graph/shapes.js';
import type { Activation, Graph, OpAttrs, OpKind, Tensor } from '../src/graph/types.js';
import { deploy } from '../src/mcu/deploy.js';
import { fastRequantRef, planRequant } from '../src/mcu/requant.js';
import { multiplyByQuantizedMultiplier } from '../src/quant/fixedpoint.js';
import { prepareInt8 } from '../src/quant/interpreter.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A seeded chain of int8 ops; each layer's output scale is chosen by the caller. */
function buildGraph(seed: number): Graph {
  const r = rng(seed);
  const g = createGraph('mcu-codegen-fixture');
  const int8s = (n: number, lim = 127) =>
    Int8Array.from({ length: n }, () => Math.round((r() * 2 - 1) * lim));
  let cur = 'x';
  addTensor(g, {
    name: 'x',
    shape: [1, 14, 9, 3],
    dtype: 'int8',
    quant: { scale: [0.02], zeroPoint: [5] },
  });
  let n = 0;
  const add = (
    kind: OpKind,
    attrs: OpAttrs,
    out: { scale: number; zp: number },
    consts: Tensor[] = [],
  ) => {
    const name = `t${n++}`;
    for (const c of consts) addTensor(g, c);
    addTensor(g, {
      name,
      shape: [],
      dtype: 'int8',
      quant: { scale: [out.scale], zeroPoint: [out.zp] },
    });
    g.ops.push({
      kind,
      name: `${kind}${n}`,
      inputs: [cur, ...consts.map((c) => c.name)],
      outputs: [name],
      attrs,
    });
    cur = name;
  };
  const weights = (shape: number[], outC: number, axis: number): Tensor => ({
    name: `w${n}`,
    shape,
    dtype: 'int8',
    data: int8s(shape.reduce((a, b) => a * b, 1)),
    quant: {
      scale: Array.from({ length: outC }, () => 0.002 + 0.01 * r()),
      zeroPoint: new Array(outC).fill(0),
      axis,
    },
  });
  const bias = (outC: number, lim: number): Tensor => ({
    name: `b${n}`,
    shape: [outC],
    dtype: 'int32',
    data: Int32Array.from({ length: outC }, () => Math.round((r() * 2 - 1) * lim)),
  });
  const conv = (
    kind: 'conv2d' | 'depthwiseConv2d',
    k: number,
    inC: number,
    outC: number,
    stride: number,
    padding: 'same' | 'valid',
    activation: Activation,
    out: { scale: number; zp: number },
  ) =>
    add(kind, { strides: [stride, stride], padding, activation, depthMultiplier: 1 }, out, [
      kind === 'conv2d' ? weights([outC, k, k, inC], outC, 0) : weights([1, k, k, outC], outC, 3),
      bias(outC, 3000),
    ]);
  // 3x3 stride-2 conv (two patches per pass, K = 27 padded to 28), ReLU: [1, 7, 5, 8]
  conv('conv2d', 3, 3, 8, 2, 'same', 'relu', { scale: 0.05, zp: -128 });
  // depthwise 3x3 same, ReLU6 (borders via the padding row): [1, 7, 5, 8]
  conv('depthwiseConv2d', 3, 8, 8, 1, 'same', 'relu6', { scale: 0.03, zp: -128 });
  // pointwise 8 -> 20 with a small output scale (large accumulators: 4-multiply requant); 35
  // pixels, so the last runs as its own pair
  conv('conv2d', 1, 8, 20, 1, 'same', 'relu', { scale: 0.4, zp: -128 });
  // pointwise 20 -> 12 (K = 16 + 4: the kernel's last entry point) where some channels' multipliers exceed 1 (the general routine for those,
  // so the two-pixel kernel hands its accumulators back instead of requantising them)
  add(
    'conv2d',
    { strides: [1, 1], padding: 'same', activation: 'relu' },
    { scale: 0.4, zp: -128 },
    [
      {
        ...weights([12, 1, 1, 20], 12, 0),
        quant: {
          scale: Array.from({ length: 12 }, (_, c) => (c % 5 === 2 ? 1.5 : 0.004 + 0.004 * r())),
          zeroPoint: new Array(12).fill(0),
          axis: 0,
        },
      },
      bias(12, 3000),
    ],
  );
  // 2x2 average pool: [1, 3, 2, 12]
  add(
    'averagePool2d',
    { poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
    { scale: 0.4, zp: -128 },
  );
  // depthwise stride 2 without activation (general requant): [1, 2, 1, 12]
  conv('depthwiseConv2d', 3, 12, 12, 2, 'same', 'none', { scale: 0.2, zp: 3 });
  // 5x? conv with outC not a multiple of 4 (the generic loop): [1, 2, 1, 6]
  conv('conv2d', 3, 12, 6, 1, 'same', 'relu', { scale: 0.1, zp: -100 });
  add(
    'maxPool2d',
    { poolSize: [2, 1], strides: [1, 1], padding: 'valid' },
    { scale: 0.1, zp: -100 },
  );
  add('mean', { axes: [1, 2], keepDims: false }, { scale: 0.08, zp: -90 });
  // FC 6 -> 8 (GEMM path), then FC 8 -> 5 (generic), softmax
  add('fullyConnected', { activation: 'relu' }, { scale: 0.05, zp: -128 }, [
    weights([8, 6], 8, 0),
    bias(8, 2000),
  ]);
  add('fullyConnected', { activation: 'none' }, { scale: 0.1, zp: 10 }, [
    weights([5, 8], 5, 0),
    bias(5, 2000),
  ]);
  add('softmax', { beta: 1 }, { scale: 1 / 256, zp: -128 });
  g.inputs = ['x'];
  g.outputs = [cur];
  inferShapes(g);
  return g;
}

test('a hand-built int8 graph runs bit-exactly on the emulated Cortex-M0+', async () => {
  const g = buildGraph(7);
  const r = rng(99);
  const inputs = Array.from({ length: 4 }, () =>
    Int8Array.from({ length: 14 * 9 * 3 }, () => Math.floor(r() * 256) - 128),
  );
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-mcu-cg-'));
  try {
    const rep = await deploy(g, { target: 'rp2040', outDir: dir, inputs });
    // The 20 -> 12 pointwise layer mixes fast and general channels (the accumulator hand-back),
    // the 8 -> 20 one requantises inside the two-pixel kernel.
    const modelC = readFileSync(join(dir, 'src', 'model.c'), 'utf8');
    assert.match(modelC, /tp_layer3_L = \{[^}]*\.rqrow = [^}]*\.nslow = [1-9]/);
    assert.match(modelC, /tp_layer2_L = \{[^}]*\.rqrow = (?![^}]*nslow)/);
    const prep = prepareInt8(g);
    inputs.forEach((x, k) => assert.deepEqual(rep.outputs[k], Array.from(prep.run([x])[0]!)));
    assert.deepEqual(rep.bitExact, { inputs: 4, mismatches: 0 });
    // The fixture covers each requantisation routine and each kernel family.
    const paths = new Set(rep.layers.map((l) => l.requant).filter(Boolean));
    assert.deepEqual([...paths].sort(), ['general', 'mul2', 'mul4']);
    assert.deepEqual(
      rep.layers.map((l) => l.kind),
      g.ops.map((o) => o.kind),
    );
    // The chooser's pick per layer, from its geometry (recorded in deploy.json).
    assert.deepEqual(
      rep.layers.map((l) => l.kernel),
      [
        'gemm-patch-2px',
        'depthwise-4ch',
        'gemm-direct-2px',
        'gemm-direct-2px',
        'avgpool-loop',
        'depthwise-4ch',
        'loop',
        'maxpool-loop',
        'mean-loop',
        'gemm-direct',
        'loop',
        'softmax-gemmlowp',
      ],
    );
    assert.ok(
      rep.layers.every((l) => l.cycles > 0 && (l.macs === 0) === (l.cyclesPerMac === null)),
    );
    // Softmax outputs sum to about 256 (offset-binary probabilities of 1/256).
    const sum = rep.outputs[0]!.reduce((s, v) => s + v + 128, 0);
    assert.ok(Math.abs(sum - 256) <= 5, `softmax sum ${sum}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fast ReLU requantisation equals MultiplyByQuantizedMultiplier on seeded cases', () => {
  const r = rng(3);
  const seen = new Set<string>();
  let checked = 0;
  for (let trial = 0; trial < 400; trial++) {
    // Multipliers from 2^-24 to 1, and now and then above 1 (the general routine).
    const big = r() < 0.1;
    const scales = Array.from({ length: 3 }, () =>
      big ? 1 + 2 * r() : 2 ** (-(r() * 23) - 1) * (1 + r()),
    );
    const zp = Math.floor(r() * 60) - 128;
    const hi = r() < 0.5 ? 127 : Math.min(127, zp + 1 + Math.floor(r() * 200));
    const bound = Math.floor(2 ** (r() * 30));
    // Mostly accumulators around 0; sometimes a narrow range far from it (a large bias and tiny
    // weights), where only a few steps of the staircase are reachable.
    const low = r() < 0.25 ? bound - Math.floor(2 ** (r() * 20)) : -bound;
    const plan = planRequant(
      scales,
      zp,
      zp,
      hi,
      scales.map(() => low),
      scales.map(() => bound),
    );
    seen.add(plan.path);
    if (plan.path === 'general') continue;
    // Every value up to the saturation threshold (every step of the staircase) in a quarter of
    // the small-bound trials; elsewhere around 0, around the threshold and anywhere in range.
    const exhaustive = bound < 40_000 && low < 0 && trial % 4 === 0;
    for (let c = 0; c < 3; c++)
      for (let k = 0; k < (exhaustive ? Math.min(bound, plan.table[3 * c + 2]!) + 20 : 120); k++) {
        const x = exhaustive
          ? k - 10
          : k < 20
            ? k - 10
            : k < 60
              ? plan.table[3 * c + 2]! - 40 + k
              : low + Math.floor(r() * (bound - low + 1));
        if (x < low || x > bound) continue;
        const want = Math.min(
          hi,
          Math.max(zp, multiplyByQuantizedMultiplier(x, plan.mult[c]!, plan.shift[c]!) + zp),
        );
        assert.equal(fastRequantRef(x, plan, c, zp, zp, hi), want, `x=${x} c=${c} ${plan.path}`);
        checked++;
      }
  }
  assert.deepEqual([...seen].sort(), ['general', 'mul2', 'mul4']);
  assert.ok(checked > 50_000, `${checked} values checked`);
});
