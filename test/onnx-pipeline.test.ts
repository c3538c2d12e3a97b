// The PyTorch VWW export through the whole CLI: prune at block 5 with the aux head (one short
// epoch), quantise, deploy on the emulated RP2040, bit-exact with the int8 interpreter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';
import { data, needsShared, SHARED } from './helpers/shared.js';

test(
  'PyTorch VWW .onnx: prune block5 + aux → quantize → deploy, bit-exact on the emulator',
  { skip: needsShared },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-onnx-pipe-'));
    try {
      const onnx = join(SHARED, 'models', 'pytorch', 'vww_96_mobilenet_pt.onnx');
      const vww = `eembc-vww:${data('eembc_vww01')}`;
      const ins = runCli(['inspect', onnx, '--json']);
      assert.equal(ins.status, 0, ins.stderr);
      const pruned = join(dir, 'pruned');
      const p = runCli(
        ['prune', '--model', onnx, '--data', vww, '--cut', 'block5', '--head', 'aux'].concat([
          '--epochs',
          '1',
          '--out',
          pruned,
          '-q',
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(p.status, 0, p.stderr);
      assert.match(p.stdout, /pruned block5 \+ aux: 13,938 params/);
      const int8 = join(dir, 'int8.tflite');
      const q = runCli(
        ['quantize', '--model', join(pruned, 'pruned.tflite'), '--calib', vww].concat([
          '--samples',
          '20',
          '--out',
          int8,
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(q.status, 0, q.stderr);
      const d = runCli(
        ['deploy', '--model', int8, '--inputs', `${data('eembc_vww01')}:2`].concat([
          '--input-format',
          'uint8',
          '--out',
          join(dir, 'deploy'),
          '--json',
        ]),
        { timeoutMs: 300_000 },
      );
      assert.equal(d.status, 0, d.stderr);
      const r = JSON.parse(d.stdout) as { bitExact: { inputs: number; mismatches: number } };
      assert.deepEqual(r.bitExact, { inputs: 2, mismatches: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
