// The int8 interpreter on the real MLPerf Tiny int8 models and EEMBC evaluation sets. The counts
// are TFLite Micro's: the same models run through TFLM's reference kernels (built on the host as
// an independent oracle) give bit-identical outputs on all 713 + 666 inputs. The official TFLite
// runtime (XNNPACK, single rounding) scores 606/713 and 590/666; see int8_official.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { data, model, needsShared } from './helpers/shared.js';

/** `file, n_classes, label` rows of an EEMBC y_labels.csv. */
function labels(csv: string): { file: string; label: number }[] {
  return readFileSync(csv, 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((line) => line.split(',').map((s) => s.trim()))
    .filter((f) => f.length >= 3 && f[0]!.endsWith('.bin'))
    .map((f) => ({ file: f[0]!, label: Number(f[2]) }));
}

const argmax = (v: Int8Array) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);

test(
  'VWW int8: accuracy on eembc_vww01 is 607/713 (TFLite Micro reference kernels)',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('vww_96_int8.tflite'));
    const q = g.tensors.get(g.inputs[0]!)!.quant!;
    assert.ok(Math.abs(q.scale[0]! - 1 / 255) < 1e-9 && q.zeroPoint[0] === -128);
    const p = prepareInt8(g);
    const rows = labels(data('eembc_vww01', 'y_labels.csv'));
    assert.equal(rows.length, 713);
    let correct = 0;
    const input = new Int8Array(96 * 96 * 3);
    for (const r of rows) {
      const px = readFileSync(data('eembc_vww01', r.file));
      for (let i = 0; i < px.length; i++) input[i] = px[i]! - 128;
      if (argmax(p.run([input])[0]!) === r.label) correct++;
    }
    assert.equal(correct, 607);
  },
);

test(
  'KWS int8: accuracy on eembc_kws01/mfcc is 589/666 (TFLite Micro reference kernels)',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    const p = prepareInt8(g);
    const dir = data('eembc_kws01', 'mfcc');
    const rows = labels(join(dir, 'y_labels.csv'));
    assert.equal(rows.length, 666);
    let correct = 0;
    for (const r of rows) {
      const b = readFileSync(join(dir, r.file));
      const input = new Int8Array(b.buffer, b.byteOffset, b.length);
      if (argmax(p.run([input])[0]!) === r.label) correct++;
    }
    assert.equal(correct, 589);
  },
);
