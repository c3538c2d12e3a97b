// A board image for the Raspberry Pi Pico: start-up that brings clk_sys to the target's clock
// from the 12 MHz crystal (XOSC, PLL_SYS) and clocks UART0 from clk_peri, a main that runs the
// bundled inputs and prints each one's int8 class scores and its time on UART0 (GP0 TX, GP1 RX,
// 8N1), our boot2 in front, and the whole written as firmware.uf2. No Pico SDK: the register
// writes below follow the RP2040 datasheet (RESETS, XOSC, PLL, CLOCKS, WATCHDOG tick, TIMER,
// IO_BANK0, PL011 UART).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import { buildBoot2 } from './boot2.js';
import { compileFirmware, type CompileResult } from './build.js';
import type { PicoBoard, Target } from './targets.js';
import { flashImage, toUf2 } from './uf2.js';

/** The line the board prints after the last input (the emulator test stops there). */
export const BOARD_DONE = 'tinyprune: done';

/** PLL_SYS output and the PL011 divisors for a board's settings. */
export function boardClocks(b: PicoBoard, baud = b.uartBaud) {
  const sysHz = (b.xoscHz * b.pllFbdiv) / (b.pllPostdiv1 * b.pllPostdiv2);
  // PL011: divisor = clk_peri / (16 · baud) as 16.6 fixed point, rounded to nearest.
  const div = Math.floor((8 * sysHz) / baud);
  return { sysHz, vcoHz: b.xoscHz * b.pllFbdiv, ibrd: div >> 7, fbrd: ((div & 0x7f) + 1) >> 1 };
}

export function boardStartupC(t: Target, b: PicoBoard): string {
  const c = boardClocks(b);
  if (c.sysHz !== t.clockHz)
    throw new Error(`${t.name}: PLL settings give ${c.sysHz} Hz, the target says ${t.clockHz}`);
  // XOSC STARTUP.DELAY counts 256 crystal cycles: about 1 ms.
  const xoscDelay = Math.ceil(b.xoscHz / 1000 / 256);
  return `/* tinyprune start-up for the Raspberry Pi Pico (RP2040). Generated file. */
#include <stdint.h>

#define REG(a) (*(volatile uint32_t *)(a))
#define CLR(a) REG((a) + 0x3000u) /* atomic bit-clear alias */
#define RESETS 0x4000c000u
#define CLOCKS 0x40008000u
#define XOSC 0x40024000u
#define PLL_SYS 0x40028000u
#define WATCHDOG 0x40058000u
#define IO_BANK0 0x40014000u
#define UART0 0x40034000u
#define TIMER 0x40054000u
#define RESET_IO_BANK0 (1u << 5)
#define RESET_PADS_BANK0 (1u << 8)
#define RESET_PLL_SYS (1u << 12)
#define RESET_TIMER (1u << 21)
#define RESET_UART0 (1u << 22)

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
int main(void);

static void unreset(uint32_t bits) {
  CLR(RESETS + 0x0) = bits;
  while ((REG(RESETS + 0x8) & bits) != bits) {
  }
}

static void clocks_init(void) {
  /* clk_sys and clk_ref off the aux sources while the PLL changes (SRC = clk_ref / ROSC). */
  CLR(CLOCKS + 0x3c) = 1u;
  while (REG(CLOCKS + 0x44) != 1u) {
  }
  CLR(CLOCKS + 0x30) = 3u;
  while (REG(CLOCKS + 0x38) != 1u) {
  }
  /* XOSC: 1-15 MHz range, ~1 ms start-up, enable, wait until stable. */
  REG(XOSC + 0x00) = 0xaa0u;
  REG(XOSC + 0x0c) = ${xoscDelay}u;
  REG(XOSC + 0x00) = 0xaa0u | (0xfabu << 12);
  while (!(REG(XOSC + 0x04) & 0x80000000u)) {
  }
  /* PLL_SYS from reset: REFDIV 1, FBDIV ${b.pllFbdiv} (VCO ${c.vcoHz / 1e6} MHz), power up the
     VCO, wait for lock, then the post dividers ${b.pllPostdiv1} x ${b.pllPostdiv2} -> ${c.sysHz / 1e6} MHz. */
  REG(RESETS + 0x2000) = RESET_PLL_SYS;
  unreset(RESET_PLL_SYS);
  REG(PLL_SYS + 0x00) = 1u;
  REG(PLL_SYS + 0x08) = ${b.pllFbdiv}u;
  CLR(PLL_SYS + 0x04) = (1u << 0) | (1u << 5); /* PD, VCOPD */
  while (!(REG(PLL_SYS + 0x00) & 0x80000000u)) {
  }
  REG(PLL_SYS + 0x0c) = (${b.pllPostdiv1}u << 16) | (${b.pllPostdiv2}u << 12);
  CLR(PLL_SYS + 0x04) = 1u << 3; /* POSTDIVPD */
  /* clk_ref = XOSC / 1. */
  REG(CLOCKS + 0x34) = 1u << 8;
  REG(CLOCKS + 0x30) = 2u;
  while (REG(CLOCKS + 0x38) != (1u << 2)) {
  }
  /* clk_sys = PLL_SYS / 1 (AUXSRC 0 = pll_sys, then SRC = aux). */
  REG(CLOCKS + 0x40) = 1u << 8;
  REG(CLOCKS + 0x3c) = 0u;
  REG(CLOCKS + 0x3c) = 1u;
  while (REG(CLOCKS + 0x44) != (1u << 1)) {
  }
  /* clk_peri = clk_sys (AUXSRC 0), enabled. */
  REG(CLOCKS + 0x48) = 1u << 11;
  /* The 1 us tick of TIMER and WATCHDOG, from clk_ref (${b.xoscHz / 1e6} MHz). */
  REG(WATCHDOG + 0x2c) = (1u << 9) | ${b.xoscHz / 1e6}u;
}

static void uart_init(void) {
  unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0 | RESET_TIMER);
  REG(UART0 + 0x24) = ${c.ibrd}u; /* IBRD: ${c.sysHz / 1e6} MHz / (16 x ${b.uartBaud}) */
  REG(UART0 + 0x28) = ${c.fbrd}u; /* FBRD */
  REG(UART0 + 0x2c) = (3u << 5) | (1u << 4); /* LCR_H: 8 bits, no parity, 1 stop, FIFOs */
  REG(UART0 + 0x30) = (1u << 0) | (1u << 8) | (1u << 9); /* CR: UARTEN, TXE, RXE */
  REG(IO_BANK0 + 0x04) = 2u; /* GPIO0_CTRL: FUNCSEL UART0 TX */
  REG(IO_BANK0 + 0x0c) = 2u; /* GPIO1_CTRL: FUNCSEL UART0 RX */
}

void tp_putc(char ch) {
  while (REG(UART0 + 0x18) & (1u << 5)) { /* FR.TXFF */
  }
  REG(UART0 + 0x00) = (uint8_t)ch;
}

void tp_print(const char *s) {
  for (; *s; s++) {
    if (*s == '\\n') tp_putc('\\r');
    tp_putc(*s);
  }
}

void tp_print_int(int32_t v) {
  char buf[12];
  int n = 0;
  uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
  do {
    buf[n++] = (char)('0' + u % 10u);
    u /= 10u;
  } while (u);
  if (v < 0) tp_putc('-');
  while (n) tp_putc(buf[--n]);
}

uint32_t tp_micros(void) { return REG(TIMER + 0x28); /* TIMERAWL */ }

void tp_reset(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  clocks_init();
  uart_init();
  main();
  for (;;) __asm volatile("wfi");
}

void *memcpy(void *d, const void *s, unsigned n) {
  uint8_t *dp = d;
  const uint8_t *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void *memset(void *d, int v, unsigned n) {
  uint8_t *dp = d;
  while (n--) *dp++ = (uint8_t)v;
  return d;
}

static void tp_fault(void) {
  tp_print("tinyprune: fault\\n");
  for (;;) __asm volatile("wfi");
}

__attribute__((section(".vectors"), used)) void *const tp_vectors[48] = {
    (void *)&__stack_top, (void *)tp_reset, (void *)tp_fault, (void *)tp_fault,
    [4 ... 47] = (void *)tp_fault,
};
`;
}

/** The board's main: every bundled input through the model, scores and time printed. */
export function boardMainC(model: string, t: Target, inputs: number): string {
  const mhz = t.clockHz / 1e6;
  return `/* tinyprune board main. Generated file. */
#include <stdint.h>
#include "model.h"
#include "tp_inputs.h"

void tp_print(const char *s);
void tp_print_int(int32_t v);
uint32_t tp_micros(void);

int main(void) {
  tp_print("tinyprune: ${model} on ${t.label.replace(/"/g, "'")} at ${mhz} MHz, ${inputs} inputs\\n");
  for (int n = 0; n < TP_NUM_INPUTS; n++) {
    int8_t *in = model_input();
    for (int i = 0; i < MODEL_INPUT_SIZE; i++) in[i] = tp_inputs[n][i];
    const uint32_t t0 = tp_micros();
    model_invoke();
    const uint32_t us = tp_micros() - t0;
    const int8_t *out = model_output();
    int best = 0;
    tp_print("input ");
    tp_print_int(n);
    tp_print(": scores");
    for (int i = 0; i < MODEL_OUTPUT_SIZE; i++) {
      tp_print(" ");
      tp_print_int(out[i]);
      if (out[i] > out[best]) best = i;
    }
    tp_print(" class ");
    tp_print_int(best);
    tp_print(" us ");
    tp_print_int((int32_t)us);
    tp_print(" cycles ");
    tp_print_int((int32_t)(us * ${mhz}u));
    tp_print("\\n");
  }
  tp_print("${BOARD_DONE}\\n");
  return 0;
}
`;
}

export interface BoardImage {
  elf: CompileResult;
  /** Flash contents from 0x10000000: boot2, then the application. */
  flash: Uint8Array;
  uf2: Uint8Array;
  inputs: number;
}

/**
 * Builds the board firmware from model.c in `dir` with the given int8 inputs bundled, and writes
 * firmware_board.elf and firmware.uf2 to `outDir`.
 */
export function buildBoardImage(o: {
  dir: string;
  outDir: string;
  target: Target;
  model: string;
  inputs: Int8Array[];
  inputBytes: number;
  env?: NodeJS.ProcessEnv;
}): BoardImage {
  const b = o.target.board;
  if (!b) throw new TinypruneError(`deploy: target ${o.target.name} has no board image`);
  const rows = o.inputs.map((x) => `  {${Array.from(x).join(',')}},`).join('\n');
  writeFileSync(
    join(o.dir, 'tp_inputs.h'),
    `#define TP_NUM_INPUTS ${o.inputs.length}\nstatic const int8_t tp_inputs[${Math.max(1, o.inputs.length)}][${o.inputBytes}] = {\n${rows}\n};\n`,
  );
  writeFileSync(join(o.dir, 'board_main.c'), boardMainC(o.model, o.target, o.inputs.length));
  const elf = compileFirmware({
    dir: o.dir,
    sources: ['model.c', 'board_main.c'],
    cpu: o.target.cpu,
    memory: o.target.memory,
    out: join(o.outDir, 'firmware_board.elf'),
    startup: { file: 'tp_board_startup.c', text: boardStartupC(o.target, b) },
    defines: { TP_MARKS: 0 },
    env: o.env,
    label: `${o.model} board image`,
  });
  const m = o.target.memory;
  const flash = flashImage(elf.elf, m.flashOrigin, m.flashBytes);
  flash.set(buildBoot2(o.dir, o.env), 0);
  const uf2 = toUf2(flash, m.flashOrigin);
  writeFileSync(join(o.outDir, 'firmware.uf2'), uf2);
  return { elf, flash, uf2, inputs: o.inputs.length };
}
