// fit(): seeded determinism, learning on a learnable problem, schedules, distillation loss,
// best-validation checkpoint, early stopping, data-parallel workers, bad data. The fit tests run
// on the default backend (torch when the addon is built); TINYPRUNE_BACKEND=wasm runs them on
// the tfjs-wasm fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend, tf } from '../src/engine/backend.js';
import { TfModel } from '../src/engine/model.js';
import { createTrainable } from '../src/engine/trainable.js';
import { batchLoss, evaluate, fit, learningRate } from '../src/engine/train.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';
import { TinypruneError } from '../src/graph/types.js';
import { tinyNet } from './engine.fixtures.js';

/** Labels from the sign of two input pixels: learnable by the tiny net. */
function problem(n: number, seed: number) {
  const x = randomNormalArray(new Rng(seed), n * 360);
  const y = Int32Array.from(
    { length: n },
    (_, i) => (x[i * 360]! > 0 ? 1 : 0) + (x[i * 360 + 4]! > 0 ? 1 : 0),
  );
  return { x, y, n };
}

test('same seed, same numbers; training lowers the loss', async () => {
  await useBackend('wasm');
  const train = problem(64, 5);
  const run = async (seed: number) => {
    const m = await createTrainable(tinyNet(1), { threads: 1 });
    const h = await fit(m, { train, epochs: 4, batchSize: 16, lr: 0.01, seed });
    const w = m.getWeights()[0]!;
    m.dispose();
    return { h, w };
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.deepEqual(a.w, b.w);
  assert.deepEqual(
    a.h.epochs.map((e) => e.loss),
    b.h.epochs.map((e) => e.loss),
  );
  assert.notDeepEqual(a.w, c.w, 'another seed shuffles differently');
  assert.equal(a.h.steps, 16);
  assert.ok(a.h.epochs[3]!.loss < a.h.epochs[0]!.loss, `loss ${a.h.epochs.map((e) => e.loss)}`);
});

test('piecewise-constant learning rates by step and by epoch', () => {
  const s = { boundaries: [10, 20], values: [1e-3, 5e-4, 2.5e-4], unit: 'step' as const };
  assert.equal(learningRate(s, 0, 0), 1e-3);
  assert.equal(learningRate(s, 10, 0), 5e-4);
  assert.equal(learningRate(s, 25, 0), 2.5e-4);
  assert.equal(learningRate({ ...s, unit: 'epoch' }, 25, 12), 5e-4);
  assert.equal(learningRate(0.1, 5, 5), 0.1);
  // Epochs counted fractionally (10 steps an epoch): whole boundaries change at the same steps,
  // fractional ones part-way through an epoch.
  const e = { ...s, unit: 'epoch' as const };
  for (let step = 0; step < 250; step++)
    assert.equal(
      learningRate(e, step, Math.floor(step / 10), 10),
      learningRate(e, step, Math.floor(step / 10)),
    );
  const f = { boundaries: [0.4, 0.8], values: [5e-4, 1e-4, 2e-5], unit: 'epoch' as const };
  assert.deepEqual(
    [0, 3, 4, 7, 8, 9].map((step) => learningRate(f, step, 0, 10)),
    [5e-4, 5e-4, 1e-4, 1e-4, 2e-5, 2e-5],
  );
});

test('distillation loss: α·CE + (1−α)·T²·KL, zero KL when student equals teacher', async () => {
  await useBackend('wasm');
  const logits = tf.tensor2d([
    [1, 2, 0.5],
    [0.1, -1, 2],
  ]);
  const labels = tf.tensor1d([1, 2], 'int32');
  const ce = batchLoss(logits, labels, 3).dataSync()[0]!;
  // Independent: CE by hand.
  const rows = [
    [1, 2, 0.5],
    [0.1, -1, 2],
  ];
  const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
  const want = (-(2 - lse(rows[0]!)) - (2 - lse(rows[1]!))) / 2;
  assert.ok(Math.abs(ce - want) < 1e-5);
  const same = batchLoss(logits, labels, 3, logits, { alpha: 0.3, temperature: 4 }).dataSync()[0]!;
  assert.ok(Math.abs(same - 0.3 * ce) < 1e-5, 'KL(p||p) = 0');
  const teacher = tf.tensor2d([
    [0, 0, 3],
    [1, 1, 1],
  ]);
  const T = 2;
  const soft = (r: number[]) => r.map((v) => Math.exp(v / T - lse(r.map((u) => u / T))));
  const kl =
    [0, 1]
      .map((i) => {
        const p = soft(
          [
            [0, 0, 3],
            [1, 1, 1],
          ][i]!,
        );
        const q = soft(rows[i]!);
        return p.reduce((a, pv, k) => a + pv * Math.log(pv / q[k]!), 0);
      })
      .reduce((a, b) => a + b) / 2;
  const got = batchLoss(logits, labels, 3, teacher, { alpha: 0.5, temperature: T }).dataSync()[0]!;
  assert.ok(Math.abs(got - (0.5 * ce + 0.5 * T * T * kl)) < 1e-5, `${got}`);
});

test('validation keeps the best checkpoint; patience stops early', async () => {
  await useBackend('wasm');
  const train = problem(64, 9);
  const validation = problem(48, 10);
  const m = await createTrainable(tinyNet(1), { threads: 1 });
  const seen: number[] = [];
  const h = await fit(m, {
    train,
    validation,
    epochs: 30,
    batchSize: 16,
    lr: 0.05,
    patience: 2,
    seed: 1,
    onEpochEnd: (l) => void seen.push(l.valAccuracy!),
  });
  assert.ok(h.epochs.length < 30, 'early stopping');
  assert.equal(seen.length, h.epochs.length);
  assert.equal(h.bestValAccuracy, Math.max(...seen));
  assert.equal(h.epochs.length - 1 - h.bestEpoch, 2, 'stopped 2 epochs after the best');
  assert.equal(evaluate(m, validation).accuracy, h.bestValAccuracy, 'holds the best weights');
});

test('ema: the model ends with the bias-corrected moving average of the step weights', async () => {
  await useBackend('wasm');
  const train = problem(64, 5);
  const m = await createTrainable(tinyNet(1), { threads: 1 });
  // The weights after each step, read back from the model (an independent path to the average).
  const avg = m.getWeights().map((w) => Float64Array.from(w));
  let last: Float32Array[] = [];
  await fit(m, {
    train,
    epochs: 3,
    batchSize: 16,
    lr: 0.02,
    seed: 4,
    ema: 0.9,
    onStepEnd: (t) => {
      const d = Math.min(0.9, (1 + t) / (10 + t));
      last = m.getWeights();
      last.forEach((ws, k) => ws.forEach((w, i) => (avg[k]![i] = d * avg[k]![i]! + (1 - d) * w)));
    },
  });
  let fromRaw = 0;
  m.getWeights().forEach((v, k) =>
    v.forEach((w, i) => {
      assert.ok(Math.abs(w - avg[k]![i]!) < 1e-5, `w${k}[${i}] ${w} vs ${avg[k]![i]}`);
      fromRaw = Math.max(fromRaw, Math.abs(w - last[k]![i]!));
    }),
  );
  assert.ok(fromRaw > 1e-3, `the average differs from the last step's weights (${fromRaw})`);
  // Validation scores the averaged weights, and the kept checkpoint holds them.
  const validation = problem(48, 10);
  const v = await createTrainable(tinyNet(1), { threads: 1 });
  const h = await fit(v, {
    train,
    validation,
    epochs: 3,
    batchSize: 16,
    lr: 0.02,
    seed: 4,
    ema: 0.9,
  });
  assert.equal(evaluate(v, validation).accuracy, h.bestValAccuracy);
  await assert.rejects(fit(v, { train, ema: 1 }), /ema: expected a decay between 0 and 1, found 1/);
});

test('two data-parallel workers train the same problem (gradient averaging)', async () => {
  await useBackend('wasm');
  const train = problem(64, 5);
  const m = new TfModel(tinyNet(1));
  const h = await fit(m, { train, epochs: 4, batchSize: 32, lr: 0.01, seed: 7, workers: 2 });
  assert.equal(h.steps, 8);
  assert.ok(h.epochs[3]!.loss < h.epochs[0]!.loss);
  // Without BatchNorm the shard split is exactly one big batch: compare against one worker.
  const noBn = tinyNet(1);
  for (const op of noBn.ops) if (op.kind === 'batchNorm') op.kind = 'relu';
  noBn.ops.forEach((op) => {
    if (op.kind === 'relu') op.inputs = op.inputs.slice(0, 1);
  });
  const one = new TfModel(noBn);
  const two = new TfModel(noBn);
  await fit(one, { train, steps: 2, batchSize: 32, seed: 3 });
  await fit(two, { train, steps: 2, batchSize: 32, seed: 3, workers: 2 });
  const a = one.trainableVariables.map((v) => v.dataSync());
  const b = two.trainableVariables.map((v) => v.dataSync());
  a.forEach((w, k) =>
    w.forEach((v, i) => assert.ok(Math.abs(v - b[k]![i]!) < 1e-5, `w${k}[${i}]`)),
  );
});

test('bad training data is a TinypruneError', async () => {
  await useBackend('wasm');
  const m = new TfModel(tinyNet(1));
  const bad = { x: new Float32Array(360 * 2), y: [0, 7], n: 2 };
  await assert.rejects(fit(m, { train: bad }), (e: unknown) => {
    assert.ok(e instanceof TinypruneError);
    assert.match((e as Error).message, /label 1 is 7, expected a class index in 0..2/);
    return true;
  });
});
