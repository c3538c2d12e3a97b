// trainRow is the one call every sweep row goes through, here or on a queue worker: its result
// must not depend on what the process did before (which rows, in which order, which session).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsShared, model, data } from './helpers/shared.js';
import { loadModel } from '../src/io/load.js';
import { readTflite } from '../src/io/tflite/reader.js';
import { modelTotals } from '../src/graph/accounting.js';
import { PAPER_SCHEDULES } from '../src/prune/train.js';
import { SessionPool, trainRow, UNPRUNED_CUT, type RowSpec } from '../src/prune/row.js';
import { planRows } from '../src/prune/sweep.js';
import { deployableGraph } from '../src/prune/save.js';

test(
  'trainRow: the same row gives the same result alone, after other rows, or in a shared session',
  { skip: needsShared, timeout: 300_000 },
  async () => {
    const base = await loadModel(model('kws_ref_model_float32.tflite'));
    const settings = {
      seed: 4,
      schedule: {
        ...PAPER_SCHEDULES.kws,
        epochs: 2,
        lr: { ...PAPER_SCHEDULES.kws.lr, values: [3e-3, 1e-3, 1e-4] },
      },
    };
    const spec = (cut: string, head: string): RowSpec => ({
      base,
      modelKey: 'kws',
      data: `eembc-kws:${data('eembc_kws01', 'mfcc')}`,
      cut,
      head,
      settings,
    });
    const alone = await trainRow({ ...spec('block2', 'aux'), saveModel: true });
    const sessions = new SessionPool();
    await trainRow(spec('block4', 'dense'), { sessions });
    const afterOther = await trainRow(spec('block2', 'aux'), { sessions });
    assert.deepEqual(afterOther.row, alone.row);
    assert.equal(alone.split, afterOther.split);
    // The returned model is the trained one (BatchNorm folded, as saved models are).
    const g = readTflite(alone.tflite!, 'row');
    assert.equal(
      modelTotals(g).params,
      modelTotals(deployableGraph(afterOther.pruned!.graph)).params,
    );
    assert.equal(alone.row.variant, 'frozen');
    assert.ok(alone.row.test.n > 100);
    // Locally the full result (with the graph) comes along; it never travels.
    assert.equal(afterOther.pruned!.test.accuracy, afterOther.row.test.accuracy);
    const unpruned = await trainRow(spec(UNPRUNED_CUT, 'original'), { sessions });
    assert.equal(unpruned.row.params, modelTotals(base).params);
    assert.ok(
      Math.abs(alone.row.dropVsUnpruned - (unpruned.row.test.accuracy - alone.row.test.accuracy)) <
        1e-12,
    );
  },
);

test('planRows: per fold the unpruned row, then every cut x head', () => {
  const plan = {
    base: undefined as never,
    modelKey: 'm',
    data: 'synthetic:shapes',
    cuts: ['a', 'b'],
    heads: ['aux', 'dense'],
    settings: { seed: 1, schedule: PAPER_SCHEDULES.kws },
  };
  assert.deepEqual(
    planRows(plan).map((r) => `${r.cut}+${r.head}`),
    ['full+original', 'a+aux', 'a+dense', 'b+aux', 'b+dense'],
  );
  const folded = planRows({ ...plan, folds: 3, saveModels: true });
  assert.equal(folded.length, 15);
  assert.deepEqual(
    folded.filter((r) => r.cut === 'a' && r.head === 'aux').map((r) => r.fold),
    [0, 1, 2].map((index) => ({ index, count: 3 })),
  );
  assert.ok(folded.filter((r) => r.cut !== 'full').every((r) => r.saveModel));
});
