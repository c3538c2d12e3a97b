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
import {
  chooseConvKernel,
  linePlan,
  packedStride2,
  type ConvGeometry,
} from '../src/mcu/emitters/conv.js';
import { reciprocal } from '../src/mcu/emitters/simple.js';
import {
  fastRequantRef,
  oneMulRef,
  oneMulShiftRef,
  planOneMul,
  planOneMulShift,
  planRequant,
} from '../src/mcu/requant.js';
import { multiplyByQuantizedMultiplier, quantizeMultiplier } from '../src/quant/fixedpoint.js';
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
    shape: [1, 26, 9, 3],
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
  // 3x3 stride-2 conv (two patches per pass, K = 27 padded to 28), ReLU: [1, 13, 5, 8]
  conv('conv2d', 3, 3, 8, 2, 'same', 'relu', { scale: 0.05, zp: -128 });
  // depthwise 3x3 same, ReLU6: [1, 13, 5, 8]; speed: the line kernel down the 13 rows (the
  // padded plane's border), size: the tap kernel (borders via the padding row)
  conv('depthwiseConv2d', 3, 8, 8, 1, 'same', 'relu6', { scale: 0.03, zp: -128 });
  // pointwise 8 -> 20 with a small output scale (large accumulators: 4-multiply requant); 65
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
  // 2x2 average pool: [1, 6, 2, 12]
  add(
    'averagePool2d',
    { poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
    { scale: 0.4, zp: -128 },
  );
  // depthwise stride 2 without activation (general requant): [1, 3, 1, 12]
  conv('depthwiseConv2d', 3, 12, 12, 2, 'same', 'none', { scale: 0.2, zp: 3 });
  // 3x3 conv with outC not a multiple of 4 (the generic loop): [1, 3, 1, 10]
  conv('conv2d', 3, 12, 10, 1, 'same', 'relu', { scale: 0.1, zp: -100 });
  add(
    'maxPool2d',
    { poolSize: [2, 1], strides: [1, 1], padding: 'valid' },
    { scale: 0.1, zp: -100 },
  );
  add('mean', { axes: [1, 2], keepDims: false }, { scale: 0.08, zp: -90 });
  // FC 10 -> 8 (the packed GEMM, K = 10 entering its 4-step body at the last step), then
  // FC 8 -> 5 (generic), softmax
  add('fullyConnected', { activation: 'relu' }, { scale: 0.05, zp: -128 }, [
    weights([8, 10], 8, 0),
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
    Int8Array.from({ length: 26 * 9 * 3 }, () => Math.floor(r() * 256) - 128),
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
        'gemm-patch-8p',
        'depthwise-3x3-line',
        'gemm-direct-2px',
        'gemm-direct-2px',
        'avgpool-loop',
        'depthwise-4ch',
        'loop',
        'maxpool-loop',
        'mean-loop',
        'gemm-direct-8p',
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
    // auto on the RP2040: the tiny image fits, so the two-pixel kernels run.
    assert.equal(rep.kernels.mode, 'speed');
    assert.equal(rep.kernels.requested, 'auto');
    assert.equal(rep.kernels.flashBytes, rep.flashBytes);
    // Size mode: the int8-weight kernels, the same outputs bit for bit, int8 weight arrays
    // (int16 with K padded to 4 in speed mode, int8 with K padded to 2 here), more cycles.
    const weightBytes = (c: string) =>
      [...c.matchAll(/TP_CONST int(8|16|32)_t tp_layer(\d+)_wi\[(\d+)\]/g)].map(
        (m) => `${m[2]}:${(Number(m[3]) * Number(m[1])) / 8}`,
      );
    const speedWeights = weightBytes(modelC);
    const size = await deploy(g, { target: 'rp2040', outDir: dir, inputs, kernels: 'size' });
    assert.deepEqual(size.kernels, {
      mode: 'size',
      requested: 'size',
      reason: `size: as requested; flash ${(size.flashBytes / 1024).toFixed(1)} KB`,
      flashBytes: size.flashBytes,
    });
    assert.deepEqual(size.bitExact, { inputs: 4, mismatches: 0 });
    assert.deepEqual(size.outputs, rep.outputs);
    assert.deepEqual(
      size.layers.map((l) => l.kernel),
      rep.layers.map((l) =>
        l.kernel.replace(/-(2px|8p)$/, '').replace('depthwise-3x3-line', 'depthwise-4ch'),
      ),
    );
    const sizeC = readFileSync(join(dir, 'src', 'model.c'), 'utf8');
    assert.doesNotMatch(sizeC, /TP_CONST int16_t/);
    // Layers 0 (K = 27, 8 channels), 2 (K = 8, 20) and 3 (K = 20, 12); layer 1's weights sit in
    // the line kernel's channel blocks in speed mode; the others unchanged.
    assert.deepEqual(speedWeights, ['0:448', '2:320', '3:480', '5:108', '9:160']);
    assert.deepEqual(weightBytes(sizeC), ['0:224', '1:72', '2:160', '3:240', '5:108', '9:80']);
    assert.ok(size.constBytes < rep.constBytes, `${size.constBytes} vs ${rep.constBytes}`);
    // (Not the flash total here: on a model this small GCC inlines the one-pixel drivers and the
    // code grows more than the 548 B of weights shrink; KWS and VWW are 21 KB / 193 KB smaller.)
    assert.ok(size.cycles > rep.cycles);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A 1x1-conv chain over 2x2 pixels of `c` channels: c·c weight bytes per layer. */
function wideGraph(layers: number, c: number): Graph {
  const r = rng(5);
  const g = createGraph('mcu-wide-fixture');
  addTensor(g, {
    name: 'x',
    shape: [1, 2, 2, c],
    dtype: 'int8',
    quant: { scale: [0.02], zeroPoint: [0] },
  });
  let cur = 'x';
  for (let i = 0; i < layers; i++) {
    addTensor(g, {
      name: `w${i}`,
      shape: [c, 1, 1, c],
      dtype: 'int8',
      data: Int8Array.from({ length: c * c }, () => Math.round((r() * 2 - 1) * 127)),
      quant: { scale: new Array(c).fill(0.0005), zeroPoint: new Array(c).fill(0), axis: 0 },
    });
    addTensor(g, {
      name: `y${i}`,
      shape: [],
      dtype: 'int8',
      quant: { scale: [0.05], zeroPoint: [-128] },
    });
    g.ops.push({
      kind: 'conv2d',
      name: `pw${i}`,
      inputs: [cur, `w${i}`],
      outputs: [`y${i}`],
      attrs: { strides: [1, 1], padding: 'same', activation: 'relu' },
    });
    cur = `y${i}`;
  }
  g.inputs = ['x'];
  g.outputs = [cur];
  inferShapes(g);
  return g;
}

test('kernels auto falls back to int8 weights where the int16 copies do not fit: flash (cortex-m0), SRAM (rp2040)', async () => {
  // 3 x 64 KB of int8 weights: 192 KB fits the Cortex-M0's 256 KB flash and, beside the arena
  // and stack, the RP2040's 256 KB SRAM; the 384 KB of int16 copies fit neither.
  const g = wideGraph(3, 256);
  const x = Int8Array.from({ length: 4 * 256 }, (_, i) => ((i * 37) % 256) - 128);
  const want = Array.from(prepareInt8(g).run([x])[0]!);
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-mcu-wide-'));
  try {
    const m0 = await deploy(g, { target: 'cortex-m0', outDir: dir, inputs: [x] });
    assert.equal(m0.kernels.mode, 'size');
    assert.match(
      m0.kernels.reason,
      /^auto → size: the speed image \(\d+\.\d KB\) exceeds cortex-m0's 256\.0 KB flash; flash \d+\.\d KB$/,
    );
    assert.ok(m0.flashBytes <= 256 * 1024 && m0.flashBytes > 192 * 1024);
    assert.equal(m0.weights.in, 'flash');
    assert.ok(m0.layers.every((l) => l.kernel === 'gemm-direct'));
    assert.deepEqual(m0.outputs, [want]);
    const rp = await deploy(g, { target: 'rp2040', outDir: dir, inputs: [x] });
    assert.equal(rp.kernels.mode, 'size');
    assert.match(
      rp.kernels.reason,
      /^auto → size: speed's constants \(\d+\.\d KB\) do not fit the 256\.0 KB SRAM .*; size's \(\d+\.\d KB\) do;/,
    );
    assert.equal(rp.weights.in, 'sram');
    assert.deepEqual(rp.outputs, [want]);
    // Constants kept in flash: auto keeps them int8 (flash reads are what the emulated cycles
    // leave out); asking for speed there takes the int16 copies and fewer emulated cycles.
    const rpFlash = await deploy(g, {
      target: 'rp2040',
      outDir: dir,
      inputs: [x],
      weightsIn: 'flash',
    });
    assert.equal(rpFlash.kernels.mode, 'size');
    assert.match(rpFlash.kernels.reason, /^auto → size: weights stay in flash/);
    const rpSpeed = await deploy(g, {
      target: 'rp2040',
      outDir: dir,
      inputs: [x],
      weightsIn: 'flash',
      kernels: 'speed',
    });
    assert.ok(rpSpeed.layers.every((l) => l.kernel === 'gemm-direct-8p'));
    assert.ok(rpSpeed.flashBytes > 384 * 1024);
    assert.ok(rpSpeed.flashBytes > rpFlash.flashBytes);
    assert.deepEqual(rpSpeed.outputs, [want]);
    assert.deepEqual(rpFlash.outputs, [want]);
    assert.ok(rpSpeed.cycles < rpFlash.cycles);
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

/**
 * Checks `got(x)` against TFLite's requantisation of the channel (clamped to zp..hi) on its
 * accumulators in low..bound: every one when fewer than `allBelow`, else `samples` of them —
 * around 0, around the clamp threshold t and anywhere in range. Returns how many were checked.
 */
function checkRequant(
  got: (x: number) => number,
  ch: { scale: number; zp: number; hi: number; low: number; bound: number; t: number },
  o: { allBelow: number; samples: number },
  r: () => number,
): number {
  const { scale, zp, hi, low, bound, t } = ch;
  const { multiplier, shift } = quantizeMultiplier(scale);
  const all = bound < o.allBelow;
  let checked = 0;
  for (let k = 0; k < (all ? bound - low + 1 : o.samples); k++) {
    const x: number = all
      ? low + k
      : k < 40
        ? k - 20
        : k < 100
          ? t - 30 + k - 40
          : low + Math.floor(r() * (bound - low + 1));
    if (x < low || x > bound) continue;
    const want = Math.min(
      hi,
      Math.max(zp, multiplyByQuantizedMultiplier(x, multiplier, shift) + zp),
    );
    assert.equal(got(x), want, `x=${x} scale=${scale}`);
    checked++;
  }
  return checked;
}

/**
 * A random ReLU-family layer of four channels for the requantisation planners: scales, output
 * zero point, upper clamp, and accumulators bounded by ±bound (bound < 2^boundBits).
 */
function randomReluLayer(r: () => number, boundBits: number) {
  const scales = Array.from({ length: 4 }, () => 2 ** (-(r() * 20) - 2) * (1 + r()));
  const zp = Math.floor(r() * 60) - 128;
  const hi = r() < 0.5 ? 127 : Math.min(127, zp + 1 + Math.floor(r() * 200));
  const bound = Math.floor(2 ** (r() * boundBits));
  return { scales, zp, hi, bound, low: -bound };
}

test('single-multiply requantisation (the depthwise line kernel) equals MultiplyByQuantizedMultiplier where it is planned', () => {
  const r = rng(11);
  let fitted = 0;
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const { scales, zp, hi, bound, low } = randomReluLayer(r, 22);
    const plan = planOneMul(
      scales,
      zp,
      zp,
      hi,
      scales.map(() => low),
      scales.map(() => bound),
    );
    // Not a ReLU-family clamp: no single-multiply form is planned.
    assert.ok(planOneMul(scales, zp, zp - 1, hi, [low], [bound]).every((e) => !e));
    plan.forEach((e, c) => {
      if (!e) return;
      fitted++;
      assert.ok(e.n <= 24);
      const ch = { scale: scales[c]!, zp, hi, low, bound, t: e.t };
      checked += checkRequant(
        (x) => oneMulRef(x, e, zp, hi),
        ch,
        { allBelow: 20_000, samples: 300 },
        r,
      );
    });
  }
  assert.ok(fitted > 100, `${fitted} channels fitted`);
  assert.ok(checked > 100_000, `${checked} values checked`);
});

test('single-multiply-and-shift requantisation (line kernel, accumulators without the bias) equals MultiplyByQuantizedMultiplier where it is planned', () => {
  const r = rng(12);
  let fitted = 0;
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const { scales, zp, hi, bound, low } = randomReluLayer(r, 19);
    const bias = scales.map(() => Math.floor((r() - 0.5) * 2 * bound));
    const args = [scales, zp, zp, hi, scales.map(() => low), scales.map(() => bound)] as const;
    const plan = planOneMulShift(...args, bias);
    const one = planOneMul(...args);
    assert.ok(planOneMulShift(scales, zp, zp - 1, hi, [low], [bound], [0]).every((e) => !e));
    plan.forEach((e, c) => {
      if (!e) return;
      if (!one[c]) fitted++;
      assert.ok(e.k >= 1 && e.k <= 16 && e.m >= 1 && e.m < 2 ** 24);
      const ch = { scale: scales[c]!, zp, hi, low, bound, t: e.t };
      const got = (x: number) => oneMulShiftRef(x, e, bias[c]!, zp, hi);
      checked += checkRequant(got, ch, { allBelow: 40_000, samples: 2000 }, r);
    });
  }
  // It covers channels the plain single-multiply form does not.
  assert.ok(fitted > 20, `${fitted} channels fitted beyond planOneMul`);
  assert.ok(checked > 100_000, `${checked} values checked`);
});

test("the packed stride-2 sweep: both halves of one 32-bit sum are the two outputs' exact sums, wherever the channel qualifies", () => {
  // What the kernel computes at an even position (uint32 arithmetic): D = Σ u_a·P_a + k, with
  // P_a = w_a2·2^16 + w_a0; LSRS 16 must give H + offH and UXTH L + offL, for every byte value.
  const r = rng(3);
  let packed = 0;
  for (let c = 0; c < 400; c++) {
    // wide weights (often too large together) and small ones, and the int8 extremes
    const scale = c % 3 === 0 ? 40 : 127;
    const wq = Array.from({ length: 9 }, () => Math.round((r() * 2 - 1) * scale));
    if (c === 1) wq.splice(0, 9, -127, 0, -127, -2, 0, 127, 0, 0, -3);
    const pk = packedStride2(wq);
    const rows = [0, 3, 6];
    const span = (along: number) => rows.reduce((t, a) => t + Math.abs(wq[a + along]!), 0);
    assert.equal(
      pk !== undefined,
      255 * span(0) < 0xffff && 255 * span(2) <= 0xffff,
      `channel ${c}`,
    );
    if (!pk) continue;
    packed++;
    assert.ok(pk.k > 0 && pk.k < 2 ** 32);
    const offL = pk.k % 65536;
    const offH = Math.floor(pk.k / 65536);
    assert.equal(pk.offset, offL + offH);
    const P = rows.map((a) => wq[a + 2]! * 65536 + wq[a]!);
    // every corner of the byte cube (the sums' extremes) and random bytes
    const cases = [
      ...Array.from({ length: 8 }, (_, m) => rows.map((_, i) => ((m >> i) & 1) * 255)),
      ...Array.from({ length: 50 }, () => rows.map(() => Math.floor(r() * 256))),
    ];
    for (const u of cases) {
      let d: number = pk.k;
      u.forEach((b, i) => (d = (d + Math.imul(b, P[i]!)) >>> 0));
      const L = u.reduce((t, b, i) => t + b * wq[rows[i]!]!, 0);
      const H = u.reduce((t, b, i) => t + b * wq[rows[i]! + 2]!, 0);
      assert.equal(d & 0xffff, L + offL, `channel ${c}, bytes ${u}`);
      assert.equal(d >>> 16, H + offH, `channel ${c}, bytes ${u}`);
    }
  }
  // both kinds occur, so the kernels test below runs both sweeps
  assert.ok(packed > 50 && packed < 400, `${packed} of 400 packed`);
});

test("average pooling's division by the window (a multiply and a shift) equals floor division", () => {
  // VWW's 3x3 and KWS's 25x5 windows, the test graph's 2x2, and others up to 200 taps
  for (let d = 1; d <= 200; d++) {
    const aMax = 128 * d + (d >> 1);
    const rs = reciprocal(d, aMax);
    assert.ok(rs, `a reciprocal for ${d}`);
    for (let a = 0; a <= aMax; a += 1 + (a % 7))
      assert.equal(Math.floor((a * rs.r) / 2 ** rs.s), Math.floor(a / d), `${a} / ${d}`);
    assert.ok(aMax * rs.r < 2 ** 32);
  }
});

test('the kernel chooser: packed GEMM only without -128 weights, the depthwise line kernel only when allowed', () => {
  const pw: ConvGeometry = {
    kind: 'conv2d',
    kH: 1,
    kW: 1,
    sH: 1,
    sW: 1,
    outC: 16,
    mult: 1,
    perOut: 8,
    rows: 100,
    twoPixel: true,
    packable: true,
  };
  assert.equal(chooseConvKernel(pw), 'gemm-direct-8p');
  assert.equal(chooseConvKernel({ ...pw, packable: false }), 'gemm-direct-2px');
  assert.equal(chooseConvKernel({ ...pw, outC: 12 }), 'gemm-direct-2px');
  assert.equal(chooseConvKernel({ ...pw, twoPixel: false }), 'gemm-direct');
  assert.equal(chooseConvKernel({ ...pw, kH: 3, kW: 3, perOut: 72 }), 'gemm-patch-8p');
  const dw: ConvGeometry = { ...pw, kind: 'depthwiseConv2d', kH: 3, kW: 3, perOut: 9, line: true };
  assert.equal(chooseConvKernel(dw), 'depthwise-3x3-line');
  assert.equal(chooseConvKernel({ ...dw, twoPixel: false }), 'depthwise-4ch');
  assert.equal(chooseConvKernel({ ...dw, line: false }), 'depthwise-4ch');
  assert.equal(chooseConvKernel({ ...dw, sH: 2, sW: 2 }), 'depthwise-3x3-line-s2');
  assert.equal(chooseConvKernel({ ...dw, sH: 2, sW: 2, line: false }), 'depthwise-4ch');
  // a tiny plane: the unrolled kernel, in speed mode only
  assert.equal(chooseConvKernel({ ...dw, line: false, small: true }), 'depthwise-3x3-small');
  assert.equal(chooseConvKernel({ ...dw, sH: 2, sW: 2, small: true }), 'depthwise-3x3-small');
  assert.equal(chooseConvKernel({ ...dw, small: true, twoPixel: false }), 'depthwise-4ch');
  // Lines run along the longer side; a sweep walks n + 2 positions (stride 2: 2n + 1, over
  // 2·lines + 1 input rows).
  assert.deepEqual(linePlan(25, 5), { alongX: false, n: 25, lines: 5, X: 7, span: 7 * 27 });
  assert.deepEqual(linePlan(48, 48), { alongX: true, n: 48, lines: 48, X: 50, span: 50 * 50 });
  assert.deepEqual(linePlan(24, 24, 2), { alongX: true, n: 24, lines: 24, X: 49, span: 49 * 49 });
  assert.deepEqual(linePlan(7, 5, 2), { alongX: false, n: 7, lines: 5, X: 11, span: 11 * 15 });
});

/**
 * A seeded chain of depthwise 3x3 (ReLU6) and pointwise layers over an int8 input, with
 * scales that give every channel the fast requantisation (so the line kernels may run).
 */
function depthwiseChain(
  seed: number,
  input: [number, number, number, number],
  steps: ({ dw: 1 | 2; padding: 'same' | 'valid' } | { pw: number })[],
): Graph {
  const r = rng(seed);
  const g = createGraph('mcu-dw-fixture');
  addTensor(g, {
    name: 'x',
    shape: input,
    dtype: 'int8',
    quant: { scale: [0.02], zeroPoint: [-7] },
  });
  let cur = 'x';
  let c = input[3];
  steps.forEach((st, i) => {
    const outC = 'pw' in st ? st.pw : c;
    const shape = 'pw' in st ? [outC, 1, 1, c] : [1, 3, 3, c];
    addTensor(g, {
      name: `w${i}`,
      shape,
      dtype: 'int8',
      data: Int8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () =>
        Math.round((r() * 2 - 1) * 127),
      ),
      quant: {
        scale: Array.from({ length: outC }, () => 0.002 + 0.01 * r()),
        zeroPoint: new Array(outC).fill(0),
        axis: 'pw' in st ? 0 : 3,
      },
    });
    addTensor(g, {
      name: `b${i}`,
      shape: [outC],
      dtype: 'int32',
      data: Int32Array.from({ length: outC }, () => Math.round((r() * 2 - 1) * 3000)),
    });
    addTensor(g, {
      name: `y${i}`,
      shape: [],
      dtype: 'int8',
      quant: { scale: [0.03], zeroPoint: [-128] },
    });
    g.ops.push({
      kind: 'pw' in st ? 'conv2d' : 'depthwiseConv2d',
      name: `op${i}`,
      inputs: [cur, `w${i}`, `b${i}`],
      outputs: [`y${i}`],
      attrs:
        'pw' in st
          ? { strides: [1, 1], padding: 'same', activation: 'relu6' }
          : {
              strides: [st.dw, st.dw],
              padding: st.padding,
              activation: 'relu6',
              depthMultiplier: 1,
            },
    });
    cur = `y${i}`;
    c = outC;
  });
  g.inputs = ['x'];
  g.outputs = [cur];
  inferShapes(g);
  return g;
}

test('the depthwise line kernels (stride 2, stride 1 in each entry phase) and the small-plane kernel are bit-exact on VWW geometries and odd ones', async () => {
  const cases: { g: Graph; kernels: string[] }[] = [
    // VWW's stride-2 depthwise layers 48x48x16, 24x24x32 and 12x12x64 (four planes per gather,
    // each plane requantised in one call), with the pointwise layers between them, then a
    // stride-1 6x6 one (the stride-1 routine's entry phase 0; 1 and 2 come below and above),
    // 6x6 -> 3x3 and the 3x3 plane (the unrolled small-plane kernel: padding after only, and
    // on both sides)
    {
      g: depthwiseChain(
        3,
        [1, 48, 48, 16],
        [
          { dw: 2, padding: 'same' },
          { pw: 32 },
          { dw: 2, padding: 'same' },
          { pw: 64 },
          { dw: 2, padding: 'same' },
          { dw: 1, padding: 'same' },
          { dw: 2, padding: 'same' },
          { dw: 1, padding: 'same' },
        ],
      ),
      kernels: ['line-s2', 'gemm', 'line-s2', 'gemm', 'line-s2', 'line', 'small', 'small'],
    },
    // odd sizes, 'same': padding before (27 -> 14, 21 -> 11), lines down y, one plane per
    // gather (6 channels), one requantisation call per line; then the 3x3 plane of the 14x11
    // (stride 1, 'same': the stride-1 line kernel)
    {
      g: depthwiseChain(
        4,
        [1, 27, 21, 6],
        [
          { dw: 2, padding: 'same' },
          { dw: 1, padding: 'same' },
        ],
      ),
      kernels: ['line-s2', 'line'],
    },
    // 'valid' 15x11 -> 7x5 (no padding at all), lines down y, four planes per gather, odd n
    {
      g: depthwiseChain(5, [1, 15, 11, 8], [{ dw: 2, padding: 'valid' }]),
      kernels: ['line-s2'],
    },
    // 'same' 13x25 -> 7x13: lines along x of odd n, the plane requantised in one call
    {
      g: depthwiseChain(6, [1, 13, 25, 4], [{ dw: 2, padding: 'same' }]),
      kernels: ['line-s2'],
    },
    // small planes, one channel per plane (6 channels): 5x5 -> 3x3 'same' (padding on both
    // sides), the 3x3 plane, then 'valid' 3x3 -> 1x1 (no padding: no corrections)
    {
      g: depthwiseChain(
        7,
        [1, 5, 5, 6],
        [
          { dw: 2, padding: 'same' },
          { dw: 1, padding: 'same' },
          { dw: 2, padding: 'valid' },
        ],
      ),
      kernels: ['small', 'small', 'small'],
    },
    // 2x3 (two lines of 3), then 2x3 -> 1x2 'same' stride 2; 7x7 -> 3x3 'valid'
    {
      g: depthwiseChain(
        8,
        [1, 2, 3, 8],
        [
          { dw: 1, padding: 'same' },
          { dw: 2, padding: 'same' },
        ],
      ),
      kernels: ['small', 'small'],
    },
    {
      g: depthwiseChain(9, [1, 7, 7, 4], [{ dw: 2, padding: 'valid' }]),
      kernels: ['small'],
    },
    // stride 2 reading the input with pixels more than 255 bytes apart (two ADDS a step)
    {
      g: depthwiseChain(10, [1, 4, 4, 260], [{ dw: 2, padding: 'same' }]),
      kernels: ['small'],
    },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-mcu-dw2-'));
  try {
    for (const [k, { g, kernels }] of cases.entries()) {
      const shape = g.tensors.get('x')!.shape;
      const r = rng(40 + k);
      const inputs = Array.from({ length: 2 }, () =>
        Int8Array.from(
          { length: shape.reduce((a, b) => a * b, 1) },
          () => Math.floor(r() * 256) - 128,
        ),
      );
      const rep = await deploy(g, { target: 'rp2040', outDir: dir, inputs, kernels: 'speed' });
      assert.deepEqual(
        rep.layers.map((l) => l.kernel.replace(/^depthwise-3x3-|-(direct|patch)-8p$/g, '')),
        kernels,
      );
      const prep = prepareInt8(g);
      inputs.forEach((x, i) => assert.deepEqual(rep.outputs[i], Array.from(prep.run([x])[0]!)));
      assert.deepEqual(rep.bitExact, { inputs: 2, mismatches: 0 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
