// ONNX import of real PyTorch exports (../shared/models/pytorch): the imported Graph matches the
// TFLite twin's accounting, its float forward pass (our reference interpreter) equals
// onnxruntime on the original file, eval accuracy equals the TFLite twin's, and tinyprune's own
// ONNX export re-imports to the same graph.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { getTensor } from '../src/graph/graph.js';
import type { Graph } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { readOnnx } from '../src/io/onnx/reader.js';
import { graphToOnnx } from '../src/engine/onnx.js';
import { runFloat } from '../src/quant/floatRef.js';
import { openDataset } from '../src/data/open.js';
import { argmaxRows, predictScores } from '../src/eval/predict.js';
import { data, model, needsShared, SHARED } from './helpers/shared.js';

const PT = join(SHARED, 'models', 'pytorch');
const pt = (f: string) => join(PT, f);

/** NHWC → NCHW for one example. */
function toNchw(x: Float32Array, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let y = 0; y < h; y++)
    for (let xx = 0; xx < w; xx++)
      for (let k = 0; k < c; k++) out[(k * h + y) * w + xx] = x[(y * w + xx) * c + k]!;
  return out;
}

/**
 * The graph as data: ops (kind, attrs, inputs by position), shapes and weight bytes, no names.
 * How a reshape spells its target (a TFLite shape input, -1 or 1 for the batch) and
 * keepNumDims=false (the default) are representation, not meaning: the output shape stands in.
 */
function structure(g: Graph): unknown {
  const id = new Map<string, string>();
  g.inputs.forEach((n, i) => id.set(n, `in${i}`));
  return g.ops.map((op, i) => {
    op.outputs.forEach((o) => id.set(o, `op${i}`));
    const { newShape: _n, keepNumDims, ...attrs } = op.attrs;
    return {
      kind: op.kind,
      attrs: keepNumDims ? { ...attrs, keepNumDims } : attrs,
      shape: getTensor(g, op.outputs[0]!).shape,
      inputs: (op.kind === 'reshape' ? op.inputs.slice(0, 1) : op.inputs).map((n) => {
        const t = getTensor(g, n);
        return t.data
          ? {
              shape: t.shape,
              dtype: t.dtype,
              bytes: createHash('sha1')
                .update(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))
                .digest('hex'),
            }
          : id.get(n);
      }),
    };
  });
}

const CASES = [
  {
    onnx: 'vww_96_mobilenet_pt.onnx',
    twin: 'vww_96_float.tflite',
    dir: data('eembc_vww01'),
    hwc: [96, 96, 3] as const,
    spec: `eembc-vww:${data('eembc_vww01')}`,
  },
  {
    onnx: 'vww_96_mobilenet_pt_dynbatch.onnx',
    twin: 'vww_96_float.tflite',
    dir: data('eembc_vww01'),
    hwc: [96, 96, 3] as const,
    spec: `eembc-vww:${data('eembc_vww01')}`,
  },
  {
    onnx: 'kws_dscnn_pt.onnx',
    twin: 'kws_ref_model_float32.tflite',
    dir: data('eembc_kws01', 'mfcc'),
    hwc: [49, 10, 1] as const,
    spec: `eembc-kws:${data('eembc_kws01', 'mfcc')}`,
  },
];

describe('ONNX import of the PyTorch exports', { skip: needsShared }, () => {
  for (const c of CASES) {
    it(`${c.onnx}: accounting and cut points equal ${c.twin}'s`, async () => {
      const g = await loadModel(pt(c.onnx));
      const twin = await loadModel(model(c.twin));
      assert.deepEqual(modelTotals(g), modelTotals(twin));
      const cuts = (x: Graph) =>
        findCutPoints(x).map(({ name, shape, params, macs, kerasParams }) => ({
          name,
          shape,
          params,
          macs,
          kerasParams,
        }));
      assert.deepEqual(cuts(g), cuts(twin));
      assert.deepEqual(getTensor(g, g.inputs[0]!).shape, [1, ...c.hwc]);
    });

    it(`${c.onnx}: 20 real inputs give onnxruntime's outputs within 1e-4`, async () => {
      const g = await loadModel(pt(c.onnx));
      const ds = await openDataset(c.spec);
      const session = await ort.InferenceSession.create(pt(c.onnx), { intraOpNumThreads: 1 });
      const [h, w, ch] = c.hwc;
      let worst = 0;
      try {
        for (let i = 0; i < 20; i++) {
          const x = await ds.load(i);
          const ours = runFloat(g, [x])[0]!;
          const feed = new ort.Tensor('float32', toNchw(x, h, w, ch), [1, ch, h, w]);
          const ref = (await session.run({ [session.inputNames[0]!]: feed }))[
            session.outputNames[0]!
          ]!.data as Float32Array;
          assert.equal(ours.length, ref.length);
          for (let k = 0; k < ref.length; k++)
            worst = Math.max(worst, Math.abs(ours[k]! - ref[k]!));
        }
      } finally {
        await session.release();
      }
      assert.ok(worst <= 1e-4, `max |Δ| ${worst}`);
    });
  }

  it('eval accuracy on the EEMBC sets equals the TFLite twins (VWW 607/713)', async () => {
    for (const c of [CASES[0]!, CASES[2]!]) {
      const ds = await openDataset(c.spec);
      const correct = async (g: Graph) => {
        const classes = ds.classes.length;
        const pred = argmaxRows(await predictScores(g, ds), classes);
        return pred.reduce((s, p, i) => s + (p === ds.labels[i] ? 1 : 0), 0);
      };
      const ours = await correct(await loadModel(pt(c.onnx)));
      const twin = await correct(await loadModel(model(c.twin)));
      assert.equal(ours, twin, c.onnx);
      if (c.onnx.startsWith('vww')) assert.equal(ours, 607);
    }
  });

  it("tinyprune's ONNX export re-imports to an identical graph", async () => {
    for (const f of [
      'vww_96_float.tflite',
      'kws_ref_model_float32.tflite',
      'ic_resnet8_float.tflite',
    ]) {
      const g = await loadModel(model(f));
      const back = readOnnx(graphToOnnx(g), `${f}.onnx`);
      assert.deepEqual(structure(back), structure(g), f);
      assert.deepEqual(getTensor(back, back.inputs[0]!).shape, getTensor(g, g.inputs[0]!).shape);
    }
    // The re-import of an imported PyTorch file is stable too.
    const g = await loadModel(pt('kws_dscnn_pt.onnx'));
    assert.deepEqual(structure(readOnnx(graphToOnnx(g), 'again.onnx')), structure(g));
  });
});
