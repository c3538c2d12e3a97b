// K-fold cross-validation splits and the pooling of their rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preparePruneData } from '../src/prune/data.js';
import { poolFolds, type SweepRecord } from '../src/prune/sweep.js';
import { wilson } from '../src/report/stats.js';
import { TinypruneError } from '../src/graph/types.js';

const SPEC = 'synthetic:shapes?n=200&seed=3&size=16';

test('folds: test parts cover every example once; validation and training are disjoint from it', async () => {
  const K = 5;
  const all = await preparePruneData(SPEC, 9);
  const n = all.train.length + all.val.length + all.test.length;
  const tested: string[] = [];
  for (let f = 0; f < K; f++) {
    const d = await preparePruneData(SPEC, 9, { index: f, count: K });
    // Synthetic examples carry no ids: their pixels (each drawn from its own seed) identify them.
    const ids = async (ds: typeof d.train) => {
      const out: string[] = [];
      for (let i = 0; i < ds.length; i++) out.push((await ds.load(i)).join(','));
      return out;
    };
    const [tr, va, te] = [await ids(d.train), await ids(d.val), await ids(d.test)];
    assert.equal(tr.length + va.length + te.length, n);
    assert.equal(new Set([...tr, ...va, ...te]).size, n, 'the three parts are disjoint');
    assert.ok(Math.abs(te.length - n / K) <= 4 && Math.abs(va.length - n / K) <= 4);
    tested.push(...te);
    assert.match(d.split, new RegExp(`${K}-fold cross-validation, fold ${f + 1}`));
    // The same seed gives the same fold.
    const again = await preparePruneData(SPEC, 9, { index: f, count: K });
    assert.deepEqual(await ids(again.test), te);
  }
  assert.equal(new Set(tested).size, n, 'every example is tested exactly once');
  await assert.rejects(
    preparePruneData(SPEC, 9, { index: 5, count: 5 }),
    (e: Error) => e instanceof TinypruneError && /--folds/.test(e.message),
  );
});

test('pooled rows sum the folds: accuracy over all test examples, drop vs the pooled unpruned', () => {
  const row = (cut: string, correct: number, n: number, file?: string): SweepRecord => ({
    cut,
    head: cut === 'full' ? 'original' : 'aux',
    variant: cut === 'full' ? 'unpruned' : 'frozen',
    params: 10,
    macs: 20,
    peakActivationBytes: 30,
    test: wilson(correct, n),
    val: wilson(correct, n),
    dropVsUnpruned: 0,
    ...(file && { file }),
  });
  const pooled = poolFolds([
    [row('full', 90, 100), row('b2', 70, 100, 'f1.tflite')],
    [row('full', 45, 50), row('b2', 40, 50, 'f2.tflite')],
  ]);
  assert.deepEqual(
    pooled.map((r) => [r.cut, r.test.correct, r.test.n]),
    [
      ['full', 135, 150],
      ['b2', 110, 150],
    ],
  );
  assert.ok(Math.abs(pooled[1]!.dropVsUnpruned - 25 / 150) < 1e-12);
  assert.equal(pooled[1]!.file, undefined, 'no single model stands for the pooled row');
});
