// Post-training quantisation of the real float models: calibrate on a seeded subset of 200, then
// compare accuracy of our int8 graph (int8 interpreter) with the float model (float reference)
// on the whole evaluation set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/io/load.js';
import { prepareFloat } from '../src/quant/floatRef.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { quantizeGraph } from '../src/quant/quantize.js';
import { argmax, kwsExamples, pick, vwwExamples, type Example } from './helpers/eembc.js';
import { model, needsShared } from './helpers/shared.js';

async function check(modelFile: string, examples: Example[]) {
  const fg = await loadModel(model(modelFile));
  const calib = pick(examples, 200, 1234).map((e) => e.x);
  const qg = await quantizeGraph(fg, calib, { method: 'minmax' });
  const inQ = qg.tensors.get(qg.inputs[0]!)!.quant!;
  const [s, zp] = [inQ.scale[0]!, inQ.zeroPoint[0]!];
  const f = prepareFloat(fg);
  const q = prepareInt8(qg);
  let floatOk = 0;
  let intOk = 0;
  const xq = new Int8Array(examples[0]!.x.length);
  for (const e of examples) {
    if (argmax(f.run([e.x])[0]!) === e.label) floatOk++;
    for (let i = 0; i < xq.length; i++)
      xq[i] = Math.max(-128, Math.min(127, Math.round(e.x[i]! / s) + zp));
    if (argmax(q.run([xq])[0]!) === e.label) intOk++;
  }
  return { floatOk, intOk, n: examples.length, inQ: [s, zp] };
}

test(
  'KWS: our int8 quantisation loses at most 1 point vs float',
  { skip: needsShared },
  async (t) => {
    // The EEMBC MFCCs are int8 at kws_ref_model.tflite's input scale / zero point: dequantised.
    const examples = await kwsExamples();
    const r = await check('kws_ref_model_float32.tflite', examples);
    t.diagnostic(`KWS float ${r.floatOk}/${r.n}, int8 ${r.intOk}/${r.n}, input q ${r.inQ}`);
    assert.equal(r.n, 666);
    assert.ok(r.intOk >= r.floatOk - 0.01 * r.n, `int8 ${r.intOk} vs float ${r.floatOk}`);
  },
);

test(
  'VWW: our int8 quantisation loses at most 1 point vs float',
  { skip: needsShared },
  async (t) => {
    const examples = vwwExamples();
    const r = await check('vww_96_float.tflite', examples);
    t.diagnostic(`VWW float ${r.floatOk}/${r.n}, int8 ${r.intOk}/${r.n}, input q ${r.inQ}`);
    assert.equal(r.n, 713);
    assert.ok(r.intOk >= r.floatOk - 0.01 * r.n, `int8 ${r.intOk} vs float ${r.floatOk}`);
  },
);
