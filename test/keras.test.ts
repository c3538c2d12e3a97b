import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import h5wasm, { type Dataset } from 'h5wasm';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { getTensor } from '../src/graph/graph.js';
import type { Graph } from '../src/graph/types.js';
import { TinypruneError } from '../src/graph/types.js';
import { readKerasH5 } from '../src/io/keras/reader.js';
import { hdf5DeclaredLength } from '../src/io/keras/h5file.js';
import { loadModel } from '../src/io/load.js';
import { runCli } from './helpers/cli.js';
import { model, needsShared } from './helpers/shared.js';

const VWW_CUTS: [string, number][] = [
  ['conv1', 256],
  ['block1', 576],
  ['block2', 1472],
  ['block3', 3104],
  ['block4', 5920],
  ['block5', 11232],
  ['block6', 20960],
  ['block7', 39776],
  ['block8', 58592],
  ['block9', 77408],
  ['block10', 96224],
  ['block11', 115040],
  ['block12', 150880],
  ['block13', 221280],
];

const tmp = mkdtempSync(join(tmpdir(), 'tinyprune-keras-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function rng(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- writing synthetic Keras files with h5wasm (the test's own wasm instance) ----

interface SynthWeight {
  shape: number[];
  data: Float32Array;
}
interface SynthLayer {
  class_name: string;
  config: Record<string, unknown>;
  inbound?: string[];
  weights?: Record<string, SynthWeight>;
}
interface SynthModel {
  kind: 'Functional' | 'Sequential';
  layers: SynthLayer[];
  inputs?: string[];
  outputs?: string[];
  /** Write the weights but no model_config (like save_weights). */
  weightsOnly?: boolean;
  rawConfig?: string;
}

let synthCount = 0;
async function kerasBytes(m: SynthModel): Promise<Uint8Array> {
  const { FS } = await h5wasm.ready;
  const path = `/synth-${++synthCount}.h5`;
  const f = new h5wasm.File(path, 'w');
  const layerJson = m.layers.map((l) => ({
    class_name: l.class_name,
    config: l.config,
    name: l.config.name,
    ...(m.kind === 'Functional'
      ? { inbound_nodes: l.inbound?.length ? [l.inbound.map((n) => [n, 0, 0, {}])] : [] }
      : {}),
  }));
  const config =
    m.kind === 'Functional'
      ? {
          class_name: 'Functional',
          config: {
            name: 'synth',
            layers: layerJson,
            input_layers: (m.inputs ?? []).map((n) => [n, 0, 0]),
            output_layers: (m.outputs ?? []).map((n) => [n, 0, 0]),
          },
        }
      : { class_name: 'Sequential', config: { name: 'synth_seq', layers: layerJson } };
  const names = m.layers.map((l) => String(l.config.name));
  const weightsRoot = m.weightsOnly ? f : f.create_group('model_weights');
  if (!m.weightsOnly) f.create_attribute('model_config', m.rawConfig ?? JSON.stringify(config));
  f.create_attribute('keras_version', '2.4.0');
  weightsRoot.create_attribute('layer_names', names);
  for (const l of m.layers) {
    if (!l.weights) continue;
    const name = String(l.config.name);
    const g = weightsRoot.create_group(name);
    const entries = Object.entries(l.weights);
    g.create_attribute(
      'weight_names',
      entries.map(([w]) => `${name}/${w}:0`),
    );
    const inner = g.create_group(name);
    for (const [w, v] of entries)
      inner.create_dataset({ name: `${w}:0`, data: v.data, shape: v.shape });
  }
  f.close();
  const bytes = FS!.readFile(path) as Uint8Array;
  FS!.unlink(path);
  return bytes;
}

function randomWeight(r: () => number, shape: number[]): SynthWeight {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => r() * 2 - 1) };
}

/** A small Functional model touching every supported layer class. */
function everyLayerModel(seed = 1): SynthModel {
  const r = rng(seed);
  const w = (shape: number[]) => randomWeight(r, shape);
  const positive = (n: number) => ({
    shape: [n],
    data: Float32Array.from({ length: n }, () => 0.5 + r()),
  });
  return {
    kind: 'Functional',
    inputs: ['img'],
    outputs: ['probs'],
    layers: [
      { class_name: 'InputLayer', config: { name: 'img', batch_input_shape: [null, 8, 8, 3] } },
      {
        class_name: 'ZeroPadding2D',
        config: {
          name: 'pad',
          padding: [
            [1, 1],
            [1, 1],
          ],
        },
        inbound: ['img'],
      },
      {
        class_name: 'Conv2D',
        config: {
          name: 'c1',
          filters: 4,
          kernel_size: [3, 3],
          strides: [1, 1],
          padding: 'valid',
          activation: 'relu',
          use_bias: true,
        },
        inbound: ['pad'],
        weights: { kernel: w([3, 3, 3, 4]), bias: w([4]) },
      },
      {
        class_name: 'BatchNormalization',
        config: { name: 'bn1', axis: [3], epsilon: 0.01, scale: false, center: true },
        inbound: ['c1'],
        weights: { beta: w([4]), moving_mean: w([4]), moving_variance: positive(4) },
      },
      {
        class_name: 'ReLU',
        config: { name: 'r6', max_value: 6, negative_slope: 0, threshold: 0 },
        inbound: ['bn1'],
      },
      {
        class_name: 'DepthwiseConv2D',
        config: {
          name: 'dw',
          kernel_size: [3, 3],
          strides: [1, 1],
          padding: 'same',
          depth_multiplier: 2,
          activation: 'linear',
          use_bias: false,
        },
        inbound: ['r6'],
        weights: { depthwise_kernel: w([3, 3, 4, 2]) },
      },
      {
        class_name: 'SeparableConv2D',
        config: {
          name: 'sep',
          filters: 8,
          kernel_size: [3, 3],
          strides: [1, 1],
          padding: 'same',
          depth_multiplier: 1,
          activation: 'linear',
          use_bias: true,
        },
        inbound: ['r6'],
        weights: {
          depthwise_kernel: w([3, 3, 4, 1]),
          pointwise_kernel: w([1, 1, 4, 8]),
          bias: w([8]),
        },
      },
      { class_name: 'Add', config: { name: 'sum' }, inbound: ['dw', 'sep'] },
      { class_name: 'Activation', config: { name: 'act', activation: 'relu' }, inbound: ['sum'] },
      { class_name: 'Dropout', config: { name: 'drop', rate: 0.5 }, inbound: ['act'] },
      {
        class_name: 'MaxPooling2D',
        config: { name: 'mp', pool_size: [2, 2], strides: null, padding: 'valid' },
        inbound: ['drop'],
      },
      {
        class_name: 'AveragePooling2D',
        config: { name: 'ap', pool_size: [2, 2], strides: [1, 1], padding: 'same' },
        inbound: ['mp'],
      },
      { class_name: 'GlobalAveragePooling2D', config: { name: 'gap' }, inbound: ['ap'] },
      { class_name: 'Reshape', config: { name: 'rs', target_shape: [2, -1] }, inbound: ['gap'] },
      { class_name: 'Flatten', config: { name: 'fl' }, inbound: ['rs'] },
      {
        class_name: 'Dense',
        config: { name: 'd1', units: 5, activation: 'relu6', use_bias: true },
        inbound: ['fl'],
        weights: { kernel: w([8, 5]), bias: w([5]) },
      },
      {
        class_name: 'Dense',
        config: { name: 'd2', units: 3, activation: 'softmax', use_bias: false },
        inbound: ['d1'],
        weights: { kernel: w([5, 3]) },
      },
      { class_name: 'Activation', config: { name: 'lin', activation: 'linear' }, inbound: ['d2'] },
      { class_name: 'Softmax', config: { name: 'probs', axis: -1 }, inbound: ['lin'] },
    ],
  };
}

function shapeOf(g: Graph, name: string): number[] {
  return getTensor(g, name).shape;
}

async function rejection(p: Promise<unknown>): Promise<TinypruneError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TinypruneError, `expected a TinypruneError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the read to fail');
}

describe('Keras .h5: the VWW reference model', { skip: needsShared }, () => {
  test('params, MACs and cut points match the reference model', async () => {
    const g = await loadModel(model('vww_96.h5'));
    assert.equal(g.metadata.format, 'keras-h5');
    assert.equal(g.metadata.source, model('vww_96.h5'));
    assert.deepEqual(shapeOf(g, g.inputs[0]!), [1, 96, 96, 3]);
    assert.deepEqual(shapeOf(g, g.outputs[0]!), [1, 2]);
    const totals = modelTotals(g);
    assert.equal(totals.params, 221_794);
    assert.equal(totals.macs, 7_489_664);
    const kinds = new Map<string, number>();
    for (const op of g.ops) kinds.set(op.kind, (kinds.get(op.kind) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(kinds), {
      conv2d: 14,
      depthwiseConv2d: 13,
      batchNorm: 27,
      relu: 27,
      averagePool2d: 1,
      reshape: 1,
      fullyConnected: 1,
      softmax: 1,
    });
    const cuts = findCutPoints(g);
    assert.deepEqual(
      cuts.map((c) => [c.name, c.params]),
      VWW_CUTS,
    );
    // Op names are the Keras layer names.
    assert.deepEqual(
      g.ops.slice(0, 3).map((o) => o.name),
      ['conv2d', 'batch_normalization', 'activation'],
    );
  });

  test('weights are transposed into the IR layouts (checked against the raw HDF5 arrays)', async () => {
    const bytes = new Uint8Array(readFileSync(model('vww_96.h5')));
    const g = await readKerasH5(bytes, 'vww_96.h5');
    const { FS } = await h5wasm.ready;
    FS!.writeFile('/vww-raw.h5', bytes);
    const f = new h5wasm.File('/vww-raw.h5', 'r');
    try {
      const raw = (path: string) => (f.get(path) as Dataset).value as Float32Array;
      // Conv: Keras [kH, kW, in, out] → IR [out, kH, kW, in].
      const k = raw('model_weights/conv2d_1/conv2d_1/kernel:0'); // [1, 1, 8, 16]
      const conv = g.ops.find((o) => o.name === 'conv2d_1')!;
      const t = getTensor(g, conv.inputs[1]!);
      assert.deepEqual(t.shape, [16, 1, 1, 8]);
      for (let i = 0; i < 8; i++)
        for (let o = 0; o < 16; o++) assert.equal(t.data![o * 8 + i], k[i * 16 + o]);
      // Depthwise: [3, 3, 8, 1] → [1, 3, 3, 8], same order.
      const dk = raw('model_weights/depthwise_conv2d/depthwise_conv2d/depthwise_kernel:0');
      const dw = getTensor(g, g.ops.find((o) => o.name === 'depthwise_conv2d')!.inputs[1]!);
      assert.deepEqual(dw.shape, [1, 3, 3, 8]);
      assert.deepEqual([...dw.data!], [...dk]);
      // Dense: [256, 2] → [2, 256].
      const dense = raw('model_weights/dense/dense/kernel:0');
      const fc = getTensor(g, g.ops.find((o) => o.name === 'dense')!.inputs[1]!);
      assert.deepEqual(fc.shape, [2, 256]);
      for (let i = 0; i < 256; i++)
        for (let o = 0; o < 2; o++) assert.equal(fc.data![o * 256 + i], dense[i * 2 + o]);
      // BatchNorm keeps its four vectors in order.
      const bn = g.ops.find((o) => o.name === 'batch_normalization')!;
      assert.deepEqual(
        [...getTensor(g, bn.inputs[3]!).data!],
        [...raw('model_weights/batch_normalization/batch_normalization/moving_mean:0')],
      );
      assert.equal(bn.attrs.epsilon, 0.001);
    } finally {
      f.close();
      FS!.unlink('/vww-raw.h5');
    }
  });

  test('CLI inspect --json reports totals and the 14 cut points', () => {
    const r = runCli(['inspect', model('vww_96.h5'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.format, 'keras-h5');
    assert.deepEqual(out.input.shape, [1, 96, 96, 3]);
    assert.equal(out.totals.params, 221_794);
    assert.equal(out.totals.macs, 7_489_664);
    assert.deepEqual(
      out.cutPoints.map((c: { name: string; params: number }) => [c.name, c.params]),
      VWW_CUTS,
    );
  });

  test('truncated files: the superblock end-of-file check names the sizes', async () => {
    const bytes = new Uint8Array(readFileSync(model('vww_96.h5')));
    assert.equal(hdf5DeclaredLength(bytes), bytes.length);
    const e = await rejection(readKerasH5(bytes.subarray(0, 1_000_000), 'cut.h5'));
    assert.match(
      e.message,
      /^cut\.h5: the HDF5 file is truncated: .* 3124024 bytes, found 1000000$/,
    );
  });

  test('random truncations and byte changes give a model or one clear error line', async () => {
    const orig = new Uint8Array(readFileSync(model('vww_96.h5')));
    const r = rng(42);
    let errors = 0;
    for (let i = 0; i < 24; i++) {
      let bytes: Uint8Array;
      if (i % 3 === 0) bytes = orig.slice(0, Math.floor(r() * orig.length));
      else {
        bytes = orig.slice();
        // Metadata (superblock, object headers, the model_config JSON) sits in the first KBs.
        const region = i % 3 === 1 ? 8192 : bytes.length;
        for (let k = 0; k < 4; k++) bytes[Math.floor(r() * region)] = Math.floor(r() * 256);
      }
      try {
        const g = await readKerasH5(bytes, `bad${i}.h5`);
        assert.ok(g.ops.length > 0, 'a graph with ops');
      } catch (e) {
        errors++;
        assert.ok(e instanceof TinypruneError, `case ${i}: ${String(e)}`);
        assert.doesNotMatch(
          e.message,
          /[\x00-\x1f]/,
          `case ${i}: control characters in ${e.message}`,
        );
        assert.ok(e.message.startsWith(`bad${i}.h5`), `case ${i}: ${e.message}`);
      }
    }
    assert.ok(errors >= 8, `only ${errors} of 24 corruptions were detected`);
    // The reader still works afterwards (a trapped wasm instance is replaced).
    assert.equal(modelTotals(await readKerasH5(orig, 'ok.h5')).params, 221_794);
  });
});

describe('Keras .h5: synthetic models', () => {
  test('every supported layer class maps onto the IR with the right shapes', async () => {
    const m = everyLayerModel();
    const g = await readKerasH5(await kerasBytes(m), 'every.h5');
    assert.equal(g.name, 'synth');
    assert.deepEqual(g.inputs, ['img']);
    assert.deepEqual(g.outputs, ['probs']);
    assert.deepEqual(
      g.ops.map((o) => `${o.kind}:${o.name}`),
      [
        'pad:pad',
        'conv2d:c1',
        'batchNorm:bn1',
        'relu6:r6',
        'depthwiseConv2d:dw',
        'depthwiseConv2d:sep/depthwise',
        'conv2d:sep',
        'add:sum',
        'relu:act',
        'maxPool2d:mp',
        'averagePool2d:ap',
        'mean:gap',
        'reshape:rs',
        'reshape:fl',
        'fullyConnected:d1',
        'fullyConnected:d2',
        'softmax:d2/softmax',
        'softmax:probs',
      ],
    );
    const op = (n: string) => g.ops.find((o) => o.name === n)!;
    assert.deepEqual(op('pad').attrs.paddings, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    assert.deepEqual(shapeOf(g, 'pad'), [1, 10, 10, 3]);
    assert.equal(op('c1').attrs.activation, 'relu');
    assert.deepEqual(shapeOf(g, 'c1'), [1, 8, 8, 4]);
    assert.deepEqual(shapeOf(g, 'dw'), [1, 8, 8, 8]);
    assert.equal(op('dw').attrs.depthMultiplier, 2);
    assert.equal(op('dw').inputs.length, 2, 'use_bias=false: no bias input');
    assert.deepEqual(op('mp').attrs.strides, [2, 2], 'strides default to pool_size');
    assert.deepEqual(shapeOf(g, 'mp'), [1, 4, 4, 8]);
    assert.deepEqual(shapeOf(g, 'ap'), [1, 4, 4, 8]);
    assert.deepEqual(op('gap').attrs, { axes: [1, 2], keepDims: false });
    assert.deepEqual(shapeOf(g, 'gap'), [1, 8]);
    assert.deepEqual(shapeOf(g, 'rs'), [1, 2, 4]);
    assert.deepEqual(shapeOf(g, 'fl'), [1, 8]);
    assert.equal(op('d1').attrs.activation, 'relu6');
    assert.deepEqual(shapeOf(g, 'probs'), [1, 3]);
    // Dropout and linear Activation are identities: the next layer reads their input.
    assert.deepEqual(op('mp').inputs, ['act']);
    assert.deepEqual(op('probs').inputs, ['d2']);
    // BatchNormalization(scale=False): gamma is filled with ones, the rest comes from the file.
    const bn = op('bn1');
    assert.deepEqual([...getTensor(g, bn.inputs[1]!).data!], [1, 1, 1, 1]);
    const layer = (n: string) => m.layers.find((l) => l.config.name === n)!;
    assert.deepEqual([...getTensor(g, bn.inputs[2]!).data!], [...layer('bn1').weights!.beta!.data]);
    assert.equal(bn.attrs.epsilon, 0.01);
    // Depthwise with multiplier 2: IR channel c*2+m holds Keras [y, x, c, m].
    const dk = layer('dw').weights!.depthwise_kernel!.data;
    const dt = getTensor(g, op('dw').inputs[1]!);
    assert.deepEqual(dt.shape, [1, 3, 3, 8]);
    for (let y = 0; y < 3; y++)
      for (let x = 0; x < 3; x++)
        for (let c = 0; c < 4; c++)
          for (let mm = 0; mm < 2; mm++)
            assert.equal(
              dt.data![(y * 3 + x) * 8 + c * 2 + mm],
              dk[((y * 3 + x) * 4 + c) * 2 + mm],
            );
    // Conv: IR [o, y, x, i] holds Keras [y, x, i, o].
    const ck = layer('c1').weights!.kernel!.data;
    const ct = getTensor(g, op('c1').inputs[1]!);
    assert.deepEqual(ct.shape, [4, 3, 3, 3]);
    for (let o = 0; o < 4; o++)
      for (let y = 0; y < 3; y++)
        for (let x = 0; x < 3; x++)
          for (let i = 0; i < 3; i++)
            assert.equal(
              ct.data![((o * 3 + y) * 3 + x) * 3 + i],
              ck[((y * 3 + x) * 3 + i) * 4 + o],
            );
    // Separable: the pointwise kernel [1, 1, 4, 8] becomes [8, 1, 1, 4].
    const pk = layer('sep').weights!.pointwise_kernel!.data;
    const pt = getTensor(g, op('sep').inputs[1]!);
    assert.deepEqual(pt.shape, [8, 1, 1, 4]);
    for (let o = 0; o < 8; o++)
      for (let i = 0; i < 4; i++) assert.equal(pt.data![o * 4 + i], pk[i * 8 + o]);
    // Params as Keras counts them (BatchNorm with scale=False gains its implicit gamma of 4).
    const kerasParams = m.layers.reduce(
      (s, l) => s + Object.values(l.weights ?? {}).reduce((a, w) => a + w.data.length, 0),
      0,
    );
    assert.equal(modelTotals(g).params, kerasParams + 4);
  });

  test('a Sequential model without an InputLayer gets one from batch_input_shape', async () => {
    const r = rng(7);
    const g = await readKerasH5(
      await kerasBytes({
        kind: 'Sequential',
        layers: [
          {
            class_name: 'Dense',
            config: { name: 'hidden', units: 4, activation: 'relu', batch_input_shape: [null, 6] },
            weights: { kernel: randomWeight(r, [6, 4]), bias: randomWeight(r, [4]) },
          },
          {
            class_name: 'Dense',
            config: { name: 'out', units: 2, activation: 'linear' },
            weights: { kernel: randomWeight(r, [4, 2]), bias: randomWeight(r, [2]) },
          },
        ],
      }),
      'seq.h5',
    );
    assert.deepEqual(g.inputs, ['hidden_input']);
    assert.deepEqual(shapeOf(g, 'hidden_input'), [1, 6]);
    assert.deepEqual(
      g.ops.map((o) => [o.kind, o.name, o.attrs.activation]),
      [
        ['fullyConnected', 'hidden', 'relu'],
        ['fullyConnected', 'out', 'none'],
      ],
    );
    assert.deepEqual(g.outputs, ['out']);
    assert.equal(g.metadata.format, 'keras-h5');
  });

  const conv = (name: string, inbound: string[], weights?: Record<string, SynthWeight>) => ({
    class_name: 'Conv2D',
    config: { name, filters: 2, kernel_size: [1, 1], padding: 'same', activation: 'linear' },
    inbound,
    weights,
  });
  const input = {
    class_name: 'InputLayer',
    config: { name: 'x', batch_input_shape: [null, 4, 4, 3] },
  };
  const w = (shape: number[]) => randomWeight(rng(3), shape);

  test('an unsupported layer is named with its class', async () => {
    const bytes = await kerasBytes({
      kind: 'Functional',
      inputs: ['x'],
      outputs: ['vol'],
      layers: [
        input,
        { class_name: 'Conv3D', config: { name: 'vol', filters: 2 }, inbound: ['x'] },
      ],
    });
    const e = await rejection(readKerasH5(bytes, 'c3d.h5'));
    assert.match(e.message, /^c3d\.h5: layer "vol" \(Conv3D\): unsupported layer class Conv3D/);
    // Through the CLI: exit code 2, one line on stderr, no stack trace.
    const path = join(tmp, 'c3d.h5');
    writeFileSync(path, bytes);
    const r = runCli(['inspect', path]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /Conv3D/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('an unsupported activation is named', async () => {
    const bad = conv('c', ['x'], { kernel: w([1, 1, 3, 2]), bias: w([2]) });
    bad.config.activation = 'tanh';
    const e = await rejection(
      readKerasH5(
        await kerasBytes({
          kind: 'Functional',
          inputs: ['x'],
          outputs: ['c'],
          layers: [input, bad],
        }),
        'tanh.h5',
      ),
    );
    assert.match(e.message, /layer "c" \(Conv2D\): activation "tanh" is not supported/);
  });

  test('a weights-only file is refused with a hint', async () => {
    const bytes = await kerasBytes({
      kind: 'Functional',
      weightsOnly: true,
      inputs: ['x'],
      outputs: ['c'],
      layers: [input, conv('c', ['x'], { kernel: w([1, 1, 3, 2]), bias: w([2]) })],
    });
    const e = await rejection(readKerasH5(bytes, 'weights.h5'));
    assert.match(e.message, /^weights\.h5 holds weights only \(no model_config/);
  });

  test('missing and wrongly shaped weights are named', async () => {
    const missing = await kerasBytes({
      kind: 'Functional',
      inputs: ['x'],
      outputs: ['c'],
      layers: [input, conv('c', ['x'])],
    });
    const e1 = await rejection(readKerasH5(missing, 'missing.h5'));
    assert.match(
      e1.message,
      /^missing\.h5: layer "c" \(Conv2D\): missing weight "kernel" in model_weights \(found none\)$/,
    );

    const wrong = await kerasBytes({
      kind: 'Functional',
      inputs: ['x'],
      outputs: ['c'],
      layers: [input, conv('c', ['x'], { kernel: w([1, 1, 2, 2]), bias: w([2]) })],
    });
    const e2 = await rejection(readKerasH5(wrong, 'wrong.h5'));
    assert.match(
      e2.message,
      /layer "c" \(Conv2D\): weight "kernel" has shape \[1, 1, 2, 2\], expected \[1, 1, 3, 2\]$/,
    );
  });

  test('Keras 3 serialisation: batch_shape and keras_history inbound nodes', async () => {
    const tensor = (layer: string) => ({
      class_name: '__keras_tensor__',
      config: { shape: [null, 4, 4, 2], dtype: 'float32', keras_history: [layer, 0, 0] },
    });
    const node = (...args: unknown[]) => [{ args, kwargs: {} }];
    const layers = [
      {
        class_name: 'InputLayer',
        name: 'x',
        config: { name: 'x', batch_shape: [null, 4, 4, 3] },
        inbound_nodes: [],
      },
      {
        class_name: 'Conv2D',
        name: 'c',
        config: { name: 'c', filters: 2, kernel_size: [1, 1], padding: 'same', activation: 'relu' },
        inbound_nodes: node(tensor('x')),
      },
      {
        class_name: 'Add',
        name: 'sum',
        config: { name: 'sum' },
        inbound_nodes: node([tensor('c'), tensor('c')]),
      },
    ];
    const rawConfig = JSON.stringify({
      class_name: 'Functional',
      config: { name: 'k3', layers, input_layers: ['x', 0, 0], output_layers: ['sum', 0, 0] },
    });
    const bytes = await kerasBytes({
      kind: 'Functional',
      rawConfig,
      layers: [
        input,
        {
          class_name: 'Conv2D',
          config: { name: 'c' },
          weights: { kernel: w([1, 1, 3, 2]), bias: w([2]) },
        },
      ],
    });
    const g = await readKerasH5(bytes, 'k3.h5');
    assert.deepEqual(
      g.ops.map((o) => [o.kind, o.name, o.inputs[0], o.inputs[1]]),
      [
        ['conv2d', 'c', 'x', 'c/kernel'],
        ['add', 'sum', 'c', 'c'],
      ],
    );
    assert.deepEqual(g.inputs, ['x']);
    assert.deepEqual(g.outputs, ['sum']);
    assert.deepEqual(shapeOf(g, 'sum'), [1, 4, 4, 2]);
  });

  test('a model_config that is not JSON is reported', async () => {
    const bytes = await kerasBytes({
      kind: 'Functional',
      layers: [input],
      rawConfig: '{"class_name": "Funct',
    });
    const e = await rejection(readKerasH5(bytes, 'json.h5'));
    assert.match(e.message, /^json\.h5: model_config is not valid JSON/);
  });

  test('random corruptions of a small model: a model or one clear error line', async () => {
    const orig = await kerasBytes(everyLayerModel(5));
    const r = rng(99);
    let errors = 0;
    const started = Date.now();
    for (let i = 0; i < 150; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) bytes = orig.slice(0, Math.floor(r() * orig.length));
      else {
        bytes = orig.slice();
        for (let k = 0; k < 1 + (i % 5); k++)
          bytes[Math.floor(r() * bytes.length)] ^= 1 << Math.floor(r() * 8);
      }
      try {
        await readKerasH5(bytes, 'fuzz.h5');
      } catch (e) {
        errors++;
        assert.ok(e instanceof TinypruneError, `case ${i}: ${String(e)}`);
        assert.ok(e.message.startsWith('fuzz.h5'), e.message);
        assert.doesNotMatch(e.message, /[\x00-\x1f]/, e.message);
      }
    }
    assert.ok(errors >= 75, `only ${errors} of 150 corruptions were detected`);
    assert.ok(Date.now() - started < 60_000, 'corrupt files must not hang the reader');
  });
});
