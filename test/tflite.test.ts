// TFLite import/export on the MLPerf Tiny reference models, checked against the official TFLite
// runtime (test/helpers/tfliteRuntime.ts) on real inputs from ../shared/data.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { numElements } from '../src/graph/graph.js';
import { padBefore } from '../src/graph/shapes.js';
import type { Graph, Tensor } from '../src/graph/types.js';
import { TinypruneError } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { FbReader } from '../src/io/tflite/flatbuffer.js';
import { readTflite } from '../src/io/tflite/reader.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { runCli } from './helpers/cli.js';
import { data, model, needsShared } from './helpers/shared.js';
import { createTfliteRunner, runTflite } from './helpers/tfliteRuntime.js';

const read = (file: string) => new Uint8Array(readFileSync(model(file)));

/** The graph without its provenance, for comparing two imports of the same model. */
function comparable(g: Graph) {
  return {
    tensorOrder: [...g.tensors.keys()],
    tensors: [...g.tensors.values()],
    ops: g.ops,
    inputs: g.inputs,
    outputs: g.outputs,
    format: g.metadata.format,
  };
}

function roundTrip(file: string) {
  const bytes = read(file);
  const g1 = readTflite(bytes, file);
  const out1 = writeTflite(g1);
  const g2 = readTflite(out1, `${file} (exported)`);
  const out2 = writeTflite(g2);
  return { bytes, g1, g2, out1, out2 };
}

/** The first 20 VWW images (96x96x3 uint8 RGB), sorted by name. */
function vwwImages(): Uint8Array[] {
  const dir = data('eembc_vww01');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .slice(0, 20)
    .map((f) => new Uint8Array(readFileSync(`${dir}/${f}`)));
}

/** The first 20 EEMBC KWS MFCC features: 49x10 int8, quantised with kws_ref_model's input. */
function kwsFeatures(): Int8Array[] {
  const dir = data('eembc_kws01', 'mfcc');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .slice(0, 20)
    .map((f) => {
      const b = readFileSync(`${dir}/${f}`);
      return new Int8Array(b.buffer, b.byteOffset, b.length);
    });
}

/** Runs both models on the same inputs; returns the largest output difference and argmax agreement. */
async function compareRuntimes(a: Uint8Array, b: Uint8Array, inputs: ArrayLike<number>[]) {
  const ra = await createTfliteRunner(a);
  const rb = await createTfliteRunner(b);
  let maxDiff = 0;
  let sameClass = 0;
  const argmax = (y: ArrayLike<number>) => {
    let k = 0;
    for (let i = 1; i < y.length; i++) if (y[i]! > y[k]!) k = i;
    return k;
  };
  try {
    for (const x of inputs) {
      const [ya] = ra.run([x]) as Float32Array[];
      const [yb] = rb.run([x]) as Float32Array[];
      assert.equal(ya!.length, yb!.length);
      for (let i = 0; i < ya!.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ya![i]! - yb![i]!));
      if (argmax(ya!) === argmax(yb!)) sameClass++;
    }
  } finally {
    ra.close();
    rb.close();
  }
  return { maxDiff, sameClass };
}

describe('readTflite on the reference models', { skip: needsShared }, () => {
  for (const file of ['vww_96_float.tflite', 'vww_96_int8.tflite']) {
    it(`${file}: 31 ops, 7,489,664 MACs, 14 cut points`, () => {
      const g = readTflite(read(file), model(file));
      assert.equal(g.ops.length, 31);
      assert.equal(g.metadata.format, 'tflite');
      assert.equal(g.metadata.source, model(file));
      const kinds = g.ops.map((o) => o.kind);
      assert.equal(kinds.filter((k) => k === 'conv2d').length, 14);
      assert.equal(kinds.filter((k) => k === 'depthwiseConv2d').length, 13);
      assert.deepEqual(kinds.slice(27), ['averagePool2d', 'reshape', 'fullyConnected', 'softmax']);
      assert.equal(modelTotals(g).macs, 7_489_664);
      const cuts = findCutPoints(g);
      assert.equal(cuts.length, 14);
      assert.equal(cuts[5]!.name, 'block5');
      assert.deepEqual(cuts[5]!.shape, [1, 12, 12, 64]); // the paper's block-5 cut
      assert.deepEqual(g.tensors.get(g.inputs[0]!)!.shape, [1, 96, 96, 3]);
    });
  }

  for (const file of ['kws_ref_model_float32.tflite', 'kws_ref_model.tflite']) {
    it(`${file}: 13 ops, 2,656,768 MACs, 5 cut points`, () => {
      const g = readTflite(read(file), file);
      assert.equal(g.ops.length, 13);
      assert.equal(modelTotals(g).macs, 2_656_768);
      assert.equal(findCutPoints(g).length, 5);
      assert.deepEqual(g.tensors.get(g.inputs[0]!)!.shape, [1, 49, 10, 1]);
    });
  }

  it('keeps int8 quantisation: per-tensor activations, per-channel weights with their axis', () => {
    const g = readTflite(read('kws_ref_model.tflite'), 'kws');
    const input = g.tensors.get(g.inputs[0]!)!;
    assert.equal(input.dtype, 'int8');
    assert.ok(Math.abs(input.quant!.scale[0]! - 0.5847) < 1e-4);
    assert.deepEqual(input.quant!.zeroPoint, [83]);
    assert.equal(input.quant!.axis, undefined);
    const conv = g.ops.find((o) => o.kind === 'conv2d')!;
    const w = g.tensors.get(conv.inputs[1]!)!;
    const bias = g.tensors.get(conv.inputs[2]!)!;
    assert.deepEqual(w.shape, [64, 10, 4, 1]);
    assert.equal(w.dtype, 'int8');
    assert.equal(w.quant!.axis, 0);
    assert.equal(w.quant!.scale.length, 64);
    assert.equal(bias.dtype, 'int32');
    // The converter's bias scale is input scale × weight scale, per channel.
    bias.quant!.scale.forEach((s, c) =>
      assert.ok(Math.abs(s - input.quant!.scale[0]! * w.quant!.scale[c]!) <= 1e-6 * s),
    );
    const dw = g.ops.find((o) => o.kind === 'depthwiseConv2d')!;
    assert.equal(g.tensors.get(dw.inputs[1]!)!.quant!.axis, 3);
    assert.deepEqual(conv.attrs, {
      strides: [2, 2],
      padding: 'same',
      dilations: [1, 1],
      activation: 'relu',
    });
  });

  it('dequantises the hybrid KWS conv weights (int8 + scale) into float32 constants', () => {
    const g = readTflite(read('kws_ref_model_float32.tflite'), 'kws float');
    for (const op of g.ops.filter((o) => o.kind === 'conv2d')) {
      const w = g.tensors.get(op.inputs[1]!)!;
      assert.equal(w.dtype, 'float32');
      assert.equal(w.quant, undefined);
      // Symmetric per-tensor int8: every weight is an integer multiple of max|w| / 127.
      const values = w.data as Float32Array;
      const step = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
      for (const v of values) assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-3);
    }
    for (const t of g.tensors.values()) assert.notEqual(t.dtype, 'int8', t.name);
  });

  it('gives unique tensor names and readable unique op names', () => {
    const g = readTflite(read('vww_96_int8.tflite'), 'vww');
    const names = g.ops.map((o) => o.name);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual(names.slice(0, 4), [
      'conv2d',
      'depthwise_conv2d',
      'conv2d_1',
      'depthwise_conv2d_1',
    ]);
    assert.equal(names.at(-1), 'softmax');
    for (const [key, t] of g.tensors) assert.equal(key, t.name);
  });
});

describe('writeTflite round trips', { skip: needsShared }, () => {
  for (const file of [
    'vww_96_float.tflite',
    'vww_96_int8.tflite',
    'kws_ref_model_float32.tflite',
    'kws_ref_model.tflite',
  ]) {
    it(`${file}: import → export → import is identical; export → import → export is byte-identical`, () => {
      const { g1, g2, out1, out2 } = roundTrip(file);
      assert.deepStrictEqual(comparable(g2), comparable(g1));
      assert.equal(Buffer.compare(Buffer.from(out1), Buffer.from(out2)), 0);
      assert.equal(String.fromCharCode(...out1.subarray(4, 8)), 'TFL3');
    });
  }

  it('writes the converter layout: buffer 0 empty, op versions as op_version.cc assigns', () => {
    // The int8 KWS file's operator codes are the converter's own (CONV_2D v3, DEPTHWISE v3,
    // AVERAGE_POOL v2, RESHAPE v1, FULLY_CONNECTED v4, SOFTMAX v2): ours must match them.
    const { bytes, out1 } = roundTrip('kws_ref_model.tflite');
    assert.deepEqual(opcodes(out1), opcodes(bytes));
    assert.deepEqual(opcodes(out1), [
      [3, 3],
      [4, 3],
      [1, 2],
      [22, 1],
      [9, 4],
      [25, 2],
    ]);
    // VWW float: every op version 1, as in the converter's file.
    const vww = roundTrip('vww_96_float.tflite');
    assert.deepEqual(opcodes(vww.out1), opcodes(vww.bytes));
  });
});

/** [builtin code, version] of each operator code (Model field 1; OperatorCode fields 0, 2, 3). */
function opcodes(bytes: Uint8Array): [number, number][] {
  const m = new FbReader(bytes).root('model');
  const codes = m.tables(1, 'operator_codes');
  const out: [number, number][] = [];
  for (let i = 0; i < codes.length; i++) {
    const c = codes.at(i);
    out.push([Math.max(c.i8(0), c.i32(3)), c.i32(2, 1)]);
  }
  const buffers = m.tables(4, 'buffers');
  assert.equal(buffers.at(0).bytes(0, 'buffer 0')?.length ?? 0, 0, 'buffer 0 must be empty');
  return out;
}

describe('exported models in the official TFLite runtime', { skip: needsShared }, () => {
  it('VWW float: identical outputs on 20 real images (pixels / 255)', async () => {
    const { bytes, out1 } = roundTrip('vww_96_float.tflite');
    const inputs = vwwImages().map((px) => Float32Array.from(px, (v) => v / 255));
    const r = await compareRuntimes(bytes, out1, inputs);
    assert.equal(r.maxDiff, 0);
    assert.equal(r.sameClass, 20);
  });

  it('VWW int8: identical outputs on 20 real images (pixels - 128)', async () => {
    const { bytes, out1 } = roundTrip('vww_96_int8.tflite');
    const inputs = vwwImages().map((px) => Int8Array.from(px, (v) => v - 128));
    const r = await compareRuntimes(bytes, out1, inputs);
    assert.equal(r.maxDiff, 0);
  });

  it('KWS int8: identical outputs on 20 EEMBC MFCC features', async () => {
    const { bytes, out1 } = roundTrip('kws_ref_model.tflite');
    const r = await compareRuntimes(bytes, out1, kwsFeatures());
    assert.equal(r.maxDiff, 0);
  });

  it('KWS float (hybrid): identical outputs on 20 MFCC features', async () => {
    // The original file's conv weights are int8 with a scale (hybrid). The reader dequantises
    // them and remembers their storage, so the writer stores them as int8 again while they are
    // unchanged: the runtime then runs the same hybrid kernels on both files.
    const { bytes, out1 } = roundTrip('kws_ref_model_float32.tflite');
    const int8 = readTflite(read('kws_ref_model.tflite'), 'kws int8');
    const q = int8.tensors.get(int8.inputs[0]!)!.quant!;
    const inputs = kwsFeatures().map((f) =>
      Float32Array.from(f, (v) => q.scale[0]! * (v - q.zeroPoint[0]!)),
    );
    const r = await compareRuntimes(bytes, out1, inputs);
    assert.equal(r.sameClass, 20);
    assert.equal(r.maxDiff, 0);
  });

  it('KWS float: retrained hybrid weights are written as float32', () => {
    const g = readTflite(read('kws_ref_model_float32.tflite'), 'kws');
    const w = [...g.tensors.values()].find((t) => t.stored)!;
    assert.ok(w, 'the KWS float file has hybrid weights');
    (w.data as Float32Array)[0] = (w.data as Float32Array)[0]! + 0.001;
    const back = readTflite(writeTflite(g), 'retrained');
    const w2 = back.tensors.get(w.name)!;
    assert.equal(w2.dtype, 'float32');
    assert.equal(w2.stored, undefined);
    assert.equal((w2.data as Float32Array)[0], (w.data as Float32Array)[0]);
  });
});

// A small graph built by hand (not from a file), exported and run by the official runtime,
// against our own direct computation: proves weight layouts and attributes of the writer.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

function handBuiltGraph(seed: number): Graph {
  const r = rng(seed);
  const f32 = (shape: number[]) => Float32Array.from({ length: numElements(shape) }, r);
  const tensors: Tensor[] = [
    { name: 'x', shape: [1, 5, 5, 2], dtype: 'float32' },
    { name: 'padded', shape: [1, 7, 7, 2], dtype: 'float32' },
    { name: 'w1', shape: [3, 3, 3, 2], dtype: 'float32', data: f32([3, 3, 3, 2]) },
    { name: 'b1', shape: [3], dtype: 'float32', data: f32([3]) },
    { name: 'c1', shape: [1, 5, 5, 3], dtype: 'float32' },
    { name: 'w2', shape: [1, 3, 3, 3], dtype: 'float32', data: f32([1, 3, 3, 3]) },
    { name: 'b2', shape: [3], dtype: 'float32', data: f32([3]) },
    { name: 'd1', shape: [1, 3, 3, 3], dtype: 'float32' },
    { name: 'sum', shape: [1, 3, 3, 3], dtype: 'float32' },
    { name: 'pooled', shape: [1, 3], dtype: 'float32' },
    { name: 'w3', shape: [4, 3], dtype: 'float32', data: f32([4, 3]) },
    { name: 'b3', shape: [4], dtype: 'float32', data: f32([4]) },
    { name: 'logits', shape: [1, 4], dtype: 'float32' },
    { name: 'probs', shape: [1, 4], dtype: 'float32' },
  ];
  return {
    name: 'hand',
    tensors: new Map(tensors.map((t) => [t.name, t])),
    inputs: ['x'],
    outputs: ['probs'],
    metadata: {},
    ops: [
      {
        kind: 'pad',
        name: 'pad',
        inputs: ['x'],
        outputs: ['padded'],
        attrs: {
          paddings: [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
        },
      },
      {
        kind: 'conv2d',
        name: 'conv',
        inputs: ['padded', 'w1', 'b1'],
        outputs: ['c1'],
        attrs: { strides: [1, 1], padding: 'valid', dilations: [1, 1], activation: 'relu' },
      },
      {
        kind: 'depthwiseConv2d',
        name: 'dw',
        inputs: ['c1', 'w2', 'b2'],
        outputs: ['d1'],
        attrs: {
          strides: [2, 2],
          padding: 'same',
          dilations: [1, 1],
          depthMultiplier: 1,
          activation: 'relu6',
        },
      },
      {
        kind: 'add',
        name: 'add',
        inputs: ['d1', 'd1'],
        outputs: ['sum'],
        attrs: { activation: 'none' },
      },
      {
        kind: 'mean',
        name: 'gap',
        inputs: ['sum'],
        outputs: ['pooled'],
        attrs: { axes: [1, 2], keepDims: false },
      },
      {
        kind: 'fullyConnected',
        name: 'dense',
        inputs: ['pooled', 'w3', 'b3'],
        outputs: ['logits'],
        attrs: { activation: 'none', keepNumDims: false },
      },
      {
        kind: 'softmax',
        name: 'softmax',
        inputs: ['logits'],
        outputs: ['probs'],
        attrs: { beta: 1 },
      },
    ],
  };
}

/** Direct float64 evaluation of handBuiltGraph, written from the ops' definitions. */
function evaluateHandBuilt(g: Graph, x: Float32Array): number[] {
  const d = (n: string) => g.tensors.get(n)!.data as Float32Array;
  const at = (a: ArrayLike<number>, h: number, w: number, c: number, W: number, C: number) =>
    a[(h * W + w) * C + c]!;
  // pad 5x5x2 → 7x7x2
  const p = new Float64Array(7 * 7 * 2);
  for (let h = 0; h < 5; h++)
    for (let w = 0; w < 5; w++)
      for (let c = 0; c < 2; c++) p[((h + 1) * 7 + w + 1) * 2 + c] = at(x, h, w, c, 5, 2);
  // conv 3x3 valid, [outC, kH, kW, inC], relu
  const c1 = new Float64Array(5 * 5 * 3);
  for (let h = 0; h < 5; h++)
    for (let w = 0; w < 5; w++)
      for (let o = 0; o < 3; o++) {
        let s = d('b1')[o]!;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++)
            for (let c = 0; c < 2; c++)
              s += at(p, h + i, w + j, c, 7, 2) * d('w1')[((o * 3 + i) * 3 + j) * 2 + c]!;
        c1[(h * 5 + w) * 3 + o] = Math.max(0, s);
      }
  // depthwise 3x3 stride 2 same, [1, kH, kW, C], relu6
  const top = padBefore(5, 3, 2, 'same');
  const d1 = new Float64Array(3 * 3 * 3);
  for (let h = 0; h < 3; h++)
    for (let w = 0; w < 3; w++)
      for (let c = 0; c < 3; c++) {
        let s = d('b2')[c]!;
        for (let i = 0; i < 3; i++)
          for (let j = 0; j < 3; j++) {
            const y = h * 2 + i - top;
            const xx = w * 2 + j - top;
            if (y < 0 || y >= 5 || xx < 0 || xx >= 5) continue;
            s += at(c1, y, xx, c, 5, 3) * d('w2')[(i * 3 + j) * 3 + c]!;
          }
        d1[(h * 3 + w) * 3 + c] = Math.min(6, Math.max(0, s));
      }
  // add(d1, d1), mean over H, W
  const pooled = [0, 0, 0];
  for (let k = 0; k < 27; k++) pooled[k % 3]! += (2 * d1[k]!) / 9;
  // dense [out, in] + softmax
  const logits = [0, 1, 2, 3].map(
    (o) => d('b3')[o]! + pooled.reduce((s, v, i) => s + v * d('w3')[o * 3 + i]!, 0),
  );
  const m = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - m));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

describe('writeTflite on a hand-built graph', () => {
  it('runs in the official TFLite runtime and matches a direct computation', async () => {
    const g = handBuiltGraph(7);
    const bytes = writeTflite(g);
    const x = Float32Array.from({ length: 50 }, rng(11));
    const [probs] = (await runTflite(bytes, [x])) as Float32Array[];
    const expected = evaluateHandBuilt(g, x);
    assert.equal(probs!.length, 4);
    expected.forEach((v, i) => assert.ok(Math.abs(probs![i]! - v) < 1e-5, `${probs![i]} vs ${v}`));
    // The IR keeps MEAN axes and PAD paddings as attributes; the file needs them as tensors.
    const back = readTflite(bytes, 'hand.tflite');
    assert.deepEqual(
      back.ops.map((o) => o.inputs.length),
      [2, 3, 3, 2, 2, 3, 1],
    );
    assert.deepEqual(back.ops[4]!.attrs, { axes: [1, 2], keepDims: false });
    assert.deepEqual(back.ops[0]!.attrs.paddings, [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]);
    assert.equal(Buffer.compare(Buffer.from(writeTflite(back)), Buffer.from(writeTflite(back))), 0);
  });

  it('rejects a graph with a batchNorm op, naming it', () => {
    const g = handBuiltGraph(1);
    for (const [n, v] of [
      ['gamma', 1],
      ['beta', 0],
      ['mu', 0],
      ['var', 1],
    ] as const)
      g.tensors.set(n, {
        name: n,
        shape: [3],
        dtype: 'float32',
        data: new Float32Array(3).fill(v),
      });
    g.tensors.set('bn', { name: 'bn', shape: [1, 5, 5, 3], dtype: 'float32' });
    g.ops.splice(2, 0, {
      kind: 'batchNorm',
      name: 'bn1',
      inputs: ['c1', 'gamma', 'beta', 'mu', 'var'],
      outputs: ['bn'],
      attrs: { epsilon: 1e-3 },
    });
    g.ops[3]!.inputs[0] = 'bn';
    assert.throws(
      () => writeTflite(g),
      (e: unknown) =>
        e instanceof TinypruneError &&
        /op 2 \(batchNorm "bn1"\) has no TFLite builtin; fold BatchNorm/.test(e.message) &&
        !e.message.includes('\n'),
    );
  });

  it('folds a DEQUANTIZE of constant weights into a float32 constant on import', async () => {
    const g: Graph = {
      name: 'deq',
      inputs: ['x'],
      outputs: ['y'],
      metadata: {},
      tensors: new Map<string, Tensor>([
        ['x', { name: 'x', shape: [1, 2, 2], dtype: 'float32' }],
        [
          'wq',
          {
            name: 'wq',
            shape: [1, 2, 2],
            dtype: 'int8',
            data: Int8Array.from([-4, 0, 3, 127]),
            quant: { scale: [0.5], zeroPoint: [1] },
          },
        ],
        ['w', { name: 'w', shape: [1, 2, 2], dtype: 'float32' }],
        ['y', { name: 'y', shape: [1, 2, 2], dtype: 'float32' }],
      ]),
      ops: [
        { kind: 'dequantize', name: 'deq', inputs: ['wq'], outputs: ['w'], attrs: {} },
        {
          kind: 'add',
          name: 'add',
          inputs: ['x', 'w'],
          outputs: ['y'],
          attrs: { activation: 'none' },
        },
      ],
    };
    const bytes = writeTflite(g);
    // The official runtime computes x + 0.5 * (q - 1) with the DEQUANTIZE op in place…
    const [y] = (await runTflite(bytes, [Float32Array.from([1, 1, 1, 1])])) as Float32Array[];
    assert.deepEqual(Array.from(y!), [-1.5, 0.5, 2, 64]);
    // …and our import holds the folded constant instead.
    const back = readTflite(bytes, 'deq.tflite');
    assert.deepEqual(
      back.ops.map((o) => o.kind),
      ['add'],
    );
    assert.deepEqual(Array.from(back.tensors.get('w')!.data as Float32Array), [-2.5, -0.5, 1, 63]);
    assert.equal(back.tensors.has('wq'), false);
  });

  it('rejects constant data that does not fit its shape', () => {
    const g = handBuiltGraph(2);
    g.tensors.get('b1')!.data = new Float32Array(2);
    assert.throws(() => writeTflite(g), /tensor "b1" holds 2 values but its shape \[3\] needs 3/);
  });
});

describe('tinyprune inspect on .tflite files', { skip: needsShared }, () => {
  const expected: Record<string, { ops: number; macs: number; cuts: number; dtype: string }> = {
    'vww_96_float.tflite': { ops: 31, macs: 7_489_664, cuts: 14, dtype: 'float32' },
    'vww_96_int8.tflite': { ops: 31, macs: 7_489_664, cuts: 14, dtype: 'int8' },
    'kws_ref_model_float32.tflite': { ops: 13, macs: 2_656_768, cuts: 5, dtype: 'float32' },
    'kws_ref_model.tflite': { ops: 13, macs: 2_656_768, cuts: 5, dtype: 'int8' },
  };
  for (const [file, want] of Object.entries(expected)) {
    it(`${file} --json reports ${want.ops} ops, ${want.macs} MACs, ${want.cuts} cut points`, () => {
      const r = runCli(['inspect', model(file), '--json']);
      assert.equal(r.status, 0, r.stderr);
      const report = JSON.parse(r.stdout);
      assert.equal(report.format, 'tflite');
      assert.equal(report.ops.length, want.ops);
      assert.equal(report.totals.macs, want.macs);
      assert.equal(report.cutPoints.length, want.cuts);
      assert.equal(report.input.dtype, want.dtype);
    });
  }

  it('loadModel reads .tflite files through the format detector', async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    assert.equal(g.metadata.format, 'tflite');
    assert.equal(g.name, 'kws_ref_model');
  });
});
