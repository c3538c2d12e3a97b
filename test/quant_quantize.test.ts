import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTensor, createGraph } from '../src/graph/graph.js';
import { inferShapes } from '../src/graph/shapes.js';
import { quantizeGraph } from '../src/quant/quantize.js';
import { runFloat } from '../src/quant/floatRef.js';
import { runInt8 } from '../src/quant/interpreter.js';
import { quantizeInt8 } from '../src/data/quantize.js';
import { Rng } from '../src/data/random.js';

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
