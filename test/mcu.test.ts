import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { TinypruneError } from '../src/graph/types.js';
import { deploy } from '../src/mcu/deploy.js';
import { runOnQemu } from '../src/mcu/qemu.js';
import { compileFirmware, findToolchain, TARGETS } from '../src/mcu/build.js';
import { Emulator, FirmwareError } from '../src/mcu/emulator.js';
import { generateC } from '../src/mcu/codegen.js';
import { parseElf } from '../src/mcu/elf.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { data, model, needsShared } from './helpers/shared.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'tinyprune-mcu-'));

function kwsInputs(n: number): Int8Array[] {
  const dir = data('eembc_kws01', 'mfcc');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort()
    .slice(0, n)
    .map((f) => {
      const b = readFileSync(join(dir, f));
      return new Int8Array(b.buffer, b.byteOffset, b.length);
    });
}

test('emulator runs a hand-written C program: semihosting output, exit code, marks, I/O symbols', () => {
  const dir = tmp();
  try {
    const src = `#include <stdint.h>
#include "tp_runtime.h"
__attribute__((section(".noinit"), used)) int8_t tp_io_in[4];
__attribute__((section(".noinit"), used)) int8_t tp_io_out[4];
int main(void) {
  tp_mark(7);
  for (int i = 0; i < 4; i++) tp_io_out[i] = (int8_t)(tp_io_in[i] * 3 - 1);
  tp_mark(8);
  tp_puts("done\\n");
  return 42;
}
`;
    writeFileSync(join(dir, 'prog.c'), src);
    const fw = compileFirmware({
      dir,
      sources: ['prog.c'],
      cpu: 'cortex-m0plus',
      memory: TARGETS.rp2040.memory,
      out: join(dir, 'prog.elf'),
      defines: { TP_MARKS: 1 },
    });
    const run = new Emulator(fw.bytes).run({
      inputs: [{ symbol: 'tp_io_in', bytes: new Uint8Array([1, 2, 0xff, 40]) }],
      outputs: [{ symbol: 'tp_io_out' }],
    });
    assert.equal(run.exitCode, 42);
    assert.equal(run.stdout, 'done\n');
    assert.deepEqual(
      Array.from(new Int8Array(run.outputs.get('tp_io_out')!.buffer)),
      [2, 5, -4, 119],
    );
    assert.deepEqual(
      run.marks.map((m) => m.id),
      [7, 8],
    );
    assert.ok(run.marks[1]!.cycles > run.marks[0]!.cycles);
    assert.ok(run.peakStackBytes > 0 && run.peakStackBytes < 1024, `stack ${run.peakStackBytes}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a firmware that never ends is stopped at the cycle limit with a clear error', () => {
  const dir = tmp();
  try {
    writeFileSync(join(dir, 'loop.c'), 'int main(void) { for (;;) __asm volatile(""); }\n');
    const fw = compileFirmware({
      dir,
      sources: ['loop.c'],
      cpu: 'cortex-m0plus',
      memory: TARGETS.rp2040.memory,
      out: join(dir, 'loop.elf'),
    });
    assert.throws(
      () => new Emulator(fw.bytes, 'loop.elf').run({ cycleLimit: 2_000_000 }),
      (e: Error) =>
        e instanceof FirmwareError && /loop\.elf.*cycle limit of 2,000,000 cycles/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing toolchain names the Debian packages to install', () => {
  assert.throws(
    () => findToolchain({ PATH: '/nonexistent' }),
    (e: Error) =>
      e instanceof TinypruneError && /gcc-arm-none-eabi libnewlib-arm-none-eabi/.test(e.message),
  );
});

test(
  'KWS int8: emulated firmware is bit-exact with the int8 interpreter',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    const inputs = kwsInputs(5);
    const dir = tmp();
    try {
      const r = await deploy(g, { target: 'rp2040', outDir: dir, inputs });
      assert.deepEqual(r.bitExact, { inputs: 5, mismatches: 0 });
      const prep = prepareInt8(g);
      inputs.forEach((x, k) => assert.deepEqual(r.outputs[k], Array.from(prep.run([x])[0]!)));
      // Known facts: 12 classes; the arena fits the 16,000 bytes of the two largest activations.
      assert.equal(r.outputs[0]!.length, 12);
      assert.equal(r.arenaBytes, 16000);
      assert.equal(
        r.layers.reduce((s, l) => s + l.macs, 0),
        r.macs,
      );
      assert.ok(r.cycles > r.macs, 'at least a cycle per MAC on a core without SIMD');
      assert.ok(r.cortexM0Cycles > r.cycles);
      assert.ok(r.ramBytes >= r.arenaBytes + r.peakStackBytes);
      const json = JSON.parse(readFileSync(join(dir, 'deploy.json'), 'utf8'));
      assert.equal(json.cycles, r.cycles);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'KWS int8 on QEMU (mps2-an385) gives the same outputs as the int8 interpreter',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    const inputs = kwsInputs(3);
    const dir = tmp();
    try {
      const outs = runOnQemu(g, inputs, dir);
      const prep = prepareInt8(g);
      assert.equal(outs.length, 3);
      inputs.forEach((x, k) =>
        assert.deepEqual(Array.from(outs[k]!), Array.from(prep.run([x])[0]!)),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'deploy rejects a wrong-size input and an unsupported op clearly',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    await assert.rejects(
      deploy(g, { target: 'rp2040', outDir: tmp(), inputs: [new Int8Array(10)] }),
      (e: Error) =>
        e instanceof TinypruneError && /input 0 has 10 values, expected 490/.test(e.message),
    );
    const bad = {
      ...g,
      ops: g.ops.map((op, i) => (i === 0 ? { ...op, kind: 'batchNorm' as const } : op)),
    };
    assert.throws(
      () => generateC(bad),
      (e: Error) =>
        e instanceof TinypruneError &&
        /op 0 \(batchNorm .*not supported on the MCU/.test(e.message),
    );
  },
);

test(
  'weights placement: auto puts the KWS constants in SRAM, flash keeps them there; same outputs and cycles',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    const inputs = kwsInputs(1);
    const dirs = [tmp(), tmp()];
    try {
      const auto = await deploy(g, { target: 'rp2040', outDir: dirs[0]!, inputs });
      const flash = await deploy(g, {
        target: 'rp2040',
        outDir: dirs[1]!,
        inputs,
        weightsIn: 'flash',
        // The kernels auto picks for SRAM weights, so only the placement differs.
        kernels: auto.kernels.mode,
      });
      assert.equal(auto.weights.in, 'sram');
      assert.equal(auto.weights.requested, 'auto');
      assert.equal(flash.weights.in, 'flash');
      // The first layer's weights: in SRAM (0x2000xxxx) or flash (0x100xxxxx).
      const where = (dir: string) =>
        parseElf(new Uint8Array(readFileSync(join(dir, 'firmware.elf')))).symbols.get(
          'tp_layer0_wi',
        )!.value >>> 28;
      assert.equal(where(dirs[0]!), 2);
      assert.equal(where(dirs[1]!), 1);
      assert.deepEqual(auto.outputs, flash.outputs);
      assert.equal(auto.cycles, flash.cycles); // the emulator reads flash as fast as SRAM
      assert.ok(auto.ramBytes >= flash.ramBytes + auto.weights.constBytes - 1024);
      assert.ok(/not count/.test(flash.weights.note));
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
);
