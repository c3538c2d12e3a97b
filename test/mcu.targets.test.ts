// The target table: every entry is complete, and a wrong name is a clear error naming the
// option and the choices.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TinypruneError } from '../src/graph/types.js';
import { cycleNote, getTarget, TARGET_NAMES, TARGETS } from '../src/mcu/targets.js';
import { runCli } from './helpers/cli.js';

test('targets: each entry names itself, fits its memory map and states what is not counted', () => {
  assert.deepEqual(TARGET_NAMES, ['rp2040', 'cortex-m0']);
  for (const n of TARGET_NAMES) {
    const t = TARGETS[n];
    assert.equal(t.name, n);
    assert.ok(t.memory.flashReserved < t.memory.flashBytes);
    assert.ok(t.uncounted.length > 0);
    assert.ok(cycleNote(t).includes('rp2040js'));
  }
  assert.equal(getTarget('rp2040').board?.name, 'Raspberry Pi Pico');
  assert.throws(
    () => getTarget('esp32', 'tinyprune deploy: --target'),
    (e: Error) =>
      e instanceof TinypruneError &&
      e.message === 'tinyprune deploy: --target expects rp2040 or cortex-m0, got "esp32"',
  );
});

test('--kernels: a wrong value is a one-line error listing the choices (deploy and run), exit 2', () => {
  for (const cmd of ['deploy', 'run']) {
    const r = runCli([cmd, '--kernels', 'fast']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^tinyprune ${cmd}: --kernels expects speed, size or auto, got "fast"\\n$`),
    );
  }
});
