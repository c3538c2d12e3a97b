import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTensor, createGraph, validateGraph, cloneGraph } from '../src/graph/graph.js';
import { inferShapes, convOutputSize, padBefore } from '../src/graph/shapes.js';
import { modelTotals, opStats, peakActivationBytes } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import type { Graph, Op } from '../src/graph/types.js';

/** input 8x8x3 → conv3x3/2 (4) → BN → ReLU → dw3x3 → BN → ReLU → pw (6) → BN → ReLU → mean → fc(2) → softmax */
function tinyNet(): Graph {
  const g = createGraph('tiny');
  const t = (name: string, shape: number[], constant = false) =>
    addTensor(g, {
      name,
      shape,
      dtype: 'float32',
      data: constant ? new Float32Array(shape.reduce((a, b) => a * b, 1)) : undefined,
    });
  t('x', [1, 8, 8, 3]);
  g.inputs = ['x'];
  const bn = (c: number, p: string) =>
    [`${p}_g`, `${p}_b`, `${p}_m`, `${p}_v`].map((n) => t(n, [c], true).name);
  t('w1', [4, 3, 3, 3], true);
  t('b1', [4], true);
  bn(4, 'bn1');
  t('dw', [1, 3, 3, 4], true);
  bn(4, 'bn2');
  t('pw', [6, 1, 1, 4], true);
  t('pwb', [6], true);
  bn(6, 'bn3');
  t('fcw', [2, 6], true);
  t('fcb', [2], true);
  const ops: [Op['kind'], string[], Op['attrs']][] = [
    ['conv2d', ['x', 'w1', 'b1'], { strides: [2, 2], padding: 'same' }],
    ['batchNorm', ['a0', 'bn1_g', 'bn1_b', 'bn1_m', 'bn1_v'], { epsilon: 1e-3 }],
    ['relu', ['a1'], {}],
    ['depthwiseConv2d', ['a2', 'dw'], { strides: [1, 1], padding: 'same', depthMultiplier: 1 }],
    ['batchNorm', ['a3', 'bn2_g', 'bn2_b', 'bn2_m', 'bn2_v'], { epsilon: 1e-3 }],
    ['relu', ['a4'], {}],
    ['conv2d', ['a5', 'pw', 'pwb'], { strides: [1, 1], padding: 'valid' }],
    ['batchNorm', ['a6', 'bn3_g', 'bn3_b', 'bn3_m', 'bn3_v'], { epsilon: 1e-3 }],
    ['relu6', ['a7'], {}],
    ['mean', ['a8'], { axes: [1, 2], keepDims: false }],
    ['fullyConnected', ['a9', 'fcw', 'fcb'], {}],
    ['softmax', ['a10'], { beta: 1 }],
  ];
  ops.forEach(([kind, inputs, attrs], i) => {
    t(`a${i}`, []);
    g.ops.push({ kind, name: `${kind}_${i}`, inputs, outputs: [`a${i}`], attrs });
  });
  g.outputs = ['a11'];
  inferShapes(g);
  return g;
}

test('SAME/VALID output sizes and padding follow TensorFlow', () => {
  assert.equal(convOutputSize(96, 3, 2, 'same'), 48);
  assert.equal(convOutputSize(49, 10, 2, 'same'), 25);
  assert.equal(convOutputSize(10, 4, 2, 'same'), 5);
  assert.equal(convOutputSize(7, 3, 1, 'valid'), 5);
  assert.equal(padBefore(96, 3, 2, 'same'), 0); // total pad 1 goes after
  assert.equal(padBefore(49, 10, 2, 'same'), 4); // total 9: 4 before, 5 after
  assert.equal(padBefore(5, 3, 1, 'same'), 1);
});

test('shape inference through a small depthwise-separable network', () => {
  const g = tinyNet();
  validateGraph(g);
  const shapes = g.ops.map((op) => g.tensors.get(op.outputs[0]!)!.shape);
  assert.deepEqual(shapes[0], [1, 4, 4, 4]);
  assert.deepEqual(shapes[6], [1, 4, 4, 6]);
  assert.deepEqual(shapes[9], [1, 6]);
  assert.deepEqual(shapes[11], [1, 2]);
});

test('parameters and MACs per op, counted as Keras and TFLite do', () => {
  const g = tinyNet();
  const s = opStats(g);
  assert.equal(s[0]!.params, 4 * 27 + 4);
  assert.equal(s[0]!.macs, 4 * 4 * 4 * 27);
  assert.equal(s[1]!.params, 16); // BatchNorm: gamma, beta, mean, variance
  assert.equal(s[3]!.params, 36); // depthwise without bias
  assert.equal(s[3]!.macs, 4 * 4 * 4 * 9);
  assert.equal(s[6]!.macs, 4 * 4 * 6 * 4);
  assert.equal(s[10]!.params, 14);
  assert.equal(s[10]!.macs, 12);
  const totals = modelTotals(g);
  assert.equal(totals.params, 112 + 16 + 36 + 16 + 30 + 24 + 14);
  assert.equal(totals.macs, 1728 + 576 + 384 + 12);
});

test('peak activation memory counts inputs and outputs live together', () => {
  const g = tinyNet();
  // conv: input 8*8*3 floats + output 4*4*4 floats
  assert.equal(peakActivationBytes(g, 1), (192 + 64) * 4);
  assert.equal(peakActivationBytes(g), Math.max(192 + 64, 64 + 96) * 4);
});

test('cut points: a conv block, then a depthwise-separable block', () => {
  const g = tinyNet();
  const cuts = findCutPoints(g);
  assert.deepEqual(
    cuts.map((c) => [c.name, c.tensor, c.opIndex]),
    [
      ['conv1', 'a2', 2],
      ['block1', 'a8', 8],
    ],
  );
  assert.equal(cuts[0]!.params, 112 + 16);
  assert.equal(cuts[1]!.params, 112 + 16 + 36 + 16 + 30 + 24);
  assert.equal(cuts[1]!.macs, 1728 + 576 + 384);
});

test('validateGraph names the op reading a tensor before it exists', () => {
  const g = tinyNet();
  const broken = cloneGraph(g);
  [broken.ops[0], broken.ops[1]] = [broken.ops[1]!, broken.ops[0]!];
  assert.throws(
    () => validateGraph(broken),
    /op 0 \(batchNorm "batchNorm_1"\) reads "a0" before it is produced/,
  );
});

test('cloneGraph copies constant data', () => {
  const g = tinyNet();
  const c = cloneGraph(g);
  (c.tensors.get('w1')!.data as Float32Array)[0] = 5;
  assert.equal((g.tensors.get('w1')!.data as Float32Array)[0], 0);
});
