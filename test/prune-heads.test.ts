import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { loadModel } from '../src/io/load.js';
import { parseHead, parseHeadList } from '../src/prune/heads.js';
import { pruneModel, resolveCutPoint } from '../src/prune/cut.js';
import { model, needsShared } from './helpers/shared.js';
import { Rng } from '../src/data/random.js';

/** Head parameter counts do not depend on the seed. */
const rng = new Rng(1);

test('head presets and specs parse; bad specs name the bad token', () => {
  assert.deepEqual(parseHead('dense'), [
    { kind: 'gap' },
    { kind: 'fc', units: 64 },
    { kind: 'fc', units: 32 },
    { kind: 'fc' },
  ]);
  assert.deepEqual(parseHead('conv3x8s2,gap,fc')[0], {
    kind: 'conv',
    kernel: 3,
    filters: 8,
    stride: 2,
  });
  assert.throws(() => parseHead('dw3,banana,fc'), /unknown layer "banana"/);
  assert.throws(() => parseHead('dw3,pw16'), /must end with the classifier "fc"/);
  assert.throws(() => parseHead('fc,gap,fc'), /"fc" must be the last layer/);
  assert.throws(() => parseHead('pw0,gap,fc'), /sizes above 0/);
});

test('head lists: presets stand alone, a spec runs to its "fc"', () => {
  assert.deepEqual(parseHeadList('aux,dense'), ['aux', 'dense']);
  assert.deepEqual(parseHeadList('aux, dw3,pw44,gap,fc ,dense,gap,fc64,fc'), [
    'aux',
    'dw3,pw44,gap,fc',
    'dense',
    'gap,fc64,fc',
  ]);
  assert.throws(
    () => parseHeadList('aux,dw3,pw44'),
    /head "dw3,pw44": must end with the classifier "fc"/,
  );
  assert.throws(() => parseHeadList('aux,bogus'), /unknown layer "bogus"/);
});

const VWW_AUX = [
  1858, 2546, 4178, 5810, 10098, 15410, 28082, 46898, 65714, 84530, 103346, 122162, 163890, 234290,
];
const VWW_DENSE = [
  2978, 3810, 5730, 7362, 12226, 17538, 31362, 50178, 68994, 87810, 106626, 125442, 169474, 239874,
];

test(
  'pruned VWW parameter counts at every cut match the paper (aux and dense heads)',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('vww_96.h5'));
    const cuts = findCutPoints(g);
    assert.equal(cuts.length, 14);
    const count = (head: string) =>
      cuts.map((c) => modelTotals(pruneModel(g, c, head, rng)).params);
    assert.deepEqual(count('aux'), VWW_AUX);
    assert.deepEqual(count('dense'), VWW_DENSE);
  },
);

test('unknown cut names list the valid ones', { skip: needsShared }, async () => {
  const g = await loadModel(model('vww_96.h5'));
  assert.throws(
    () => resolveCutPoint(g, 'block99'),
    /unknown cut point "block99".*conv1, block1, block2/,
  );
});

test(
  'KWS block-2 aux model: 17,852 parameters as Keras counts them (BatchNorm unfolded)',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model_float32.tflite'));
    // The TFLite file has BatchNorm folded: counting it back gives the Keras model's 24,908.
    assert.equal(modelTotals(g).kerasParams, 24908);
    const pruned = pruneModel(g, resolveCutPoint(g, 'block2'), 'aux', rng);
    assert.equal(modelTotals(pruned).kerasParams, 17852);
    assert.equal(modelTotals(pruned).params, 16572); // as stored, BatchNorm folded in the tail
  },
);

test(
  'VWW float .tflite counts 221,794 Keras parameters, as vww_96.h5 does',
  { skip: needsShared },
  async () => {
    const folded = await loadModel(model('vww_96_float.tflite'));
    const keras = await loadModel(model('vww_96.h5'));
    assert.equal(modelTotals(folded).kerasParams, 221794);
    assert.equal(modelTotals(keras).kerasParams, modelTotals(keras).params);
    assert.deepEqual(
      findCutPoints(folded).map((c) => c.kerasParams),
      findCutPoints(keras).map((c) => c.params),
    );
  },
);
