import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tinyprune from '../src/index.js';
import { model, needsShared } from './helpers/shared.js';

test('the library exposes every stage the CLI uses', () => {
  for (const name of [
    'loadModel',
    'findCutPoints',
    'modelTotals',
    'pruneModel',
    'PruneSession',
    'runSweep',
    'quantizeGraph',
    'prepareInt8',
    'deploy',
    'writeTflite',
    'writeReport',
    'runPipeline',
    'runCli',
  ])
    assert.equal(typeof (tinyprune as Record<string, unknown>)[name], 'function', name);
});

test(
  'library round trip: load, cut, attach the aux head, count',
  { skip: needsShared },
  async () => {
    const g = await tinyprune.loadModel(model('kws_ref_model_float32.tflite'));
    const cut = tinyprune.resolveCutPoint(g, 'block2');
    const pruned = tinyprune.pruneModel(g, cut, 'aux', new tinyprune.Rng(1));
    assert.equal(tinyprune.modelTotals(pruned).kerasParams, 17852);
  },
);
