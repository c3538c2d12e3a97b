// Post-training quantisation of the real float models: calibrate on a seeded subset of 200, then
// compare accuracy of our int8 graph (int8 interpreter) with the float model (float reference)
// on the whole evaluation set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { prepareFloat } from '../src/quant/floatRef.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { quantizeGraph } from '../src/quant/quantize.js';
import { data, model, needsShared } from './helpers/shared.js';

interface Example {
  x: Float32Array;
  label: number;
}

function rows(dir: string): { file: string; label: number }[] {
  return readFileSync(join(dir, 'y_labels.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((l) => l.split(',').map((s) => s.trim()))
    .filter((f) => f[0]!.endsWith('.bin'))
    .map((f) => ({ file: f[0]!, label: Number(f[2]) }));
}

/** Seeded Fisher-Yates pick of `n` examples. */
function pick<T>(items: T[], n: number, seed: number): T[] {
  const a = [...items];
  let s = seed >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};

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
    const dir = data('eembc_kws01', 'mfcc');
    // The EEMBC MFCCs are int8 at kws_ref_model.tflite's input scale / zero point: dequantise.
    const ref = await loadModel(model('kws_ref_model.tflite'));
    const iq = ref.tensors.get(ref.inputs[0]!)!.quant!;
    const examples = rows(dir).map((r) => {
      const b = readFileSync(join(dir, r.file));
      const x = Float32Array.from(
        new Int8Array(b.buffer, b.byteOffset, b.length),
        (v) => (v - iq.zeroPoint[0]!) * iq.scale[0]!,
      );
      return { x, label: r.label };
    });
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
    const dir = data('eembc_vww01');
    const examples = rows(dir).map((r) => ({
      x: Float32Array.from(readFileSync(join(dir, r.file)), (v) => v / 255),
      label: r.label,
    }));
    const r = await check('vww_96_float.tflite', examples);
    t.diagnostic(`VWW float ${r.floatOk}/${r.n}, int8 ${r.intOk}/${r.n}, input q ${r.inQ}`);
    assert.equal(r.n, 713);
    assert.ok(r.intOk >= r.floatOk - 0.01 * r.n, `int8 ${r.intOk} vs float ${r.floatOk}`);
  },
);
