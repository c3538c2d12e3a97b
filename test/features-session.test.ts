// PruneSession on feature caches: a second session on the same cache reuses every shard and
// trains to the same numbers; augmented examples load the same in any order (so extraction can
// run in parallel and resume).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemoModel } from '../src/demo/model.js';
import { openDataset } from '../src/data/open.js';
import { resolveCutPoint } from '../src/prune/cut.js';
import { preparePruneData } from '../src/prune/data.js';
import { PAPER_SCHEDULES, PruneSession } from '../src/prune/train.js';
import { data as sharedData, needsShared } from './helpers/shared.js';

test('a second session reuses the cached features (no extraction) and trains to the same numbers', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'tinyprune-session-'));
  try {
    const data = await preparePruneData('synthetic:shapes?n=160&seed=4&size=32', 1);
    const base = buildDemoModel(data.train.inputShape, data.train.classes, 1);
    const cut = resolveCutPoint(base, 'block2');
    const opts = {
      seed: 3,
      schedule: { ...PAPER_SCHEDULES.vww, epochs: 2 },
      views: 1,
      mixup: 0.4,
      distill: { alpha: 0.5, temperature: 4 },
    };
    const once = async () => {
      const s = await PruneSession.open(base, data, { cacheDir, workers: 0, shardSize: 32 });
      const u = await s.unprunedAccuracy();
      const r = await s.prune(cut, 'aux', opts);
      return { s, u, r };
    };
    const a = await once();
    assert.ok(a.s.extraction.builtShards > 0);
    assert.equal(a.s.extraction.reusedShards, 0);
    const b = await once();
    assert.equal(b.s.extraction.builtShards, 0, 'nothing extracted again');
    assert.equal(b.s.extraction.reusedShards, a.s.extraction.builtShards);
    assert.deepEqual(b.u.test, a.u.test);
    assert.deepEqual(
      b.r.epochs.map((e) => e.loss),
      a.r.epochs.map((e) => e.loss),
    );
    assert.deepEqual(b.r.test, a.r.test);
    // The unpruned model's test accuracy from the cache equals the model run on the inputs.
    assert.equal(a.u.test.n, data.test.length);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

test('prune before unprunedAccuracy loads each clean example once for both, with the same stores and numbers', async () => {
  const dirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'tinyprune-session-')));
  try {
    const data = await preparePruneData('synthetic:shapes?n=120&seed=5&size=32', 2);
    const base = buildDemoModel(data.train.inputShape, data.train.classes, 2);
    const cut = resolveCutPoint(base, 'block2');
    const opts = {
      seed: 3,
      schedule: { ...PAPER_SCHEDULES.vww, epochs: 1 },
      distill: { alpha: 0.5, temperature: 4 },
    };
    const open = (cacheDir: string) =>
      PruneSession.open(base, data, { cacheDir, workers: 0, shardSize: 16 });
    // Separately: the unpruned pass loads every clean example, then the cut loads them again.
    const apart = await open(dirs[0]!);
    const u1 = await apart.unprunedAccuracy();
    const r1 = await apart.prune(cut, 'aux', opts);
    // Together: one load of each clean example fills the cut's and the unpruned model's stores.
    const together = await open(dirs[1]!);
    const r2 = await together.prune(cut, 'aux', opts);
    const rowsBefore = together.extraction.rows;
    const u2 = await together.unprunedAccuracy();
    const n = data.train.length + data.val.length + data.test.length;
    assert.equal(apart.extraction.examples, 2 * n);
    assert.equal(together.extraction.examples, n, 'each clean example loaded once');
    assert.equal(together.extraction.rows, apart.extraction.rows, 'the same rows written');
    assert.equal(together.extraction.rows, rowsBefore, 'unprunedAccuracy found its stores made');
    assert.deepEqual(u2, u1);
    assert.deepEqual(r2.test, r1.test);
    assert.deepEqual(
      r2.epochs.map((e) => e.loss),
      r1.epochs.map((e) => e.loss),
    );
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test(
  'augmented Speech Commands clips load the same in any order',
  { skip: needsShared },
  async () => {
    const spec = `speech-commands:${sharedData('speech_commands_v2_test')}?noiseDir=${sharedData('speech_commands_background_noise')}`;
    const open = () => openDataset(spec, { augment: { seed: 11 }, cache: false });
    const a = await open();
    const b = await open();
    const forward = [await a.load(3), await a.load(7)];
    const backward = [await b.load(7), await b.load(3)];
    assert.deepEqual(forward[0], backward[1]);
    assert.deepEqual(forward[1], backward[0]);
    assert.notDeepEqual(forward[0], await (await openDataset(spec, { cache: false })).load(3));
  },
);
