// Bare-metal runtime sources written next to the generated model: startup code (vector table,
// .data copy, .bss zeroing, stack painting), semihosting and cycle marks, the benchmark harness
// main, and one linker script per memory map. Kept as strings so that they ship with the
// compiled package and need no file lookup at run time.

export type { MemoryMap } from './targets.js';
import type { MemoryMap } from './targets.js';

/** Fill pattern of the unused stack; the first word that differs marks the peak stack use. */
export const STACK_PAINT = 0x5afec0de;

/** Mark ids the harness uses around the inference; layers use their index (< 0xff00). */
export const MARK_START = 0xfff0;
export const MARK_END = 0xfff1;

export const RUNTIME_H = `/* tinyprune bare-metal runtime: semihosting and cycle marks. Generated file. */
#ifndef TP_RUNTIME_H
#define TP_RUNTIME_H
#include <stdint.h>

/* ARM semihosting: BKPT 0xAB with the operation in r0 and its argument in r1. */
static inline int tp_semihost(int op, const void *arg) {
  register int r0 __asm("r0") = op;
  register const void *r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static inline void tp_puts(const char *s) { tp_semihost(0x04, s); }

/* Cycle marks: only in emulator builds (a BKPT without a debugger faults on real hardware). */
#if TP_MARKS
static inline void tp_mark(unsigned id) {
  register unsigned r0 __asm("r0") = id;
  __asm volatile("bkpt 0x01" : : "r"(r0) : "memory");
}
#else
#define tp_mark(id) ((void)0)
#endif

void tp_exit(int code) __attribute__((noreturn));
#endif
`;

export const STARTUP_C = `/* tinyprune startup for Cortex-M0/M0+. Generated file. */
#include <stdint.h>
#include "tp_runtime.h"

extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end;
extern uint32_t __stack_limit, __stack_top;
int main(void);

void tp_exit(int code) {
  /* SYS_EXIT_EXTENDED carries the exit code; emulators and QEMU stop here. */
  uint32_t block[2] = {0x20026u, (uint32_t)code};
  tp_semihost(0x20, block);
  for (;;) __asm volatile("bkpt 0xFE");
}

void tp_reset(void) {
  uint32_t *src = &__data_load, *dst = &__data_start;
  while (dst < &__data_end) *dst++ = *src++;
  for (dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
  /* Paint the free stack so that the peak use can be read back after a run. */
  uint32_t sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  for (dst = &__stack_limit; dst < (uint32_t *)(sp - 64);) *dst++ = ${STACK_PAINT}u;
  tp_exit(main());
}

/* The compiler may call these for block copies; no C library is linked. */
void *memcpy(void *d, const void *s, unsigned n) {
  uint8_t *dp = d;
  const uint8_t *sp = s;
  while (n--) *dp++ = *sp++;
  return d;
}

void *memset(void *d, int c, unsigned n) {
  uint8_t *dp = d;
  while (n--) *dp++ = (uint8_t)c;
  return d;
}

static void tp_fault(void) {
  for (;;) __asm volatile("bkpt 0xFE");
}

__attribute__((section(".vectors"), used)) void *const tp_vectors[48] = {
    (void *)&__stack_top, (void *)tp_reset, (void *)tp_fault, (void *)tp_fault,
    [4 ... 47] = (void *)tp_fault,
};
`;

/** The harness: copy the input in, run the model between marks, copy the output out. */
export function harnessC(opts: { embeddedInputs?: number }): string {
  const common = `/* tinyprune benchmark harness. Generated file. */
#include <stdint.h>
#include "model.h"
#include "tp_runtime.h"
`;
  if (!opts.embeddedInputs)
    return `${common}
/* The host writes the input here and reads the output back (not zeroed at reset). */
__attribute__((section(".noinit"), used)) int8_t tp_io_in[MODEL_INPUT_SIZE];
__attribute__((section(".noinit"), used)) int8_t tp_io_out[MODEL_OUTPUT_SIZE];

int main(void) {
  int8_t *in = model_input();
  for (int i = 0; i < MODEL_INPUT_SIZE; i++) in[i] = tp_io_in[i];
  tp_mark(${MARK_START});
  model_invoke();
  tp_mark(${MARK_END});
  const int8_t *out = model_output();
  for (int i = 0; i < MODEL_OUTPUT_SIZE; i++) tp_io_out[i] = out[i];
  return 0;
}
`;
  // Stand-alone variant (QEMU): inputs compiled in, outputs printed as hex over semihosting.
  return `${common}#include "tp_inputs.h"

static const char hex[] = "0123456789abcdef";

int main(void) {
  static char line[2 * MODEL_OUTPUT_SIZE + 2];
  for (int n = 0; n < TP_NUM_INPUTS; n++) {
    int8_t *in = model_input();
    for (int i = 0; i < MODEL_INPUT_SIZE; i++) in[i] = tp_inputs[n][i];
    model_invoke();
    const int8_t *out = model_output();
    for (int i = 0; i < MODEL_OUTPUT_SIZE; i++) {
      uint8_t b = (uint8_t)out[i];
      line[2 * i] = hex[b >> 4];
      line[2 * i + 1] = hex[b & 15];
    }
    line[2 * MODEL_OUTPUT_SIZE] = '\\n';
    line[2 * MODEL_OUTPUT_SIZE + 1] = 0;
    tp_puts(line);
  }
  return 0;
}
`;
}

export function linkerScript(m: MemoryMap): string {
  const hex = (n: number) => `0x${n.toString(16)}`;
  return `/* tinyprune linker script. Generated file. */
MEMORY
{
  FLASH (rx) : ORIGIN = ${hex(m.flashOrigin)}, LENGTH = ${hex(m.flashBytes)}
  RAM (rwx) : ORIGIN = ${hex(m.ramOrigin)}, LENGTH = ${hex(m.ramBytes)}
}
ENTRY(tp_reset)
SECTIONS
{
  .reserved : { . = ${hex(m.flashReserved)}; } > FLASH
  .text : ALIGN(256) { KEEP(*(.vectors)) *(.text*) *(.glue_7*) } > FLASH
  .rodata : ALIGN(4) { *(.rodata*) . = ALIGN(4); } > FLASH
  .ARM.exidx : { *(.ARM.exidx*) } > FLASH
  .data : ALIGN(4) { __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; } > RAM AT > FLASH
  __data_load = LOADADDR(.data);
  .bss (NOLOAD) : ALIGN(4) { __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end = .; } > RAM
  .noinit (NOLOAD) : ALIGN(4) { *(.noinit*) . = ALIGN(4); } > RAM
  __stack_limit = .;
  __stack_top = ORIGIN(RAM) + LENGTH(RAM);
  /DISCARD/ : { *(.ARM.attributes) *(.comment) }
}
`;
}
