// `tinyprune export`: ONNX and TFLite files that run, and clear errors for bad options.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runCli } from './helpers/cli.js';
import { model, needsShared } from './helpers/shared.js';
import { createTfliteRunner } from './helpers/tfliteRuntime.js';

test('export VWW to ONNX and TFLite: both run and agree', { skip: needsShared }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-export-'));
  try {
    // A pure-float model: the KWS "float" file is hybrid and is exported hybrid again.
    const onnxFile = join(dir, 'vww.onnx');
    const tfliteFile = join(dir, 'vww.tflite');
    const src = model('vww_96_float.tflite');
    const a = runCli(['export', '--model', src, '--format', 'onnx', '--out', onnxFile]);
    assert.equal(a.status, 0, a.stderr);
    const b = runCli(['export', '--model', src, '--format', 'tflite', '--out', tfliteFile]);
    assert.equal(b.status, 0, b.stderr);
    assert.deepEqual(
      readdirSync(dir).sort(),
      ['vww.onnx', 'vww.tflite'],
      'no temporary files left',
    );
    const x = new Float32Array(96 * 96 * 3).map((_, i) => 0.5 + 0.5 * Math.cos(i * 0.7));
    const session = await ort.InferenceSession.create(readFileSync(onnxFile));
    const r = await session.run({
      [session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 96, 96, 3]),
    });
    const viaOnnx = r[session.outputNames[0]!]!.data as Float32Array;
    const runner = await createTfliteRunner(new Uint8Array(readFileSync(tfliteFile)));
    const viaTflite = runner.run([x])[0] as Float32Array;
    runner.close();
    assert.equal(viaOnnx.length, 2);
    for (let i = 0; i < 2; i++)
      assert.ok(Math.abs(viaOnnx[i]! - viaTflite[i]!) < 1e-5, `class ${i}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('export rejects a bad format with one clear line', () => {
  const r = runCli(['export', '--model', 'x.tflite', '--format', 'pb', '--out', '/tmp/never.pb']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--format expects one of onnx, tflite, got "pb"/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.ok(!existsSync('/tmp/never.pb'));
});
