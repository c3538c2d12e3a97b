// Mixup views for distillation: the Beta sampler behind them, the mixing itself, and the rules
// PruneSession enforces (mixup only with distillation and augmented views), on the demo model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../src/data/random.js';
import { mixup } from '../src/prune/mixup.js';
import { buildDemoModel } from '../src/demo/model.js';
import { preparePruneData } from '../src/prune/data.js';
import { PAPER_SCHEDULES, PruneSession } from '../src/prune/train.js';
import { resolveCutPoint } from '../src/prune/cut.js';

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

test('Rng.gamma and Rng.beta: seeded, in range, with the right means and shapes', () => {
  const draw = (f: (r: Rng) => number, seed: number, n = 20000) => {
    const r = new Rng(seed);
    return Array.from({ length: n }, () => f(r));
  };
  for (const shape of [0.4, 1, 2.5]) {
    const g = draw((r) => r.gamma(shape), 3);
    assert.ok(g.every((x) => x >= 0));
    assert.ok(Math.abs(mean(g) - shape) < 0.05 * shape + 0.02, `gamma(${shape}) mean ${mean(g)}`);
  }
  const b = draw((r) => r.beta(0.4, 0.4), 4);
  assert.deepEqual(
    b.slice(0, 50),
    draw((r) => r.beta(0.4, 0.4), 4, 50),
  );
  assert.ok(b.every((x) => x >= 0 && x <= 1));
  assert.ok(Math.abs(mean(b) - 0.5) < 0.02, `beta mean ${mean(b)}`);
  // Beta(0.4, 0.4) is U-shaped: P(0.1 < λ < 0.9) = 1 − 2·I₀.₁(0.4, 0.4) ≈ 0.521; Beta(2, 2) puts ≈ 0.94 there.
  const middle = (xs: number[]) => xs.filter((x) => x > 0.1 && x < 0.9).length / xs.length;
  assert.ok(Math.abs(middle(b) - 0.521) < 0.02, `beta(0.4) middle ${middle(b)}`);
  assert.ok(middle(draw((r) => r.beta(2, 2), 5)) > 0.9);
  assert.throws(() => new Rng(1).gamma(0), /shape > 0/);
});

test('mixup: each row is λ·own + (1 − λ)·partner, labelled by its larger part, seeded', () => {
  const n = 50;
  const size = 3;
  const x = Float32Array.from(
    { length: n * size },
    (_, k) => Math.floor(k / size) + (k % size) / 10,
  );
  const y = Int32Array.from({ length: n }, (_, i) => i % 4);
  const m = mixup({ x, y, n }, 0.4, 7);
  assert.deepEqual(
    [...m.partner].sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i),
  );
  let mixedRows = 0;
  for (let i = 0; i < n; i++) {
    const l = m.lambda[i]!;
    const j = m.partner[i]!;
    if (j !== i && l > 0.01 && l < 0.99) mixedRows++;
    for (let k = 0; k < size; k++)
      assert.ok(
        Math.abs(m.x[i * size + k]! - (l * x[i * size + k]! + (1 - l) * x[j * size + k]!)) < 1e-5,
      );
    assert.equal(m.y[i], l >= 0.5 ? y[i] : y[j]);
  }
  assert.ok(mixedRows > 10, `${mixedRows} rows really mixed`);
  assert.deepEqual(mixup({ x, y, n }, 0.4, 7).x, m.x);
  assert.notDeepEqual(mixup({ x, y, n }, 0.4, 8).x, m.x);
  assert.throws(
    () => mixup({ x, y, n }, 0, 7),
    /--mixup: expected a Beta parameter above 0, found 0/,
  );
});

test('PruneSession: mixup needs distillation and views; with both it trains, same seed same numbers', async () => {
  const data = await preparePruneData('synthetic:shapes?n=120&seed=5&size=32', 1);
  const base = buildDemoModel(data.train.inputShape, data.train.classes, 1);
  const session = await PruneSession.open(base, data);
  const cut = resolveCutPoint(base, 'block2');
  const schedule = { ...PAPER_SCHEDULES.vww, epochs: 1 };
  const opts = { seed: 2, schedule, views: 1, mixup: 0.4 };
  await assert.rejects(session.prune(cut, 'aux', opts), /--mixup needs --distill and --views/);
  const distill = { alpha: 0.5, temperature: 4 };
  await assert.rejects(
    session.prune(cut, 'aux', { ...opts, distill, views: 0 }),
    /--mixup needs --distill and --views/,
  );
  const run = async () => {
    const r = await session.prune(cut, 'aux', { ...opts, distill });
    return [r.epochs[0]!.loss, r.val.accuracy, r.test.accuracy];
  };
  const first = await run();
  assert.ok(first.every(Number.isFinite));
  assert.deepEqual(await run(), first);
  // The mixed view is cached beside the plain one, not instead of it.
  const plain = await session.view(1);
  const mixed = await session.view(1, { alpha: 0.4, seed: 2 });
  assert.notDeepEqual(mixed.x, plain.x);
  assert.equal(mixed.n, plain.n);
});
