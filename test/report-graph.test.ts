// Report data built from a real model through the Graph IR: the per-layer chart shows exactly
// the model's layers and their totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/io/load.js';
import { modelTotals } from '../src/graph/accounting.js';
import { graphSummary } from '../src/report/layers.js';
import { layerBarsSvg } from '../src/report/charts.js';
import { needsShared, model } from './helpers/shared.js';

test(
  'VWW float .tflite: per-layer costs sum to the model totals and chart one bar each',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('vww_96_float.tflite'));
    const s = graphSummary(g, 'vww unpruned');
    const totals = modelTotals(g);
    assert.equal(s.params, totals.params);
    assert.equal(s.layers.length, g.ops.length);
    assert.equal(
      s.layers.reduce((a, l) => a + l.params, 0),
      s.params,
    );
    assert.equal(
      s.layers.reduce((a, l) => a + l.macs, 0),
      s.macs,
    );
    // 14 conv + 13 depthwise + 1 dense carry weights (BN is folded in the .tflite).
    const withParams = s.layers.filter((l) => l.params > 0);
    assert.equal(withParams.length, 28);
    const svg = layerBarsSvg(s, undefined, 'params');
    assert.equal(svg.match(/class="bar"/g)?.length, 28);
    for (const l of withParams) assert.ok(svg.includes(`data-value="${l.params}"`), l.name);
  },
);
