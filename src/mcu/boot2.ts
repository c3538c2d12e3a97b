// Our second-stage boot loader (boot2) for the RP2040, written from the datasheet: the boot ROM
// copies the first 256 bytes of flash to SRAM (0x20041f00), checks the CRC-32 in their last 4
// bytes and runs them. Boot2 sets up execute-in-place with the plain serial read command (03h),
// which every SPI NOR flash answers (the Pico's W25Q16 reads at up to 50 MHz with it; SCK is
// clk_sys / 4 = 33 MHz at 133 MHz), then enters the application's vector table at 0x10000100.
// Position-independent: literals are PC-relative and nothing branches to an absolute address.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import { findToolchain, toolchainProblem } from './build.js';
import { parseElf } from './elf.js';
import { crc32Mpeg2 } from './uf2.js';

export const BOOT2_BYTES = 256;

export const BOOT2_S = `/* tinyprune boot2 for the RP2040: XIP with serial read (03h). Generated file. */
.syntax unified
.cpu cortex-m0plus
.thumb
.section .text
.global _start
.type _start, %function
_start:
  ldr r3, =0x18000000   /* XIP_SSI */
  movs r1, #0
  str r1, [r3, #0x08]   /* SSIENR = 0: the SSI is configured while disabled */
  movs r1, #4
  str r1, [r3, #0x14]   /* BAUDR: SCK = clk_sys / 4 */
  ldr r1, =0x001f0300   /* CTRLR0: DFS_32 = 31 (32-bit frames), TMOD = 3 (EEPROM read), SPI */
  str r1, [r3, #0x00]
  ldr r1, =0x03000218   /* SPI_CTRLR0: XIP_CMD = 0x03, INST_L = 8 bits, ADDR_L = 24 bits */
  ldr r2, =0x180000f4
  str r1, [r2]
  movs r1, #0
  str r1, [r3, #0x04]   /* CTRLR1: NDF = 0, one 32-bit frame per XIP access */
  movs r1, #1
  str r1, [r3, #0x08]   /* SSIENR = 1 */
  ldr r0, =0x10000100   /* the application's vector table, after boot2 */
  ldr r1, =0xe000ed08   /* VTOR */
  str r0, [r1]
  ldmia r0!, {r1, r2}   /* initial stack pointer, reset handler */
  msr msp, r1
  bx r2
.ltorg
`;

/**
 * Assembles boot2 and returns its 256 bytes: the code padded with zeros to 252 bytes, then the
 * CRC-32/MPEG-2 of those 252 bytes (little-endian), as the boot ROM checks it.
 */
export function buildBoot2(dir: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const gcc = findToolchain(env);
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'boot2.S');
  const out = join(dir, 'boot2.elf');
  writeFileSync(src, BOOT2_S);
  const r = spawnSync(
    gcc,
    [
      '-mcpu=cortex-m0plus',
      '-mthumb',
      '-nostdlib',
      '-nostartfiles',
      '-Wl,-Ttext=0x20041f00',
      '-Wl,--build-id=none',
      '-o',
      out,
      src,
    ],
    { encoding: 'utf8', env },
  );
  if (r.status !== 0) {
    const broken = toolchainProblem(gcc, r.stderr ?? '', r.error);
    if (broken) throw new TinypruneError(broken);
    throw new Error(`boot2 did not assemble:\n${r.stderr}`);
  }
  const elf = parseElf(new Uint8Array(readFileSync(out)), out);
  const text = elf.sections.find((s) => s.name === '.text')!;
  const seg = elf.segments.find(
    (s) => text.addr >= s.vaddr && text.addr + text.size <= s.vaddr + s.data.length,
  )!;
  const code = seg.data.subarray(text.addr - seg.vaddr, text.addr - seg.vaddr + text.size);
  if (code.length > BOOT2_BYTES - 4)
    throw new Error(`boot2 is ${code.length} bytes, more than ${BOOT2_BYTES - 4}`);
  return withBoot2Crc(code);
}

/** Pads `code` to 252 bytes and appends the CRC the boot ROM checks. */
export function withBoot2Crc(code: Uint8Array): Uint8Array {
  const b = new Uint8Array(BOOT2_BYTES);
  b.set(code);
  new DataView(b.buffer).setUint32(
    BOOT2_BYTES - 4,
    crc32Mpeg2(b.subarray(0, BOOT2_BYTES - 4)),
    true,
  );
  return b;
}
