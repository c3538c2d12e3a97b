// The Graph executor: every op on wasm vs the cpu backend vs onnxruntime, gradients through the
// model vs cpu, weight export round trips, BatchNorm training mode, frozen tails, user errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend, tf } from '../src/engine/backend.js';
import { TfModel } from '../src/engine/model.js';
import { runOnnx } from '../src/engine/onnxRun.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';
import { cloneGraph } from '../src/graph/graph.js';
import { TinypruneError } from '../src/graph/types.js';
import { GraphBuilder, tinyNet } from './engine.fixtures.js';

const N = 5;
const input = () => randomNormalArray(new Rng(3), N * 12 * 10 * 3);

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!));
  let m = 0;
  for (let i = 0; i < a.length; i++)
    m = Math.max(m, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(a[i]!), scale * 1e-2));
  return m;
}

test('forward: wasm, cpu and onnxruntime agree on a net using every op', async () => {
  const g = tinyNet(1);
  const x = input();
  await useBackend('cpu');
  const cpu = new TfModel(g).predict(x, N);
  await useBackend('wasm');
  const wasm = new TfModel(g).predict(x, N);
  const onnx = await runOnnx(g, x, N, { threads: 1 });
  assert.equal(cpu.length, N * 3);
  assert.ok(maxRelDiff(cpu, wasm) < 1e-4, `wasm vs cpu ${maxRelDiff(cpu, wasm)}`);
  assert.ok(maxRelDiff(cpu, onnx) < 1e-4, `onnx vs cpu ${maxRelDiff(cpu, onnx)}`);
  // Rows differ (batching keeps examples apart) and are probabilities.
  assert.notEqual(cpu[0], cpu[3]);
  for (let i = 0; i < N; i++)
    assert.ok(Math.abs(cpu[i * 3]! + cpu[i * 3 + 1]! + cpu[i * 3 + 2]! - 1) < 1e-5);
  // Batch size does not change results.
  const small = new TfModel(g).predict(x, N, { batchSize: 2 });
  assert.ok(maxRelDiff(wasm, small) < 1e-5);
});

test('gradients through the model (conv, depthwise, dense, BatchNorm training mode) match cpu', async () => {
  const g = tinyNet(2);
  const x = input();
  const labels = Int32Array.from([0, 1, 2, 1, 0]);
  const grads: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const m = new TfModel(g);
    const { grads: gs } = tf.variableGrads(() => {
      const { logits } = m.forward(tf.tensor(x, [N, 12, 10, 3]), true);
      return tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3), logits) as tf.Scalar;
    }, m.trainableVariables);
    grads.push(m.trainableVariables.map((v) => gs[v.name]!.dataSync() as Float32Array));
    m.dispose();
  }
  assert.ok(grads[0]!.length >= 14, 'every weight trains');
  grads[0]!.forEach((want, k) => {
    const got = grads[1]![k]!;
    assert.ok(maxRelDiff(want, got) < 1e-4, `gradient ${k}: ${maxRelDiff(want, got)}`);
    assert.ok(
      want.some((v) => v !== 0),
      `gradient ${k} is all zeros`,
    );
  });
});

test('closed-form BatchNorm and global-pool gradients equal autodiff of the textbook formulas', async () => {
  await useBackend('wasm');
  for (const pool of ['mean', 'averagePool2d'] as const) {
    const b = new GraphBuilder('bn', [5, 3, 8], new Rng(9));
    const gamma = b.const([8], 0.3, 0.5);
    const beta = b.const([8], 0.2);
    const bn = b.op('batchNorm', ['input', gamma, beta, b.const([8]), b.const([8], 0.1, 1)], {
      epsilon: 1e-3,
    });
    const p =
      pool === 'mean'
        ? b.op('mean', [bn], { axes: [1, 2], keepDims: false })
        : b.op('reshape', [b.op('averagePool2d', [bn], { poolSize: [5, 3], padding: 'valid' })], {
            newShape: [1, 8],
          });
    const fcW = b.const([4, 8]);
    const out = b.op('fullyConnected', [p, fcW, b.const([4], 0.1)]);
    b.g.outputs = [out];
    const m = new TfModel(b.g);
    const n = 6;
    const x = tf.tensor(randomNormalArray(new Rng(4), n * 5 * 3 * 8, 2), [n, 5, 3, 8]);
    const probe = tf.tensor(randomNormalArray(new Rng(5), n * 4), [n, 4]);
    const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.sin(y), probe)) as tf.Scalar;
    const ours = tf.grads((xi: tf.Tensor) => loss(m.forward(xi, true).output));
    const [g, bt, w, bias] = [gamma, beta, fcW, out].map((nm) =>
      nm === out
        ? m.weights.get(m.graph.ops[m.graph.ops.length - 1]!.inputs[2]!)!
        : m.weights.get(nm)!,
    );
    const reference = tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
      const { mean, variance } = tf.moments(xi, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.div(tf.sub(xi, mean), tf.sqrt(tf.add(variance, 1e-3))), gi), bi);
      const pooled = tf.mean(y, [1, 2]);
      return loss(tf.add(tf.matMul(pooled, w!, false, true), bias!));
    });
    const [wantX, wantG, wantB] = reference([x, g!, bt!]);
    const [gotX] = ours([x]);
    const { grads } = tf.variableGrads(
      () => loss(m.forward(x, true).output),
      [g as tf.Variable, bt as tf.Variable],
    );
    for (const [what, want, got] of [
      ['dx', wantX!, gotX!],
      ['dgamma', wantG!, grads[(g as tf.Variable).name]!],
      ['dbeta', wantB!, grads[(bt as tf.Variable).name]!],
    ] as const) {
      const d = maxRelDiff(want.dataSync(), got.dataSync());
      assert.ok(d < 1e-4, `${pool} ${what}: ${d}`);
    }
    m.dispose();
  }
});

test('exportWeights round-trips the Graph layouts, and a frozen tail stays untouched', async () => {
  await useBackend('wasm');
  const g = tinyNet(3);
  const copy = cloneGraph(g);
  const m = new TfModel(copy);
  m.exportWeights();
  for (const [name, t] of g.tensors)
    if (t.data) assert.deepEqual(copy.tensors.get(name)!.data, t.data, name);

  // Freeze everything but the two dense layers: BatchNorm runs in inference mode.
  const headOps = new Set(g.ops.filter((o) => o.kind === 'fullyConnected').map((o) => o.name));
  const frozen = new TfModel(cloneGraph(g), { trainable: (_n, op) => headOps.has(op.name) });
  assert.equal(frozen.trainableNames.length, 4);
  assert.equal(frozen.trainingBatchNorms.size, 0);
  const x = tf.tensor(input(), [N, 12, 10, 3]);
  const inference = frozen.forward(x, false).output.dataSync();
  const training = frozen.forward(x, true).output.dataSync();
  assert.deepEqual(training, inference, 'frozen BatchNorm must not use batch statistics');
});

test('BatchNorm in training mode uses batch statistics and moves the moving averages (momentum 0.99)', async () => {
  await useBackend('wasm');
  const g = tinyNet(4);
  const m = new TfModel(g);
  const bn = g.ops.find((o) => o.kind === 'batchNorm')!;
  const mean0 = (m.weights.get(bn.inputs[3]!)!.dataSync() as Float32Array).slice();
  const x = tf.tensor(input(), [N, 12, 10, 3]);
  // The BN input, computed independently: run the ops before it.
  const before = new TfModel({
    ...cloneGraph(g),
    ops: g.ops.slice(0, g.ops.indexOf(bn)),
    outputs: [bn.inputs[0]!],
  });
  const pre = before.forward(x, false).output;
  const batchMean = tf.mean(pre, [0, 1, 2]).dataSync();
  m.forward(x, true);
  const mean1 = m.weights.get(bn.inputs[3]!)!.dataSync();
  for (let c = 0; c < mean0.length; c++)
    assert.ok(
      Math.abs(mean1[c]! - (0.99 * mean0[c]! + 0.01 * batchMean[c]!)) < 1e-5,
      `channel ${c}`,
    );
  const inf = m.forward(x, false).output.dataSync();
  const tr = m.forward(x, true).output.dataSync();
  assert.ok(maxRelDiff(inf, tr) > 1e-3, 'training mode should differ from inference mode');
});

test('user mistakes are TinypruneErrors naming what was expected', async () => {
  await useBackend('wasm');
  const m = new TfModel(tinyNet(1));
  assert.throws(
    () => m.predict(new Float32Array(10), 2),
    (e: unknown) => {
      assert.ok(e instanceof TinypruneError);
      assert.match((e as Error).message, /expected 2 × 360 input values \(2x12x10x3\), got 10/);
      return true;
    },
  );
  const g = tinyNet(1);
  g.tensors.get('input')!.dtype = 'int8';
  assert.throws(() => new TfModel(g), /needs a float32 input, found int8/);
});
