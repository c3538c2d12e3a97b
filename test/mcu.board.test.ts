// The Pico board image end to end: deploy writes firmware.uf2; its flash contents boot through
// the real RP2040 boot ROM (../shared/mcu) in rp2040js — boot2's CRC checked, boot2 run, the
// clocks brought to 133 MHz — and the scores printed on UART0 equal the host int8 interpreter's.
// A boot loader with a wrong CRC is refused: the ROM falls back to USB boot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOARD_DONE, boardClocks } from '../src/mcu/board.js';
import { withBoot2Crc } from '../src/mcu/boot2.js';
import { bootFlash } from '../src/mcu/bootsim.js';
import { deploy } from '../src/mcu/deploy.js';
import { TARGETS } from '../src/mcu/targets.js';
import { crc32Mpeg2, fromUf2, toUf2 } from '../src/mcu/uf2.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { MCU_MODELS, mcuModel } from './helpers/mcuModels.js';
import { needsShared, SHARED } from './helpers/shared.js';

const bootrom = () => new Uint8Array(readFileSync(join(SHARED, 'mcu', 'rp2040_bootrom_b1.bin')));

test('UF2 and CRC: the check value, a round trip, and the Pico clock settings', () => {
  assert.equal(crc32Mpeg2(new TextEncoder().encode('123456789')), 0x0376e6e7);
  const image = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff);
  const uf2 = toUf2(image, 0x10000000);
  assert.equal(uf2.length, 4 * 512);
  assert.deepEqual(fromUf2(uf2, 0x10000000).subarray(0, 1000), image);
  const b2 = withBoot2Crc(new Uint8Array([1, 2, 3]));
  assert.equal(new DataView(b2.buffer).getUint32(252, true), crc32Mpeg2(b2.subarray(0, 252)));
  // 12 MHz x 133 / 6 / 2 = 133 MHz; 115200 baud -> IBRD 72, FBRD 10 (0.35% off).
  const c = boardClocks(TARGETS.rp2040.board!);
  assert.deepEqual(c, { sysHz: 133e6, vcoHz: 1596e6, ibrd: 72, fbrd: 10 });
});

for (const name of MCU_MODELS)
  test(
    `${name}: firmware.uf2 boots through the RP2040 boot ROM and prints the host's int8 scores`,
    { skip: needsShared },
    async () => {
      const { graph, inputs } = await mcuModel(name, 5);
      const dir = mkdtempSync(join(tmpdir(), 'tinyprune-board-'));
      try {
        const r5 = await deploy(graph, { target: 'rp2040', outDir: dir, inputs }); // bundles all 5
        assert.equal(r5.board?.inputs, 5);
        const flash = fromUf2(new Uint8Array(readFileSync(join(dir, 'firmware.uf2'))), 0x10000000);
        const run = bootFlash(flash, bootrom(), { until: BOARD_DONE, cycleLimit: 400e6 });
        assert.equal(run.stop, 'text', `UART so far: ${run.uart}`);
        assert.ok(run.ranBoot2 && run.enteredApp);
        assert.equal(run.clkSysHz, 133e6);
        const lines = run.uart.split('\r\n').filter((l) => l.startsWith('input '));
        assert.equal(lines.length, 5);
        const ref = prepareInt8(graph);
        lines.forEach((line, k) => {
          const m = /^input (\d+): scores ([-\d ]+) class (\d+) us (\d+) cycles (\d+)$/.exec(line);
          assert.ok(m, line);
          assert.equal(Number(m[1]), k);
          assert.deepEqual(m[2]!.split(' ').map(Number), Array.from(ref.run([inputs[k]!])[0]!));
          // The 1 us TIMER agrees with the emulator's cycle count (133 cycles per us).
          const cycles = Number(m[5]);
          assert.ok(
            Math.abs(cycles - r5.cyclesPerInput[k]!) < 2000,
            `${cycles} vs ${r5.cyclesPerInput[k]}`,
          );
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );

test(
  'a boot loader with a wrong CRC is refused: the ROM falls back to USB boot',
  { skip: needsShared },
  async () => {
    const { graph, inputs } = await mcuModel('kws', 1);
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-board-'));
    try {
      await deploy(graph, { target: 'rp2040', outDir: dir, inputs });
      const flash = fromUf2(new Uint8Array(readFileSync(join(dir, 'firmware.uf2'))), 0x10000000);
      const good = bootFlash(flash, bootrom(), { until: BOARD_DONE, cycleLimit: 100e6 });
      assert.equal(good.stop, 'text');
      flash[252] = flash[252]! ^ 1; // one bit of the stored CRC
      const bad = bootFlash(flash, bootrom(), { cycleLimit: 100e6 });
      assert.equal(bad.ranBoot2, false);
      assert.equal(bad.enteredApp, false);
      assert.equal(bad.uart, '');
      // USB boot runs clk_sys from the 48 MHz USB PLL and waits for the host.
      assert.equal(bad.clkSysHz, 48e6);
      assert.equal(bad.stop, 'halted');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
