// Hand-scheduled Thumb-1 inner loops for the generated C (GCC spills accumulators to the stack
// in these loops on Cortex-M0+, costing about twice the cycles).

/**
 * TP_DOT4: four dot products of n (even) offset-binary inputs with int8 weights interleaved
 * [n][4]. One input load feeds four multiplies; one 32-bit load brings four weights, which are
 * sign-extended in registers. Accumulators may live in high registers (ADD takes any register).
 * About 20 cycles per input (4 MACs) on a Cortex-M0+.
 */
export const DOT4_MACRO = String.raw`#define TP_DOT4_STEP(OFF_I, OFF_W)                                              \
  "ldrb %[u], [%[i], #" #OFF_I "]\n ldr %[x], [%[w], #" #OFF_W "]\n"            \
  "sxtb %[t], %[x]\n muls %[t], %[u]\n add %[a0], %[t]\n"                      \
  "lsls %[t], %[x], #16\n asrs %[t], %[t], #24\n muls %[t], %[u]\n add %[a1], %[t]\n" \
  "lsls %[t], %[x], #8\n asrs %[t], %[t], #24\n muls %[t], %[u]\n add %[a2], %[t]\n" \
  "asrs %[t], %[x], #24\n muls %[t], %[u]\n add %[a3], %[t]\n"
#define TP_DOT4X4(IN, W, N, A0, A1, A2, A3)                                     \
  do {                                                                          \
    const uint8_t *tp_i = (IN), *tp_e = (IN) + (N);                             \
    uint32_t tp_u, tp_x, tp_t;                                                  \
    __asm volatile(".syntax unified\n1:\n" TP_DOT4_STEP(0, 0) TP_DOT4_STEP(1, 4)                 \
                   TP_DOT4_STEP(2, 8) TP_DOT4_STEP(3, 12)                      \
                   "adds %[i], #4\n adds %[w], #16\n cmp %[i], %[e]\n bne 1b\n"  \
                   : [i] "+l"(tp_i), [w] "+l"(W), [u] "=&l"(tp_u),           \
                     [x] "=&l"(tp_x), [t] "=&l"(tp_t), [a0] "+r"(A0),           \
                     [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3)                \
                   : [e] "r"(tp_e)                                              \
                   : "cc", "memory");                                           \
  } while (0)
#define TP_DOT4X8(IN, W, N, A0, A1, A2, A3)                                     \
  do {                                                                          \
    const uint8_t *tp_i = (IN), *tp_e = (IN) + (N);                             \
    uint32_t tp_u, tp_x, tp_t;                                                  \
    __asm volatile(".syntax unified\n1:\n" TP_DOT4_STEP(0, 0) TP_DOT4_STEP(1, 4)                 \
                   TP_DOT4_STEP(2, 8) TP_DOT4_STEP(3, 12) TP_DOT4_STEP(4, 16)  \
                   TP_DOT4_STEP(5, 20) TP_DOT4_STEP(6, 24) TP_DOT4_STEP(7, 28) \
                   "adds %[i], #8\n adds %[w], #32\n cmp %[i], %[e]\n beq 2f\n b 1b\n2:\n" \
                   : [i] "+l"(tp_i), [w] "+l"(W), [u] "=&l"(tp_u),           \
                     [x] "=&l"(tp_x), [t] "=&l"(tp_t), [a0] "+r"(A0),           \
                     [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3)                \
                   : [e] "r"(tp_e)                                              \
                   : "cc", "memory");                                           \
  } while (0)
#define TP_DOT4(IN, W, N, A0, A1, A2, A3)                                       \
  do {                                                                          \
    const uint8_t *tp_i = (IN), *tp_e = (IN) + (N);                             \
    uint32_t tp_u, tp_x, tp_t;                                                  \
    __asm volatile(".syntax unified\n1:\n" TP_DOT4_STEP(0, 0) TP_DOT4_STEP(1, 4)                 \
                   "adds %[i], #2\n adds %[w], #8\n cmp %[i], %[e]\n bne 1b\n"  \
                   : [i] "+l"(tp_i), [w] "+l"(W), [u] "=&l"(tp_u),           \
                     [x] "=&l"(tp_x), [t] "=&l"(tp_t), [a0] "+r"(A0),           \
                     [a1] "+r"(A1), [a2] "+r"(A2), [a3] "+r"(A3)                \
                   : [e] "r"(tp_e)                                              \
                   : "cc", "memory");                                           \
  } while (0)
`;

/**
 * The TP_DOT4 loop over all channel groups of one pixel, in a function of its own (inlined into a
 * layer, the register allocator can run out of low registers around it: "impossible
 * constraints"). `acc` holds the biases on entry and the accumulators on return; `end` is
 * `acc` + output channels; weights interleaved [groups][n][4]. One call per pixel.
 */
export function dot4RowFunction(n: number): string {
  // Fully unrolled in blocks of 8 inputs (immediate offsets reach 8 inputs / 32 weight bytes):
  // no end pointer, which leaves the allocator registers for the group loop.
  const blocks = Array.from({ length: Math.ceil(n / 8) }, (_, b) =>
    Array.from({ length: Math.min(8, n - 8 * b) }, (_, s) => `TP_DOT4_STEP(${s}, ${4 * s})`).join(
      ' ',
    ),
  );
  return `static __attribute__((noinline)) void tp_dot4row_${n}(const uint8_t *in, const int8_t *w,
                                                   int32_t *acc, const int32_t *end) {
  do {
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const uint8_t *tp_i = in;
    uint32_t tp_u, tp_x, tp_t;
    __asm volatile(".syntax unified\\n"
      ${blocks.join('\n      "adds %[i], #8\\n adds %[w], #32\\n"\n      ')}
      "adds %[w], #${4 * (n - 8 * (blocks.length - 1))}\\n"
      : [i] "+l"(tp_i), [w] "+l"(w), [u] "=&l"(tp_u), [x] "=&l"(tp_x), [t] "=&l"(tp_t),
        [a0] "+h"(a0), [a1] "+h"(a1), [a2] "+h"(a2), [a3] "+h"(a3)
      :
      : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
    acc += 4;
  } while (acc != end);
}
`;
}

/**
 * Depthwise kernel for all channels of one output pixel, taps unrolled: `pt[t]` points at the
 * input pixel of tap t (or a row of the input zero point for padding) and the weights are
 * interleaved [taps][4] per group of four channels, so one tap-pointer load and one 32-bit weight
 * load feed four multiplies (GCC's version of the same loop spills the tap pointers). The loop
 * runs over the channel groups, last group first (it ends on a sign test, one register fewer). `ac`
 * holds the biases on entry and the accumulators on return; `c`, `w` and `ac` point at the last
 * group. One call per pixel instead of one per group of four channels.
 */
export function depthwiseRowFunction(taps: number): string {
  const step = (t: number) => [
    `ldr %[p], [%[pa], #${4 * t}]`,
    'add %[p], %[c]',
    `ldr %[x], [%[w], #${4 * t}]`,
    'ldrb %[u], [%[p], #0]',
    'sxtb %[t], %[x]',
    'muls %[t], %[u]',
    'add %[a0], %[t]',
    'ldrb %[u], [%[p], #1]',
    'lsls %[t], %[x], #16',
    'asrs %[t], %[t], #24',
    'muls %[t], %[u]',
    'add %[a1], %[t]',
    'ldrb %[u], [%[p], #2]',
    'lsls %[t], %[x], #8',
    'asrs %[t], %[t], #24',
    'muls %[t], %[u]',
    'add %[a2], %[t]',
    'ldrb %[u], [%[p], #3]',
    'asrs %[t], %[x], #24',
    'muls %[t], %[u]',
    'add %[a3], %[t]',
  ];
  const lines = [
    '1:',
    ...[0, 1, 2, 3].flatMap((j) => [`ldr %[t], [%[ac], #${4 * j}]`, `mov %[a${j}], %[t]`]),
    ...Array.from({ length: taps }, (_, k) => step(k)).flat(),
    ...[0, 1, 2, 3].flatMap((j) => [`mov %[t], %[a${j}]`, `str %[t], [%[ac], #${4 * j}]`]),
    'subs %[ac], #16',
    `subs %[w], #${4 * taps}`,
    'mov %[t], %[c]',
    'subs %[t], #4',
    'mov %[c], %[t]',
    'bmi 2f',
    'b 1b',
    '2:',
  ];
  return `static __attribute__((noinline)) void tp_dwrow_${taps}(const uint8_t *const *pt, int c,
                                                  const int8_t *w, int32_t *ac) {
  int32_t a0, a1, a2, a3;
  const uint8_t *p;
  uint32_t u, x, t;
  __asm volatile(".syntax unified\\n"
${lines.map((s) => `      "${s}\\n"`).join('\n')}
      : [p] "=&l"(p), [u] "=&l"(u), [x] "=&l"(x), [t] "=&l"(t), [a0] "=&h"(a0), [a1] "=&h"(a1),
        [a2] "=&h"(a2), [a3] "=&h"(a3), [c] "+r"(c), [w] "+l"(w), [ac] "+l"(ac)
      : [pa] "l"(pt)
      : "cc", "memory");
}
`;
}
