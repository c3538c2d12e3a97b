// ResNet-8 on the emulated RP2040: the reference int8 model bit-exact, and a model pruned after
// the first residual stack with the aux head going through prune → quantize → deploy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { deploy } from '../src/mcu/deploy.js';
import { runCli } from './helpers/cli.js';
import { data, model, needsShared } from './helpers/shared.js';

/** The first n EEMBC IC images as the int8 model's input (pixel − 128). */
function icInputs(n: number): Int8Array[] {
  const dir = data('eembc_ic01');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .slice(0, n)
    .map((f) => Int8Array.from(readFileSync(join(dir, f)), (v) => v - 128));
}

test('ic_resnet8_int8.tflite deploys bit-exact (2 images)', { skip: needsShared }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-resnet-'));
  try {
    const g = await loadModel(model('ic_resnet8_int8.tflite'));
    const r = await deploy(g, { target: 'rp2040', outDir: dir, inputs: icInputs(2) });
    assert.deepEqual(r.bitExact, { inputs: 2, mismatches: 0 });
    assert.equal(r.macs, 12_501_632);
    assert.equal(r.layers.filter((l) => l.kind === 'add').length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'ResNet-8 pruned after stack1 with the aux head: prune → quantize → deploy',
  { skip: needsShared },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-resnet-prune-'));
    try {
      const ic = `eembc-ic:${data('eembc_ic01')}`;
      const pruned = join(dir, 'pruned');
      const p = runCli(
        ['prune', '--model', model('ic_resnet8_float.tflite'), '--data', ic].concat([
          '--cut',
          'stack1',
          '--head',
          'aux',
          '--epochs',
          '1',
          '--out',
          pruned,
          '-q',
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, /pruned stack1 \+ aux: 7,194 params/);
      const int8 = join(dir, 'int8.tflite');
      const q = runCli(
        ['quantize', '--model', join(pruned, 'pruned.tflite'), '--calib', ic].concat([
          '--samples',
          '20',
          '--out',
          int8,
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(q.status, 0, q.stderr);
      const d = runCli(
        ['deploy', '--model', int8, '--inputs', `${data('eembc_ic01')}:2`].concat([
          '--out',
          join(dir, 'deploy'),
          '--json',
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(d.status, 0, d.stderr);
      const r = JSON.parse(d.stdout) as {
        bitExact: { inputs: number; mismatches: number };
        layers: { kind: string }[];
      };
      assert.deepEqual(r.bitExact, { inputs: 2, mismatches: 0 });
      assert.equal(r.layers.filter((l) => l.kind === 'add').length, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'ad01_int8.tflite (anomaly detection) deploys bit-exact on 20 seeded inputs',
  { skip: needsShared },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-ad01-'));
    try {
      const g = await loadModel(model('ad01_int8.tflite'));
      let s = 20260;
      const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24) - 128;
      const inputs = Array.from({ length: 20 }, () => Int8Array.from({ length: 640 }, next));
      const r = await deploy(g, { target: 'rp2040', outDir: dir, inputs });
      assert.deepEqual(r.bitExact, { inputs: 20, mismatches: 0 });
      assert.equal(r.layers.filter((l) => l.kind === 'fullyConnected').length, 10);
      assert.equal(r.outputs[0]!.length, 640);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
