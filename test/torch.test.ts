// The libtorch backend against the tfjs-wasm backend, two independent implementations of the
// same Graph semantics: forward within 1e-5, gradients within 1e-4 relative (per op, on the
// paper's aux head, with distillation and BatchNorm in training mode), training steps, the
// shared fit callbacks, and backend selection. Skipped when the addon is not built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTensor, createGraph } from '../src/graph/graph.js';
import type { Graph, OpAttrs, OpKind } from '../src/graph/types.js';
import { TinypruneError } from '../src/graph/types.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';
import { loadTorch } from '../src/engine/torch.js';
import { createTrainable, resolveBackend, type Trainable } from '../src/engine/trainable.js';
import { evaluate, fit } from '../src/engine/train.js';
import { attachHead, parseHead } from '../src/prune/heads.js';
import { parseCommandArgs } from '../src/cli/command.js';
import { pruneCommand, pruneOptionsFrom } from '../src/cli/commands/prune.js';
import { GraphBuilder, tinyNet } from './engine.fixtures.js';

const torch = loadTorch();
const skip = torch.addon
  ? false
  : `the libtorch addon is not built (${torch.error}); npm run bootstrap builds it`;

/** max |a − b| over max |b|: the relative tolerance used for gradients and forward passes. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  assert.equal(a.length, b.length);
  let scale = floor;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]!));
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
  }
  return d / scale;
}

async function both(g: Graph): Promise<[Trainable, Trainable]> {
  return [
    await createTrainable(g, { backend: 'torch', threads: 1 }),
    await createTrainable(g, { backend: 'wasm' }),
  ];
}

function batch(g: Graph, n: number, seed: number, classes: number) {
  const per = g.tensors
    .get(g.inputs[0]!)!
    .shape.slice(1)
    .reduce((a, b) => a * b, 1);
  const rng = new Rng(seed);
  const x = randomNormalArray(rng, n * per);
  const y = Int32Array.from({ length: n }, () => rng.int(classes));
  const teacher = randomNormalArray(rng, n * classes, 2);
  return { x, y, n, teacher };
}

/**
 * Forward within 1e-5 (relative to the output's scale, at least 1) and gradients within 1e-4 of
 * each tensor's largest gradient. A gradient that is zero in exact arithmetic (a bias feeding a
 * BatchNorm) is rounding noise on both sides (~1e-6 of the largest): scales are floored at 0.1 of the largest
 * gradient of the model.
 */
async function agree(g: Graph, classes: number, distill = false, n = 6, forwardOnly = false) {
  const [t, w] = await both(g);
  const b = batch(g, n, 11, classes);
  const ft = t.predict(b.x, n);
  const fw = w.predict(b.x, n);
  let scale = 1;
  for (const v of fw) scale = Math.max(scale, Math.abs(v));
  assert.ok(relDiff(ft, fw) * scale <= 1e-5 * scale, `forward differs by ${relDiff(ft, fw)}`);
  if (forwardOnly) return;
  const d = distill ? { alpha: 0.3, temperature: 4 } : undefined;
  const gt = t.gradients(b, d);
  const gw = w.gradients(b, d);
  assert.ok(Math.abs(gt.lossSum - gw.lossSum) <= 1e-5 * Math.max(1, Math.abs(gw.lossSum)));
  assert.equal(gt.correct, gw.correct);
  assert.equal(gt.grads.length, w.trainableNames.length);
  const top = Math.max(...gw.grads.map((x) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
  gt.grads.forEach((a, k) => {
    const r = relDiff(a, gw.grads[k]!, 0.1 * top);
    assert.ok(r <= 1e-4, `gradient of ${w.trainableNames[k]} differs by ${r.toExponential(2)}`);
  });
  // Training mode moved the trainable BatchNorms' moving statistics the same way.
  const st = t.getState();
  for (const [name, v] of w.getState()) {
    // Weights are in each backend's own layout here; the statistics are plain vectors.
    if (!st.has(name) || w.trainableNames.includes(name)) continue;
    assert.ok(relDiff(st.get(name)!, v) <= 1e-5, `state ${name}`);
  }
  t.dispose();
  w.dispose();
}

/** input → the op under test → dense layer (the logits the loss reads). */
function oneOp(kind: OpKind, attrs: OpAttrs, inputShape = [9, 7, 4], params = 0): Graph {
  const b = new GraphBuilder(kind, inputShape, new Rng(5));
  let x = 'input';
  const c = inputShape[inputShape.length - 1]!;
  if (kind === 'conv2d') x = b.op(kind, [x, b.const([6, 3, 3, c]), b.const([6], 0.1)], attrs);
  else if (kind === 'depthwiseConv2d') {
    const m = attrs.depthMultiplier ?? 1;
    x = b.op(kind, [x, b.const([1, 3, 3, c * m]), b.const([c * m], 0.1)], attrs);
  } else if (kind === 'batchNorm') x = b.bn(x);
  else if (kind === 'add') x = b.op(kind, [x, params ? b.const([1, ...inputShape]) : x], attrs);
  else x = b.op(kind, [x], attrs);
  return b.finish(b.fc(x, 3));
}

const OP_CASES: [string, Graph][] = [
  [
    'conv2d same stride 2 relu',
    oneOp('conv2d', { strides: [2, 2], padding: 'same', activation: 'relu' }),
  ],
  [
    'conv2d valid relu6',
    oneOp('conv2d', { strides: [1, 1], padding: 'valid', activation: 'relu6' }),
  ],
  [
    'conv2d same dilated',
    oneOp('conv2d', { strides: [1, 1], padding: 'same', dilations: [2, 2], activation: 'none' }),
  ],
  [
    'depthwise same stride 2',
    oneOp('depthwiseConv2d', { strides: [2, 2], padding: 'same', activation: 'relu' }),
  ],
  [
    'depthwise multiplier 2 valid',
    oneOp('depthwiseConv2d', { strides: [1, 1], padding: 'valid', depthMultiplier: 2 }),
  ],
  ['batchNorm (training mode)', oneOp('batchNorm', {})],
  [
    'averagePool2d same (asymmetric)',
    oneOp('averagePool2d', { poolSize: [2, 2], strides: [2, 2], padding: 'same' }),
  ],
  [
    'averagePool2d same 3x3 (symmetric)',
    oneOp('averagePool2d', { poolSize: [3, 3], strides: [1, 1], padding: 'same' }),
  ],
  ['averagePool2d global', oneOp('averagePool2d', { poolSize: [9, 7], strides: [1, 1] })],
  [
    'maxPool2d same (asymmetric)',
    oneOp('maxPool2d', { poolSize: [2, 2], strides: [1, 1], padding: 'same' }),
  ],
  ['maxPool2d valid', oneOp('maxPool2d', { poolSize: [3, 3], strides: [2, 2], padding: 'valid' })],
  ['mean keepDims', oneOp('mean', { axes: [1, 2], keepDims: true })],
  ['mean over H only', oneOp('mean', { axes: [1], keepDims: false })],
  ['relu', oneOp('relu', {})],
  ['relu6', oneOp('relu6', {})],
  ['add (two activations, relu)', oneOp('add', { activation: 'relu' })],
  ['add (a constant, broadcast over the batch)', oneOp('add', {}, [9, 7, 4], 1)],
  [
    'pad',
    oneOp('pad', {
      paddings: [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    }),
  ],
];

for (const [name, g] of OP_CASES)
  test(`torch vs wasm, one op: ${name}`, { skip }, async () => {
    // tfjs has no gradient for dilated convolutions: forward only there.
    await agree(g, 3, false, 6, name.includes('dilated'));
  });

test('torch vs wasm, one op: fullyConnected relu on a 3-D input', { skip }, async () => {
  const b = new GraphBuilder('fc', [4, 5], new Rng(5));
  await agree(b.finish(b.fc(b.fc('input', 6, 'relu'), 5)), 5);
});

test(
  'torch vs wasm: softmax with beta, reshape, and every op together (tinyNet)',
  { skip },
  async () => {
    await agree(tinyNet(1), 3);
    const b = new GraphBuilder('beta', [6], new Rng(2));
    const r = b.op('reshape', [b.fc('input', 4)], { newShape: [1, 4] });
    await agree(b.finish(b.op('softmax', [r], { beta: 0.5 })), 4, true);
  },
);

/** The paper's aux head on cached cut features, as PruneSession trains it. */
function auxHead(h: number, w: number, c: number, classes: number): Graph {
  const g = createGraph(`aux ${h}x${w}x${c}`);
  addTensor(g, { name: 'features', shape: [1, h, w, c], dtype: 'float32' });
  g.inputs = ['features'];
  attachHead(g, 'features', parseHead('aux'), classes, new Rng(3));
  return g;
}

test(
  'torch vs wasm: aux head on KWS block 2 and VWW block 5 shapes, with distillation',
  { skip },
  async () => {
    await agree(auxHead(25, 5, 64, 12), 12, true, 20);
    await agree(auxHead(12, 12, 64, 2), 2, false, 8);
  },
);

test('torch vs wasm: fit takes the same Adam and SGD steps', { skip }, async () => {
  // tinyNet: no bias feeds a BatchNorm (Adam would scale that rounding noise up to steps of lr).
  const g = tinyNet(3);
  const data = batch(g, 48, 4, 3);
  const train = { x: data.x, y: data.y, n: 48, teacherLogits: data.teacher };
  for (const optimizer of ['adam', 'sgd'] as const) {
    const [t, w] = await both(g);
    const start = t.predict(data.x, 48);
    const common = { train, steps: 5, batchSize: 16, seed: 2, optimizer, lr: 0.01 };
    const distill = { alpha: 0.5, temperature: 2 };
    const ht = await fit(t, { ...common, distill });
    const hw = await fit(w, { ...common, distill });
    assert.equal(ht.backend, 'torch');
    assert.equal(hw.backend, 'wasm');
    assert.ok(Math.abs(ht.epochs[0]!.loss - hw.epochs[0]!.loss) < 1e-4);
    // The trained models predict the same (weights are in each backend's own layout).
    const r = relDiff(t.predict(data.x, 48), w.predict(data.x, 48));
    assert.ok(r < 1e-4, `${optimizer}: predictions after 5 steps differ by ${r}`);
    assert.ok(relDiff(t.predict(data.x, 48), start) > 1e-3, 'the weights moved');
  }
});

test(
  'torch: the shared callbacks (best checkpoint, early stopping, weight averaging)',
  { skip },
  async () => {
    const g = auxHead(6, 4, 8, 3);
    const d = batch(g, 96, 8, 3);
    const v = batch(g, 48, 9, 3);
    // Labels the head can learn: the sign of one feature.
    const label = (x: Float32Array, n: number) =>
      Int32Array.from({ length: n }, (_, i) =>
        x[i * 192]! > 0.5 ? 2 : x[i * 192]! > -0.5 ? 1 : 0,
      );
    const train = { x: d.x, y: label(d.x, 96), n: 96 };
    const validation = { x: v.x, y: label(v.x, 48), n: 48 };
    const m = await createTrainable(g, { backend: 'torch', threads: 1 });
    const seen: number[] = [];
    const h = await fit(m, {
      train,
      validation,
      epochs: 40,
      batchSize: 16,
      lr: 0.05,
      patience: 2,
      ema: 0.9,
      seed: 1,
      onEpochEnd: (l) => void seen.push(l.valAccuracy!),
    });
    assert.ok(h.epochs.length < 40, 'early stopping');
    assert.equal(h.bestValAccuracy, Math.max(...seen));
    assert.equal(h.epochs.length - 1 - h.bestEpoch, 2);
    assert.equal(evaluate(m, validation).accuracy, h.bestValAccuracy, 'holds the best weights');
    // exportWeights writes Graph layouts the wasm backend reads back to the same predictions.
    const copy = auxHead(6, 4, 8, 3);
    m.exportWeights(copy);
    const w = await createTrainable(copy, { backend: 'wasm' });
    assert.ok(relDiff(w.predict(v.x, 48), m.predict(v.x, 48)) < 1e-5);
  },
);

test('backend choice: auto, TINYPRUNE_BACKEND, and a clear error', () => {
  const saved = process.env.TINYPRUNE_BACKEND;
  try {
    delete process.env.TINYPRUNE_BACKEND;
    assert.equal(resolveBackend('auto'), torch.addon ? 'torch' : 'wasm');
    assert.equal(resolveBackend('wasm'), 'wasm');
    process.env.TINYPRUNE_BACKEND = 'wasm';
    assert.equal(resolveBackend('auto'), 'wasm');
    process.env.TINYPRUNE_BACKEND = 'cuda';
    assert.throws(
      () => resolveBackend('auto'),
      (e: unknown) =>
        e instanceof TinypruneError &&
        /TINYPRUNE_BACKEND: expected torch, wasm or auto/.test(String(e)),
    );
  } finally {
    if (saved === undefined) delete process.env.TINYPRUNE_BACKEND;
    else process.env.TINYPRUNE_BACKEND = saved;
  }
});

test('--backend and --threads: parsed into PruneOptions, bad values are one clear line', () => {
  const parse = (...argv: string[]) =>
    pruneOptionsFrom(parseCommandArgs(pruneCommand, argv), 'prune', 'kws');
  const o = parse('--backend', 'wasm', '--threads', '3');
  assert.equal(o.backend, 'wasm');
  assert.equal(o.threads, 3);
  assert.equal(parse().backend, 'auto');
  assert.equal(parse().threads, undefined);
  assert.throws(
    () => parse('--backend', 'cuda'),
    (e: unknown) =>
      e instanceof TinypruneError &&
      e.message === 'tinyprune prune: --backend expects auto|torch|wasm, found "cuda"',
  );
  assert.throws(() => parse('--threads', '0'), TinypruneError);
});
