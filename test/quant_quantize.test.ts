import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTensor, cloneGraph, createGraph } from '../src/graph/graph.js';
import { inferShapes } from '../src/graph/shapes.js';
import type { Graph } from '../src/graph/types.js';
import { TinypruneError } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { readTflite } from '../src/io/tflite/reader.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { quantizeGraph, type CalibrationMethod } from '../src/quant/quantize.js';
import { runFloat } from '../src/quant/floatRef.js';
import { prepareInt8, runInt8 } from '../src/quant/interpreter.js';
import { quantizeInt8 } from '../src/data/quantize.js';
import { Rng } from '../src/data/random.js';
import { kwsExamples, pick } from './helpers/eembc.js';
import { model, needsShared } from './helpers/shared.js';
import { createTfliteRunner } from './helpers/tfliteRuntime.js';

/** input 4x4x2 → 1x1 conv (3 channels, channel 2 nearly dead but with a bias) + ReLU → output */
function deadChannelGraph() {
  const g = createGraph('dead-channel');
  addTensor(g, { name: 'x', shape: [1, 4, 4, 2], dtype: 'float32' });
  const w = new Float32Array([0.5, -0.25, 0.3, 0.8, 1e-31, -2e-31]);
  addTensor(g, { name: 'w', shape: [3, 1, 1, 2], dtype: 'float32', data: w });
  addTensor(g, {
    name: 'b',
    shape: [3],
    dtype: 'float32',
    data: new Float32Array([0.1, -0.2, 0.7]),
  });
  addTensor(g, { name: 'y', shape: [], dtype: 'float32' });
  g.ops.push({
    kind: 'conv2d',
    name: 'conv',
    inputs: ['x', 'w', 'b'],
    outputs: ['y'],
    attrs: { strides: [1, 1], padding: 'valid', activation: 'relu' },
  });
  g.inputs = ['x'];
  g.outputs = ['y'];
  inferShapes(g);
  return g;
}

test('a nearly dead channel keeps its bias through int8 quantisation', async () => {
  const g = deadChannelGraph();
  const rng = new Rng(7);
  const calib = Array.from({ length: 20 }, () =>
    Float32Array.from({ length: 32 }, () => rng.uniform(-1, 1)),
  );
  const q = await quantizeGraph(g, calib);
  const xq = q.tensors.get('x')!.quant!;
  const yq = q.tensors.get('y')!.quant!;
  const x = calib[3]!;
  const want = runFloat(g, [x])[0]!;
  const got = runInt8(q, [quantizeInt8(x, xq.scale[0]!, xq.zeroPoint[0]!)])[0]!;
  const s = yq.scale[0]!;
  for (let i = 0; i < want.length; i++) {
    const value = (got[i]! - yq.zeroPoint[0]!) * s;
    // Input rounding propagates: a few output steps on the live channels, one on the dead one
    // (channel 2: its bias alone, 0.7 after ReLU, at every pixel).
    const tolerance = i % 3 === 2 ? s : 3 * s;
    assert.ok(
      Math.abs(value - want[i]!) <= tolerance,
      `output ${i}: int8 ${value} vs float ${want[i]}`,
    );
  }
});

/** input 4x4x2 → 1x1 conv (4 filters) → 1x1 conv (3 filters) + ReLU → output */
function twoConvGraph(): Graph {
  const g = createGraph('two-conv');
  const rng = new Rng(11);
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
  addTensor(g, { name: 'x', shape: [1, 4, 4, 2], dtype: 'float32' });
  addTensor(g, { name: 'w1', shape: [4, 1, 1, 2], dtype: 'float32', data: rand(8) });
  addTensor(g, { name: 'b1', shape: [4], dtype: 'float32', data: rand(4) });
  addTensor(g, { name: 'h', shape: [], dtype: 'float32' });
  addTensor(g, { name: 'w2', shape: [3, 1, 1, 4], dtype: 'float32', data: rand(12) });
  addTensor(g, { name: 'b2', shape: [3], dtype: 'float32', data: rand(3) });
  addTensor(g, { name: 'y', shape: [], dtype: 'float32' });
  const conv = (name: string, inputs: string[], output: string, relu: boolean) =>
    g.ops.push({
      kind: 'conv2d',
      name,
      inputs,
      outputs: [output],
      attrs: { strides: [1, 1], padding: 'valid', activation: relu ? 'relu' : 'none' },
    });
  conv('conv1', ['x', 'w1', 'b1'], 'h', false);
  conv('conv2', ['h', 'w2', 'b2'], 'y', true);
  g.inputs = ['x'];
  g.outputs = ['y'];
  inferShapes(g);
  return g;
}

/** 200 uniform samples in [-1, 1); sample 57 has one outlier value, 50. */
function calibrationWithOutlier(): Float32Array[] {
  const rng = new Rng(3);
  const calib = Array.from({ length: 200 }, () =>
    Float32Array.from({ length: 32 }, () => rng.uniform(-1, 1)),
  );
  calib[57]![13] = 50;
  return calib;
}

/** Width of the real range an int8 activation tensor represents (255 steps). */
function rangeWidth(g: Graph, name: string): number {
  const q = g.tensors.get(name)!.quant!;
  return 255 * q.scale[0]!;
}

const activations = (g: Graph) => [...g.tensors.values()].filter((t) => !t.data).map((t) => t.name);

/** Checks that `q` is a well-formed full-integer graph the official runtime accepts and agrees with. */
async function assertValidInt8(q: Graph, samples: Float32Array[]) {
  for (const t of q.tensors.values()) {
    if (!t.data) {
      assert.equal(t.dtype, 'int8', `${t.name} dtype`);
      assert.equal(t.quant?.scale.length, 1, `${t.name}: one scale`);
      assert.ok(t.quant!.scale[0]! > 0 && Number.isFinite(t.quant!.scale[0]!), t.name);
      const zp = t.quant!.zeroPoint[0]!;
      assert.ok(Number.isInteger(zp) && zp >= -128 && zp <= 127, `${t.name} zero point ${zp}`);
    } else if (t.name.startsWith('w')) {
      assert.equal(t.dtype, 'int8', `${t.name} dtype`);
      assert.ok(t.data instanceof Int8Array);
      assert.ok(t.quant!.zeroPoint.every((z) => z === 0));
    } else {
      assert.equal(t.dtype, 'int32', `${t.name} dtype`);
      assert.ok(t.data instanceof Int32Array);
    }
  }
  const bytes = writeTflite(q);
  const back = readTflite(bytes, 'q.tflite');
  const ours = prepareInt8(back);
  const official = await createTfliteRunner(bytes);
  try {
    const xq = q.tensors.get('x')!.quant!;
    for (const x of samples) {
      const input = quantizeInt8(x, xq.scale[0]!, xq.zeroPoint[0]!);
      const a = ours.run([input])[0]!;
      const b = official.run([input])[0] as Int8Array;
      a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1, `output ${i}: ${v} vs ${b[i]}`));
    }
  } finally {
    official.close();
  }
}

/** Mean absolute error of the dequantised int8 output against float over `samples`. */
function meanAbsError(g: Graph, q: Graph, samples: Float32Array[]): number {
  const xq = q.tensors.get('x')!.quant!;
  const yq = q.tensors.get('y')!.quant!;
  let err = 0;
  let n = 0;
  for (const x of samples) {
    const want = runFloat(g, [x])[0]!;
    const got = runInt8(q, [quantizeInt8(x, xq.scale[0]!, xq.zeroPoint[0]!)])[0]!;
    for (let i = 0; i < want.length; i++, n++)
      err += Math.abs((got[i]! - yq.zeroPoint[0]!) * yq.scale[0]! - want[i]!);
  }
  return err / n;
}

test('percentile and mse give valid int8 graphs with ranges no wider than minmax', async () => {
  const g = twoConvGraph();
  const calib = calibrationWithOutlier();
  const minmax = await quantizeGraph(g, calib, { method: 'minmax' });
  const percentile = await quantizeGraph(g, calib, { method: 'percentile', percentile: 99.9 });
  const mse = await quantizeGraph(g, calib, { method: 'mse' });
  const normal = calib.slice(0, 10);
  for (const q of [minmax, percentile, mse]) await assertValidInt8(q, normal);
  assert.deepEqual(activations(minmax), ['x', 'h', 'y']);
  for (const name of activations(minmax)) {
    const wide = rangeWidth(minmax, name);
    for (const [method, q] of [
      ['percentile', percentile],
      ['mse', mse],
    ] as const)
      assert.ok(
        rangeWidth(q, name) <= wide * (1 + 1e-6),
        `${name}: ${method} range ${rangeWidth(q, name)} wider than minmax ${wide}`,
      );
  }
  // minmax stretches the input range to the outlier (≥ 51 wide); percentile 99.9 clips that one
  // value (1 of 6,400) and keeps about [-1, 1]; the conv outputs the outlier drives shrink too.
  assert.ok(rangeWidth(minmax, 'x') > 50, `minmax x range ${rangeWidth(minmax, 'x')}`);
  assert.ok(rangeWidth(percentile, 'x') < 2.1, `percentile x range ${rangeWidth(percentile, 'x')}`);
  for (const name of ['h', 'y'])
    assert.ok(
      rangeWidth(percentile, name) < rangeWidth(minmax, name) / 4,
      `${name}: percentile ${rangeWidth(percentile, name)} vs minmax ${rangeWidth(minmax, name)}`,
    );
  // …which is the point of clipping: the ordinary samples come out far more accurately.
  const errMinmax = meanAbsError(g, minmax, normal);
  const errPercentile = meanAbsError(g, percentile, normal);
  assert.ok(errPercentile < errMinmax / 4, `error ${errPercentile} vs minmax ${errMinmax}`);
  assert.match(percentile.metadata.quantization!, /percentile, 200 samples/);
});

test('the same calibration set gives byte-identical .tflite files', async () => {
  const g = twoConvGraph();
  for (const method of ['minmax', 'percentile', 'mse'] as const) {
    const a = writeTflite(await quantizeGraph(g, calibrationWithOutlier(), { method }));
    // A fresh copy of the graph and of the samples, iterated lazily this time.
    const b = writeTflite(
      await quantizeGraph(cloneGraph(g), calibrationWithOutlier().values(), { method }),
    );
    assert.ok(Buffer.from(a).equals(Buffer.from(b)), `${method}: bytes differ`);
  }
});

/** Asserts that `p` rejects with a TinypruneError whose message matches `re`. */
async function rejectsWith(p: Promise<unknown>, re: RegExp) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof TinypruneError, `expected a TinypruneError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('quantizeGraph rejects bad calibration sets and options with a message naming the problem', async () => {
  const g = twoConvGraph();
  const calib = calibrationWithOutlier().slice(0, 4);
  await rejectsWith(quantizeGraph(g, []), /calibration set is empty/);
  await rejectsWith(
    quantizeGraph(g, [calib[0]!, calib[1]!.subarray(0, 31)]),
    /calibration sample 1 for input "x": expected a Float32Array of 32 values, found 31 values/,
  );
  await rejectsWith(
    quantizeGraph(g, [new Float32Array(33)]),
    /sample 0 .*expected a Float32Array of 32 values, found 33 values/,
  );
  await rejectsWith(
    quantizeGraph(g, [Array.from(calib[0]!) as unknown as Float32Array]),
    /expected a Float32Array of 32 values, found object/,
  );
  await rejectsWith(
    quantizeGraph(g, calib, { method: 'kmeans' as CalibrationMethod }),
    /method: expected minmax, percentile or mse, found "kmeans"/,
  );
  for (const p of [50, 40, 100.5, -1, Number.NaN])
    await rejectsWith(
      quantizeGraph(g, calib, { method: 'percentile', percentile: p }),
      new RegExp(`percentile: expected a number in \\(50, 100\\], found ${p}`),
    );
  // 100 is the largest valid percentile (keeps the whole range, as minmax).
  const full = await quantizeGraph(g, calib, { method: 'percentile', percentile: 100 });
  assert.equal(full.tensors.get('x')!.dtype, 'int8');
});

test('quantizeGraph names an op it cannot quantise', async () => {
  // x → dequantize: an op kind with no int8 form.
  const g = createGraph('unquantisable');
  addTensor(g, { name: 'x', shape: [1, 4], dtype: 'float32' });
  addTensor(g, { name: 'r', shape: [1, 4], dtype: 'float32' });
  addTensor(g, { name: 'y', shape: [1, 4], dtype: 'float32' });
  g.ops.push({ kind: 'relu', name: 'act', inputs: ['x'], outputs: ['r'], attrs: {} });
  g.ops.push({ kind: 'dequantize', name: 'deq', inputs: ['r'], outputs: ['y'], attrs: {} });
  g.inputs = ['x'];
  g.outputs = ['y'];
  await rejectsWith(
    quantizeGraph(g, [new Float32Array(4)]),
    /cannot quantise op 1 \(dequantize "deq"\) to int8/,
  );
  // An unfolded BatchNorm has its own message, pointing at the fix.
  const bn = createGraph('with-bn');
  addTensor(bn, { name: 'x', shape: [1, 4], dtype: 'float32' });
  for (const p of ['gamma', 'beta', 'mean', 'variance'])
    addTensor(bn, { name: p, shape: [4], dtype: 'float32', data: new Float32Array(4).fill(1) });
  addTensor(bn, { name: 'y', shape: [1, 4], dtype: 'float32' });
  bn.ops.push({
    kind: 'batchNorm',
    name: 'bn',
    inputs: ['x', 'gamma', 'beta', 'mean', 'variance'],
    outputs: ['y'],
    attrs: { epsilon: 1e-3 },
  });
  bn.inputs = ['x'];
  bn.outputs = ['y'];
  await rejectsWith(
    quantizeGraph(bn, [new Float32Array(4)]),
    /with-bn: fold BatchNorm into the convolutions before quantising/,
  );
});

test(
  'KWS: percentile and mse ranges are no wider than minmax, and quantising is deterministic',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model_float32.tflite'));
    const calib = pick(await kwsExamples(), 50, 99).map((e) => e.x);
    const minmax = await quantizeGraph(g, calib, { method: 'minmax' });
    const again = await quantizeGraph(g, calib, { method: 'minmax' });
    assert.ok(Buffer.from(writeTflite(minmax)).equals(Buffer.from(writeTflite(again))));
    let narrower = 0;
    for (const [method, opts] of [
      ['percentile', { method: 'percentile', percentile: 99.9 }],
      ['mse', { method: 'mse' }],
    ] as const) {
      const q = await quantizeGraph(g, calib, opts);
      const bytes = writeTflite(q);
      const runner = await createTfliteRunner(bytes); // the official runtime accepts it
      runner.close();
      for (const name of activations(minmax)) {
        const [a, b] = [rangeWidth(q, name), rangeWidth(minmax, name)];
        assert.ok(a <= b * (1 + 1e-6), `${method} ${name}: ${a} wider than minmax ${b}`);
        if (a < b * 0.99) narrower++;
      }
    }
    assert.ok(narrower > 0, 'no range got narrower');
  },
);
