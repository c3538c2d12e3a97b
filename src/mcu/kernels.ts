// Shared kernels of the generated C: hand-scheduled Thumb-1 routines (GCC spills accumulators
// to the stack in these loops on a Cortex-M0+, costing about twice the cycles) and the small C
// drivers that run a layer from its constant descriptor. Every layer of a model shares these,
// so the code beyond the constants stays a few KB whatever the model's depth.
//
// Register use follows the AAPCS: r4-r11 are saved, arguments beyond the fourth are on the
// stack (at sp + 36 once r4-r11 and lr are pushed).

const PROLOGUE = [
  'push {r4, r5, r6, r7, lr}',
  'mov r4, r8',
  'mov r5, r9',
  'mov r6, r10',
  'mov r7, r11',
  'push {r4, r5, r6, r7}',
];
const EPILOGUE = [
  'pop {r4, r5, r6, r7}',
  'mov r8, r4',
  'mov r9, r5',
  'mov r10, r6',
  'mov r11, r7',
  'pop {r4, r5, r6, r7, pc}',
];
/** Four accumulators (r8-r11) out to memory at r3, post-incremented. */
const STORE_ACC = [
  'mov r4, r8',
  'mov r5, r9',
  'mov r6, r10',
  'mov r7, r11',
  'stmia r3!, {r4, r5, r6, r7}',
];

/**
 * One input byte (r5, offset-binary) times the int8 weight of channel j in the packed weight word
 * (r6), added to r8 + j; r7 is scratch. 14 cycles for four channels, plus the loads.
 */
const MAC = [
  ['sxtb r7, r6', 'muls r7, r5', 'add r8, r7'],
  ['lsls r7, r6, #16', 'asrs r7, r7, #24', 'muls r7, r5', 'add r9, r7'],
  ['lsls r7, r6, #8', 'asrs r7, r7, #24', 'muls r7, r5', 'add r10, r7'],
  ['asrs r7, r6, #24', 'muls r7, r5', 'add r11, r7'],
];
const MAC4 = MAC.flat();

function nakedFunction(signature: string, lines: string[]): string {
  return `__attribute__((naked, noinline)) ${signature} {
  __asm volatile(".syntax unified\\n"
${lines.map((s) => `      "${s}\\n"`).join('\n')}
  );
}
`;
}

/** n inputs (r4, then advanced) times their packed weights (r1, then advanced) into r8-r11. */
function dotInputs(n: number): string[] {
  const steps = Array.from({ length: n }, (_, s) => [
    `ldrb r5, [r4, #${s}]`,
    `ldr r6, [r1, #${4 * s}]`,
    ...MAC4,
  ]);
  return [...steps.flat(), `adds r4, #${n}`, `adds r1, #${4 * n}`];
}

/**
 * tp_dot4rows: for each group of four output channels, bias + the dot products of n (even)
 * offset-binary inputs with int8 weights interleaved [group][n][4]; one input load feeds four
 * multiplies, one word load brings four weights. Accumulators go to acc[] (up to accEnd).
 * About 18 cycles per input and group.
 */
const DOT4ROWS = nakedFunction(
  'void tp_dot4rows(const uint8_t *in, const int8_t *w, const int32_t *b, int32_t *acc, int n, int32_t *accEnd)',
  [
    ...PROLOGUE,
    'ldr r4, [sp, #36]', // n
    'adds r5, r0, r4',
    'mov lr, r5', // in + n
    'lsrs r4, r4, #4',
    'lsls r4, r4, #4',
    'adds r4, r0',
    'mov r12, r4', // in + 16*floor(n/16)
    '1:',
    'ldmia r2!, {r4, r5, r6, r7}',
    'mov r8, r4',
    'mov r9, r5',
    'mov r10, r6',
    'mov r11, r7',
    'movs r4, r0',
    'cmp r4, r12',
    'bne 2f', // (the 16-input loop is too long for a conditional branch across it)
    'b 3f',
    '2:',
    ...dotInputs(16),
    'cmp r4, r12',
    'beq 3f',
    'b 2b',
    '3:',
    'mov r5, lr',
    'subs r5, r5, r4',
    'cmp r5, #8',
    'bge 8f',
    'b 7f',
    '8:',
    ...dotInputs(8),
    '7:',
    'cmp r4, lr',
    'beq 5f',
    '4:',
    ...dotInputs(2),
    'cmp r4, lr',
    'bne 4b',
    '5:',
    ...STORE_ACC,
    'ldr r4, [sp, #40]',
    'cmp r3, r4',
    'beq 6f',
    'b 1b',
    '6:',
    ...EPILOGUE,
  ],
);

/** tp_dot8p's stack frame (bytes from sp after its prologue and `sub sp, #40`). */
const P8 = {
  in: 0,
  b: 4,
  acc: 8,
  kAdj: 12,
  w: 16,
  ch1: 20,
  ch7: 24,
  lo: 28,
  hi: 32,
  sh16: 36,
  w0: 40,
  b0: 44,
  rq0: 48,
  acc0: 52,
  rows: 56,
  kLen: 60,
  K: 100,
  accEnd: 104,
  rq: 108,
  out: 112,
  lohish: 116,
  rowsArg: 120,
};

/**
 * Requantises channel k of tp_dot8p's group (x in r6) into out[k] (r1) with the fast form of
 * requant.ts: the entry {M, rnd, t} from r0 (one LDM), 16 + sh in r7. Clamped outputs and
 * x >= 2^16 branch to the blocks in `side`, placed after each pair of channels.
 */
function dot8pRequant(k: number) {
  const load =
    k === 0
      ? []
      : k === 1
        ? [`ldr r6, [sp, #${P8.ch1}]`]
        : k === 7
          ? [`ldr r6, [sp, #${P8.ch7}]`]
          : [`mov r6, ${['r8', 'r9', 'r10', 'r11', 'r12'][k - 2]}`];
  return {
    main: [
      ...load,
      'cmp r6, #0',
      `ble ${40 + k}f`,
      'ldmia r0!, {r2, r3, r4}', // M, rnd, t
      'cmp r6, r4',
      `bge ${50 + k}f`,
      'lsrs r5, r6, #16',
      `bne ${60 + k}f`,
      // x·mh + (x·ml >> 16) + rnd, >> (16 + sh).
      'lsrs r5, r2, #16',
      'uxth r2, r2',
      'muls r5, r6',
      'lsrs r5, r5, #16',
      'muls r6, r2',
      'adds r6, r5',
      'adds r6, r3',
      'lsrs r6, r7',
      `${70 + k}:`,
      `strb r6, [r1, #${k}]`,
    ],
    side: [
      `${40 + k}:`,
      'adds r0, #12', // (the entry is not loaded)
      `ldr r6, [sp, #${P8.lo}]`,
      `b ${70 + k}b`,
      `${50 + k}:`,
      `ldr r6, [sp, #${P8.hi}]`,
      `b ${70 + k}b`,
      `${60 + k}:`,
      'bl 30f',
      `b ${70 + k}b`,
    ],
  };
}

/**
 * tp_dot8p: one pixel, eight output channels per pass, two MACs per multiply. The int8 weights
 * of channels 2p and 2p + 1 at input k are packed in one word w0 + w1·2^16 and multiplied by
 * the centred input v = u - 128 (the int8 value itself), which gives v·w0 + v·w1·2^16; two
 * such products (inputs k and k + 1) are added before the halves are split (SXTH, then the
 * rest >> 16). Exact because |v·w| <= 128·127, so each half of the sum fits 16 bits (the
 * generator keeps weights of -128 off this kernel). Per two inputs and eight channels: two
 * LDRB, two SUBS and four times LDM + 2 MULS + 6 = 50 cycles for 16 MACs. Weights laid out
 * [outC/8][K/2][4 pairs][k, k + 1]; K even. Accumulators: channel 2p in (r6, r8, r10, r12)[p],
 * 2p + 1 in (r7, r9, r11, lr)[p]. With out set, each group of eight is requantised straight
 * from the registers into out (rq: the layer's fast table; lohish = lo | hi << 8 |
 * (16 + sh) << 16), for `rows` pixels whose inputs (K each) and outputs follow one another;
 * with out NULL (layers with channels for the general routine; rows 1) the accumulators go
 * to acc[] up to accEnd.
 */
export const DOT8P_C = nakedFunction(
  'void tp_dot8p(const uint8_t *in, const int8_t *w, const int32_t *b, int32_t *acc, int K, int32_t *accEnd, const tp_rq_t *rq, uint8_t *out, uint32_t lohish, int rows)',
  (() => {
    const lo = ['r6', 'r8', 'r10', 'r12'];
    const hi = ['r7', 'r9', 'r11', 'lr'];
    const step = (s: number) => [
      `ldrb r2, [r0, #${2 * s}]`,
      `ldrb r3, [r0, #${2 * s + 1}]`,
      'subs r2, #128',
      'subs r3, #128',
      ...[0, 1, 2, 3].flatMap((p) => [
        'ldmia r1!, {r4, r5}',
        'muls r4, r2',
        'muls r5, r3',
        'adds r4, r4, r5',
        'sxth r5, r4',
        'subs r4, r4, r5',
        'asrs r4, r4, #16',
        `add ${lo[p]}, r5`,
        `add ${hi[p]}, r4`,
      ]),
    ];
    const requant = [0, 2, 4, 6].flatMap((k) => {
      const a = dot8pRequant(k);
      const b = dot8pRequant(k + 1);
      return [...a.main, ...b.main, `b ${80 + k}f`, ...a.side, ...b.side, `${80 + k}:`];
    });
    return [
      ...PROLOGUE,
      'sub sp, #64',
      `str r0, [sp, #${P8.in}]`,
      `str r2, [sp, #${P8.b}]`,
      `str r3, [sp, #${P8.acc}]`,
      `str r1, [sp, #${P8.w0}]`,
      `str r2, [sp, #${P8.b0}]`,
      `str r3, [sp, #${P8.acc0}]`,
      `ldr r4, [sp, #${P8.rq}]`,
      `str r4, [sp, #${P8.rq0}]`,
      `ldr r4, [sp, #${P8.rowsArg}]`,
      `str r4, [sp, #${P8.rows}]`,
      `ldr r4, [sp, #${P8.K}]`,
      `str r4, [sp, #${P8.kLen}]`,
      `ldr r4, [sp, #${P8.lohish}]`,
      'uxtb r5, r4',
      `str r5, [sp, #${P8.lo}]`,
      'lsrs r4, r4, #8',
      'uxtb r5, r4',
      `str r5, [sp, #${P8.hi}]`,
      'lsrs r4, r4, #8',
      `str r4, [sp, #${P8.sh16}]`,
      `ldr r4, [sp, #${P8.K}]`,
      'negs r5, r4',
      'movs r6, #7',
      'ands r5, r6',
      `str r5, [sp, #${P8.kAdj}]`, // (8 - K % 8) % 8: the first pass enters at step kAdj / 2
      'adds r4, r0',
      `str r4, [sp, #${P8.K}]`, // in + K, where the passes end
      '1:',
      `ldr r5, [sp, #${P8.b}]`,
      'ldmia r5!, {r6, r7}',
      'ldmia r5!, {r2, r3, r4}',
      'mov r8, r2',
      'mov r9, r3',
      'mov r10, r4',
      'ldmia r5!, {r2, r3, r4}',
      'mov r11, r2',
      'mov r12, r3',
      'mov lr, r4',
      `str r5, [sp, #${P8.b}]`,
      `ldr r0, [sp, #${P8.in}]`,
      `ldr r2, [sp, #${P8.kAdj}]`,
      'subs r0, r0, r2',
      'cmp r2, #4',
      'beq 12f',
      'bgt 13f',
      'cmp r2, #0',
      'bne 11f',
      '2:',
      ...step(0),
      '11:',
      ...step(1),
      '12:',
      ...step(2),
      '13:',
      ...step(3),
      'adds r0, #8',
      `ldr r4, [sp, #${P8.K}]`,
      'cmp r0, r4',
      'beq 3f',
      'b 2b', // (four steps are too long for a conditional branch back)
      '3:',
      `ldr r0, [sp, #${P8.out}]`,
      'cmp r0, #0',
      'bne 20f',
      `ldr r2, [sp, #${P8.acc}]`,
      'mov r3, r8',
      'mov r4, r10',
      'mov r5, r12',
      'str r6, [r2, #0]',
      'str r7, [r2, #4]',
      'str r3, [r2, #8]',
      'mov r3, r9',
      'str r3, [r2, #12]',
      'str r4, [r2, #16]',
      'mov r4, r11',
      'str r4, [r2, #20]',
      'str r5, [r2, #24]',
      'mov r5, lr',
      'str r5, [r2, #28]',
      'b 5f',
      '20:',
      `str r1, [sp, #${P8.w}]`,
      `str r7, [sp, #${P8.ch1}]`,
      'mov r2, lr',
      `str r2, [sp, #${P8.ch7}]`, // (lr is the link register of the x >= 2^16 calls)
      'movs r1, r0',
      `ldr r0, [sp, #${P8.rq}]`,
      `ldr r7, [sp, #${P8.sh16}]`,
      ...requant,
      `str r0, [sp, #${P8.rq}]`,
      'adds r1, #8',
      `str r1, [sp, #${P8.out}]`,
      `ldr r1, [sp, #${P8.w}]`,
      `ldr r2, [sp, #${P8.acc}]`,
      '5:',
      'adds r2, #32',
      `str r2, [sp, #${P8.acc}]`,
      `ldr r3, [sp, #${P8.accEnd}]`,
      'cmp r2, r3',
      'beq 4f',
      'b 1b',
      '4:',
      // The next pixel (rows > 1: requantising mode): its inputs follow, its outputs too.
      `ldr r2, [sp, #${P8.rows}]`,
      'subs r2, #1',
      'beq 6f',
      `str r2, [sp, #${P8.rows}]`,
      `ldr r0, [sp, #${P8.K}]`,
      `str r0, [sp, #${P8.in}]`,
      `ldr r2, [sp, #${P8.kLen}]`,
      'adds r0, r0, r2',
      `str r0, [sp, #${P8.K}]`,
      `ldr r1, [sp, #${P8.w0}]`,
      `ldr r2, [sp, #${P8.b0}]`,
      `str r2, [sp, #${P8.b}]`,
      `ldr r2, [sp, #${P8.rq0}]`,
      `str r2, [sp, #${P8.rq}]`,
      `ldr r2, [sp, #${P8.acc0}]`,
      `str r2, [sp, #${P8.acc}]`,
      'b 1b',
      '6:',
      'add sp, #64',
      ...EPILOGUE,
      // x >= 2^16 (r5 = xh, r2 = M, r3 = rnd): w = rnd + (xl·ml >> 16) + xh·ml + xl·mh,
      // g = (xh·mh + (w >> 16)) >> sh into r6; keeps r0, r1 and r7.
      '30:',
      'push {r7}',
      'lsrs r4, r2, #16', // ml
      'uxth r2, r2', // mh
      'uxth r6, r6', // xl
      'movs r7, r4',
      'muls r7, r6',
      'lsrs r7, r7, #16',
      'adds r3, r7',
      'muls r4, r5',
      'adds r3, r4',
      'muls r6, r2',
      'adds r3, r6',
      'lsrs r3, r3, #16',
      'muls r5, r2',
      'adds r5, r3',
      'pop {r7}',
      'movs r6, r7',
      'subs r6, #16',
      'lsrs r5, r6',
      'movs r6, r5',
      'bx lr',
    ];
  })(),
);

/** One input step of tp_dot4x2: pixel A's and B's byte (r2, r3) times four int16 weights. */
function dot4x2Step(s: number): string[] {
  const twice = (ext: string, a: string, b: string) => [
    `${ext.replace('T', 'r5')}`,
    'muls r5, r2',
    `${a}`,
    `${ext.replace('T', 'r5')}`,
    'muls r5, r3',
    `${b}`,
  ];
  return [
    `ldrb r2, [r0, #${2 * s}]`,
    `ldrb r3, [r0, #${2 * s + 1}]`,
    `ldr r4, [r1, #${8 * s}]`,
    ...twice('sxth T, r4', 'adds r6, r5', 'adds r7, r5'),
    ...twice('asrs T, r4, #16', 'add r8, r5', 'add r9, r5'),
    `ldr r4, [r1, #${8 * s + 4}]`,
    ...twice('sxth T, r4', 'add r10, r5', 'add r11, r5'),
    ...twice('asrs T, r4, #16', 'add r12, r5', 'add lr, r5'),
  ];
}

/** tp_dot4x2's stack frame (bytes from sp after its prologue and `sub sp, #60`). */
const F = {
  buf: 0,
  bufEnd: 4,
  bias: 8,
  accA: 12,
  accB: 16,
  wEnd: 20,
  k4: 24, // K & 12
  rq: 28,
  outA: 32,
  outB: 36,
  sh16: 40,
  lo: 44,
  hi: 48,
  w: 52,
  b3: 56,
  args: 96, // K, outC, rq, out, lo | hi << 8 | sh16 << 16
};

/**
 * Requantises the accumulator in x (r6 or r7) of output j into the byte at [F[slot]] + j: the
 * fast form of requant.ts with {mh, ml, rnd, t} of the channel in r2-r5 and 16 + sh in r1.
 * Clamped outputs and x >= 2^16 branch to blocks placed after the channel (`side`).
 */
function requantOne(x: 'r6' | 'r7', j: number, slot: 'outA' | 'outB', o: number) {
  const L = 100 + 10 * o;
  const main = [
    `cmp ${x}, #0`,
    `ble ${L + 1}f`,
    `cmp ${x}, r5`,
    `bge ${L + 2}f`,
    `lsrs r0, ${x}, #16`,
    `bne ${L + 4}f`,
    'movs r0, r3',
    `muls r0, ${x}`, // x·ml
    'lsrs r0, r0, #16',
    `muls ${x}, r2`, // x·mh
    `adds ${x}, r0`,
    `adds ${x}, r4`, // + rnd
    `lsrs ${x}, r1`, // >> (16 + sh)
    `${L + 3}:`,
    `ldr r0, [sp, #${F[slot]}]`,
    `strb ${x}, [r0, #${j}]`,
  ];
  const side = [
    `${L + 1}:`,
    `ldr ${x}, [sp, #${F.lo}]`,
    `b ${L + 3}b`,
    `${L + 2}:`,
    `ldr ${x}, [sp, #${F.hi}]`,
    `b ${L + 3}b`,
    `${L + 4}:`,
    `bl ${x === 'r6' ? 300 : 301}f`,
    `b ${L + 3}b`,
  ];
  return { main, side };
}

/** x >= 2^16 (r0 = xh): w = xh·ml + xl·mh + (xl·ml >> 16) + rnd, x = (xh·mh + (w >> 16)) >> sh. */
function requantBig(x: 'r6' | 'r7', label: number): string[] {
  return [
    `${label}:`,
    'push {r2, r3, r4, r5}',
    `uxth ${x}, ${x}`, // xl
    'movs r1, r3',
    `muls r1, ${x}`, // xl·ml
    'lsrs r1, r1, #16',
    'adds r4, r1',
    'movs r1, r3',
    'muls r1, r0', // xh·ml
    'adds r4, r1',
    'movs r1, r2',
    `muls r1, ${x}`, // xl·mh
    'adds r4, r1',
    'lsrs r4, r4, #16',
    'muls r2, r0', // xh·mh
    'adds r2, r4',
    `ldr r1, [sp, #${F.sh16 + 16}]`,
    'subs r1, #16',
    'lsrs r2, r1',
    `movs ${x}, r2`,
    'pop {r2, r3, r4, r5}',
    `ldr r1, [sp, #${F.sh16}]`,
    'bx lr',
  ];
}

/**
 * tp_dot4x2: two pixels at once: bias + the dot products of the K (a multiple of 4) inputs
 * of pixels A and B, interleaved in buf (A0 B0 A1 B1 ...), with int16 weights laid out
 * [outC/4][K][4]. Each weight is loaded once for both pixels and sign-extended by one
 * instruction (SXTH or ASRS #16), so a step of 8 MACs costs 32 cycles (4 per MAC) against 36
 * for two tp_dot4rows passes. Accumulators: channel j of A and B in (r6, r7), (r8, r9),
 * (r10, r11), (r12, lr). With out set, each group of four channels is requantised straight from
 * the registers (both pixels share the channel's table entry) into out[0 .. outC) and
 * out[outC ..); with out NULL (layers with channels for the general routine) the accumulators go
 * to acc[0 .. outC) and acc[outC ..).
 */
const DOT4X2 = nakedFunction(
  'void tp_dot4x2(const uint8_t *buf, const int16_t *w, const int32_t *b, int32_t *acc, int K, int outC, const tp_rq_t *rq, uint8_t *out, uint32_t lohish)',
  [
    ...PROLOGUE,
    'sub sp, #60',
    `ldr r4, [sp, #${F.args}]`, // K
    `ldr r5, [sp, #${F.args + 4}]`, // outC
    'movs r6, #12',
    'ands r6, r4',
    `str r6, [sp, #${F.k4}]`,
    `str r0, [sp, #${F.buf}]`,
    'lsls r6, r4, #1',
    'adds r6, r0',
    `str r6, [sp, #${F.bufEnd}]`,
    `str r2, [sp, #${F.bias}]`,
    `str r3, [sp, #${F.accA}]`,
    'lsls r6, r5, #2',
    'adds r6, r3',
    `str r6, [sp, #${F.accB}]`,
    `ldr r6, [sp, #${F.args + 8}]`,
    `str r6, [sp, #${F.rq}]`,
    `ldr r6, [sp, #${F.args + 12}]`,
    `str r6, [sp, #${F.outA}]`,
    'adds r6, r5',
    `str r6, [sp, #${F.outB}]`,
    `ldr r6, [sp, #${F.args + 16}]`,
    'uxtb r7, r6',
    `str r7, [sp, #${F.lo}]`,
    'lsrs r6, r6, #8',
    'uxtb r7, r6',
    `str r7, [sp, #${F.hi}]`,
    'lsrs r6, r6, #8',
    `str r6, [sp, #${F.sh16}]`,
    'muls r4, r5',
    'lsls r4, r4, #1',
    'adds r4, r1',
    `str r4, [sp, #${F.wEnd}]`,
    '1:',
    `ldr r0, [sp, #${F.bias}]`,
    'ldmia r0!, {r2, r3, r4, r5}',
    `str r0, [sp, #${F.bias}]`,
    'movs r6, r2',
    'movs r7, r2',
    'mov r8, r3',
    'mov r9, r3',
    'mov r10, r4',
    'mov r11, r4',
    'mov r12, r5',
    'mov lr, r5',
    `ldr r0, [sp, #${F.buf}]`,
    // K = 16m + r: the first pass enters the 16-step body at step 16 - r (Duff's device).
    `ldr r2, [sp, #${F.k4}]`,
    'cmp r2, #0',
    'beq 2f',
    'cmp r2, #8',
    'beq 15f',
    'bgt 16f',
    'subs r0, #24', // r = 4: enter at step 12
    'subs r1, #96',
    'b 14f',
    '15:', // r = 8: step 8
    'subs r0, #16',
    'subs r1, #64',
    'b 13f',
    '16:', // r = 12: step 4
    'subs r0, #8',
    'subs r1, #32',
    'b 12f',
    '2:',
    ...[0, 4, 8, 12].flatMap((q) => [
      ...(q ? [`${11 + q / 4}:`] : []),
      ...Array.from({ length: 4 }, (_, s) => dot4x2Step(q + s)).flat(),
    ]),
    'adds r0, #32',
    'adds r1, #128',
    `ldr r2, [sp, #${F.bufEnd}]`,
    'cmp r0, r2',
    'beq 3f',
    'b 2b', // (the 16-step body is too long for a conditional branch back)
    '3:',
    `ldr r0, [sp, #${F.outA}]`,
    'cmp r0, #0',
    'bne 10f',
    `ldr r0, [sp, #${F.accA}]`,
    'movs r2, r6',
    'mov r3, r8',
    'mov r4, r10',
    'mov r5, r12',
    'stmia r0!, {r2, r3, r4, r5}',
    `str r0, [sp, #${F.accA}]`,
    `ldr r0, [sp, #${F.accB}]`,
    'movs r2, r7',
    'mov r3, r9',
    'mov r4, r11',
    'mov r5, lr',
    'stmia r0!, {r2, r3, r4, r5}',
    `str r0, [sp, #${F.accB}]`,
    'b 11f',
    '10:',
    `str r1, [sp, #${F.w}]`,
    'mov r0, lr',
    `str r0, [sp, #${F.b3}]`, // (lr is the link register of the x >= 2^16 calls)
    `ldr r1, [sp, #${F.sh16}]`,
    ...[0, 1, 2, 3].flatMap((k) => {
      const a = requantOne('r6', k, 'outA', 2 * k);
      const b = requantOne('r7', k, 'outB', 2 * k + 1);
      const load =
        k === 0
          ? []
          : k === 3
            ? ['mov r6, r12', `ldr r7, [sp, #${F.b3}]`]
            : [`mov r6, r${6 + 2 * k}`, `mov r7, r${7 + 2 * k}`];
      return [
        ...load,
        `ldr r0, [sp, #${F.rq}]`,
        'ldmia r0!, {r2, r4, r5}', // M, rnd, t
        `str r0, [sp, #${F.rq}]`,
        'lsrs r3, r2, #16', // ml
        'uxth r2, r2', // mh
        ...a.main,
        ...b.main,
        `b ${200 + k}f`,
        ...a.side,
        ...b.side,
        `${200 + k}:`,
      ];
    }),
    `ldr r0, [sp, #${F.outA}]`,
    'adds r0, #4',
    `str r0, [sp, #${F.outA}]`,
    `ldr r0, [sp, #${F.outB}]`,
    'adds r0, #4',
    `str r0, [sp, #${F.outB}]`,
    `ldr r1, [sp, #${F.w}]`,
    '11:',
    `ldr r2, [sp, #${F.wEnd}]`,
    'cmp r1, r2',
    'beq 4f',
    'b 1b',
    '4:',
    'add sp, #60',
    ...EPILOGUE,
    ...requantBig('r6', 300),
    ...requantBig('r7', 301),
  ],
);

/**
 * tp_dwrow_<taps>: all channel groups of one depthwise output pixel, taps unrolled. Tap t reads
 * the four channels at pt[t] + c, where c = base + 4·group: with base = 0, pt holds pointers
 * (border pixels, padding taps point at a row of the input zero point); with base = the window's
 * corner, pt holds the layer's constant tap offsets (interior pixels: nothing to set up).
 * Weights are interleaved [group][taps][4]; accumulators start from b[] and go to acc[].
 */
export function depthwiseRowFunction(taps: number): string {
  return nakedFunction(
    `void tp_dwrow_${taps}(const void *pt, uint32_t base, const int8_t *w, int32_t *acc, const int32_t *b, int32_t *accEnd)`,
    [
      ...PROLOGUE,
      'ldr r4, [sp, #36]',
      'mov r12, r4', // b
      'ldr r4, [sp, #40]',
      'mov lr, r4', // accEnd
      '1:',
      'mov r4, r12',
      'ldmia r4, {r4, r5, r6, r7}',
      'mov r8, r4',
      'mov r9, r5',
      'mov r10, r6',
      'mov r11, r7',
      'mov r4, r12',
      'adds r4, #16',
      'mov r12, r4',
      ...Array.from({ length: taps }, (_, t) => [
        `ldr r4, [r0, #${4 * t}]`,
        'adds r4, r4, r1',
        `ldr r6, [r2, #${4 * t}]`,
        ...MAC.flatMap((mac, j) => [`ldrb r5, [r4, #${j}]`, ...mac]),
      ]).flat(),
      `adds r2, #${4 * taps}`,
      'adds r1, #4',
      ...STORE_ACC,
      'cmp r3, lr',
      'beq 2f',
      'b 1b',
      '2:',
      ...EPILOGUE,
    ],
  );
}

/**
 * Requantisation of n accumulators to offset-binary bytes with the exact fast form of
 * requant.ts (table entries {M = mh | ml << 16, rnd, t}, one LDM each; the layer's 16 + sh in a
 * register; the output zero point folded into rnd): x <= 0 gives lo, x >= t gives hi, and in
 * between 2 16x16-bit multiplies (x < 2^16) or, in 'mul4' layers, 4. About 24 cycles in the
 * multiply path, 13 for x <= 0.
 */
function requantRow(name: string, mul4: boolean): string {
  // Two outputs per loop pass (n is a multiple of 4): output i stores to out[i], its clamped
  // and x >= 2^16 cases branch to blocks after the pass and come back to its store.
  const one = (i: number) => {
    const next = i === 0 ? '11f' : '12f';
    return {
      main: [
        `${20 + i}:`,
        'ldmia r0!, {r4}',
        'cmp r4, #0',
        `ble ${30 + i}f`,
        'ldmia r2!, {r5, r6, r7}', // M, rnd, t
        'cmp r4, r7',
        `bge ${40 + i}f`,
        ...(mul4 ? ['lsrs r7, r4, #16', `bne ${50 + i}f`] : []),
        // x·mh + (x·ml >> 16) + rnd, >> (16 + sh).
        'lsrs r7, r5, #16', // ml
        'uxth r5, r5', // mh
        'muls r7, r4',
        'lsrs r7, r7, #16',
        'muls r5, r4',
        'adds r5, r7',
        'adds r5, r6',
        'lsrs r5, r3',
        `${60 + i}:`,
        `strb r5, [r1, #${i}]`,
        ...(i === 0 ? ['11:'] : []),
      ],
      side: [
        `${30 + i}:`,
        'adds r2, #12', // (the entry is not loaded)
        'mov r5, r8',
        `b ${60 + i}b`,
        `${40 + i}:`,
        'mov r5, r9',
        `b ${60 + i}b`,
        ...(mul4
          ? [
              // x >= 2^16 (r7 = xh): w = xh·ml + xl·mh + (xl·ml >> 16) + rnd in r6,
              // g = (xh·mh + (w >> 16)) >> sh.
              `${50 + i}:`,
              'uxth r4, r4', // xl
              'lsrs r3, r5, #16', // ml
              'uxth r5, r5', // mh
              'mov r10, r3',
              'muls r3, r4', // xl·ml
              'lsrs r3, r3, #16',
              'adds r6, r3',
              'mov r3, r10',
              'muls r3, r7', // xh·ml
              'adds r6, r3',
              'muls r4, r5', // xl·mh
              'adds r6, r4',
              'lsrs r6, r6, #16',
              'muls r5, r7', // xh·mh
              'adds r5, r6',
              'ldr r3, [sp, #40]',
              'subs r3, #16',
              'lsrs r5, r3',
              'adds r3, #16',
              `b ${60 + i}b`,
            ]
          : []),
      ],
      next,
    };
  };
  const a = one(0);
  const b = one(1);
  return nakedFunction(
    `void ${name}(const int32_t *acc, uint8_t *out, const tp_rq_t *rq, int n, uint32_t lo, uint32_t hi, uint32_t sh16)`,
    [
      'push {r4, r5, r6, r7, lr}',
      'mov r4, r8',
      'mov r5, r9',
      'mov r6, r10',
      'push {r4, r5, r6}',
      'ldr r4, [sp, #32]',
      'mov r8, r4', // lo
      'ldr r4, [sp, #36]',
      'mov r9, r4', // hi
      'lsls r3, r3, #2',
      'adds r3, r0',
      'mov r12, r3', // acc end
      'ldr r3, [sp, #40]', // 16 + sh
      '1:',
      ...a.main.filter((l) => l !== '11:'),
      ...b.main,
      'adds r1, #2',
      'cmp r0, r12',
      'beq 9f',
      'b 1b',
      ...a.side,
      ...b.side,
      '9:',
      'pop {r4, r5, r6}',
      'mov r8, r4',
      'mov r9, r5',
      'mov r10, r6',
      'pop {r4, r5, r6, r7, pc}',
    ],
  );
}

/** Bytes of a depthwise line kernel's channel block: tp_dwc_t (stride 1), tp_dwc2_t (stride 2). */
export const DWC_BYTES = { 1: 44, 2: 56 } as const;

/** The layer descriptor and drivers every conv, depthwise and FC layer runs through. */
export const LAYER_C = `typedef void tp_dwrow_fn(const void *pt, uint32_t base, const int8_t *w, int32_t *acc,
                        const int32_t *b, int32_t *accEnd);
typedef void tp_dot8_fn(const uint8_t *in, const int8_t *w, const int32_t *b, int32_t *acc, int K,
                        int32_t *accEnd, const tp_rq_t *rq, uint8_t *out, uint32_t lohish,
                        int rows);
typedef void tp_rqrow_fn(const int32_t *acc, uint8_t *out, const tp_rq_t *rq, int n, uint32_t lo,
                         uint32_t hi, uint32_t sh16);
/* 3x3 depthwise, one channel per plane (tp_dwplane): the weights (stride 1: int16 pairs in
   position order q = 3 * across + along; stride 2: kernels.ts sweep2), then the channel's
   requantisation routine (tp_dwrq1/2/4, kernels.ts) and its constants. */
typedef struct {
  uint32_t w[5];
  int32_t b;
  uint32_t m, rnd;
  int32_t t;
  uint32_t n;
  void (*rq)(void);
} tp_dwc_t;
/* stride 2: the block, then the third of the middle column's weights (whole), the packed
   sweep's offset k (0: the channel runs the unpacked sweep; kernels.ts sweep2) and the high
   half its last position gives on padding (hEnd) */
typedef struct {
  tp_dwc_t c;
  int32_t w7;
  uint32_t k;
  int32_t hEnd;
} tp_dwc2_t;
_Static_assert(sizeof(tp_dwc_t) == ${DWC_BYTES[1]} && sizeof(tp_dwc2_t) == ${DWC_BYTES[2]},
               "tp_dwline steps ${DWC_BYTES[1]} bytes a channel, ${DWC_BYTES[2]} at stride 2");
typedef void tp_dwline_fn(const uint8_t *src, const tp_dwc_t *ch, uint8_t *outLast,
                          const uint32_t *a);
typedef struct {
  const tp_dwc_t *ch;     /* channel blocks of chBytes (tp_dwc_t or tp_dwc2_t) */
  tp_dwline_fn *line;
  uint16_t inH, inW, C;
  uint16_t span;          /* plane bytes: X (the line count + 2) per position, n + 2 positions */
  uint16_t sx, sy;        /* plane steps of the input's x and y */
  uint16_t org;           /* plane offset of input pixel (0, 0): the padding before */
  /* tp_dwline's arguments (emitters/conv.ts) */
  uint32_t a[11];
  uint8_t zu;
  uint8_t lanes;          /* planes gathered at once: 4 (tp_dwgather4, when they fit) or 1 */
  uint8_t chBytes;
  void (*gather4)(const uint8_t *s, uint8_t *d, uint32_t step, uint32_t len, uint32_t runs,
                  uint32_t srcRun, uint32_t dstRun);
  void (*fill)(uint32_t *p, uint32_t groups, uint32_t z4); /* tp_dwfill */
} tp_dwl_t;
/* One conv / depthwise / FC layer: shapes, constants and its requantisation. */
typedef struct {
  const int8_t *w;        /* weights, interleaved [outC/4][K][4] */
  const int32_t *b;       /* bias with the input zero point folded in */
  const tp_rq_t *rq;      /* fast requantisation table (requant.ts) */
  const int32_t *m;       /* general path: multipliers and shifts */
  const int8_t *s;
  const uint16_t *slow;   /* channels for the general routine (NULL: all nslow = outC) */
  const int32_t *ofs;     /* depthwise: tap offsets from the window's corner */
  const uint8_t *pad;     /* depthwise: a row of the input zero point */
  tp_dwrow_fn *dwrow;
  tp_rqrow_fn *rqrow;     /* fast requantisation routine, or NULL */
  tp_dot8_fn *dot8;       /* GEMM rows: tp_dot8p (weights packed in pairs), or NULL: tp_dot4rows */
  void (*gather)(const uint8_t *s, uint8_t *d); /* conv: copies a window inside the image */
  uint16_t inH, inW, inC, outH, outW, outC, K, nslow;
  uint8_t kH, kW, sH, sW, dH, dW, padT, padL;
  uint8_t lo, hi, zo, zu;
  uint8_t sh16;           /* fast requantisation: 16 + the layer's shift */
} tp_layer_t;

${DOT4ROWS}
${DOT4X2}
${requantRow('tp_rq4row', true)}
${requantRow('tp_rq2row', false)}
/* The general 64-bit routine for the channels listed in slow[] (all when slow is NULL). */
static __attribute__((noinline)) void tp_requant_slow(const tp_layer_t *L, const int32_t *acc,
                                                      uint8_t *out) {
  for (int k = 0; k < L->nslow; k++) {
    const int c = L->slow ? L->slow[k] : k;
    out[c] = tp_clamp_u8(tp_mbqm(acc[c], L->m[c], L->s[c]) + L->zo, L->lo, L->hi);
  }
}
/* Requantises one pixel's accumulators into out[0 .. outC). */
static inline void tp_requant(const tp_layer_t *L, const int32_t *acc, uint8_t *out) {
  if (L->rqrow) L->rqrow(acc, out, L->rq, L->outC, L->lo, L->hi, L->sh16);
  if (L->nslow) tp_requant_slow(L, acc, out);
}

/* One pixel's GEMM row into out: tp_dot8p (requantising from its registers when the fast form
   covers every channel) or tp_dot4rows, then the requantisation routines. */
static inline void tp_gemm_row(const tp_layer_t *L, const uint8_t *in, int32_t *acc,
                               uint8_t *out) {
  if (L->dot8) {
    if (L->rqrow && !L->nslow) {
      L->dot8(in, L->w, L->b, acc, L->K, acc + L->outC, L->rq, out,
               L->lo | L->hi << 8 | (uint32_t)L->sh16 << 16, 1);
      return;
    }
    L->dot8(in, L->w, L->b, acc, L->K, acc + L->outC, 0, 0, 0, 1);
  } else {
    tp_dot4rows(in, L->w, L->b, acc, L->K, acc + L->outC);
  }
  tp_requant(L, acc, out);
}

/* 1x1 stride-1 convolution or FC: rows of inC (= K) inputs. */
static void tp_conv_direct(const tp_layer_t *L, const uint8_t *in, uint8_t *out, int rows) {
  int32_t acc[L->outC];
  if (L->dot8 && L->rqrow && !L->nslow && L->inC == L->K) {
    /* every pixel in one call, requantised in the kernel */
    L->dot8(in, L->w, L->b, acc, L->K, acc + L->outC, L->rq, out,
             L->lo | L->hi << 8 | (uint32_t)L->sh16 << 16, rows);
    return;
  }
  for (int p = 0; p < rows; p++, in += L->inC, out += L->outC) {
    tp_gemm_row(L, in, acc, out);
  }
}

/* Accumulators tp_dot4x2 hands back: only for layers it cannot requantise itself. */
#define TP_ACC2(L) ((L)->rqrow && !(L)->nslow ? 1 : 2 * (L)->outC)
/* Two pixels through tp_dot4x2 into out (and out + outC when both): requantised in the kernel
   when the fast form covers every channel; else from acc (2 * outC values), then the general
   routine. */
static inline void tp_dot4x2_requant(const tp_layer_t *L, const uint8_t *buf, int32_t *acc,
                                     uint8_t *out, int both) {
  if (L->rqrow && !L->nslow) {
    const uint32_t lohish = L->lo | L->hi << 8 | (uint32_t)L->sh16 << 16;
    if (both) {
      tp_dot4x2(buf, (const int16_t *)L->w, L->b, acc, L->K, L->outC, L->rq, out, lohish);
      return;
    }
    /* A lone last pixel: its twin's bytes must not land past the tensor. */
    uint8_t tmp[2 * L->outC];
    tp_dot4x2(buf, (const int16_t *)L->w, L->b, acc, L->K, L->outC, L->rq, tmp, lohish);
    for (int c = 0; c < L->outC; c++) out[c] = tmp[c];
    return;
  }
  tp_dot4x2(buf, (const int16_t *)L->w, L->b, acc, L->K, L->outC, L->rq, 0, 0);
  tp_requant(L, acc, out);
  if (both) tp_requant(L, acc + L->outC, out + L->outC);
}

/* 1x1 stride-1 convolution, two pixels per tp_dot4x2 pass (K a multiple of 4, int16 weights);
   an odd last pixel runs as its own pair. */
static void tp_conv_direct2(const tp_layer_t *L, const uint8_t *in, uint8_t *out, int rows) {
  int32_t acc[TP_ACC2(L)];
  uint8_t buf[2 * L->K] __attribute__((aligned(4)));
  for (int p = 0; p < rows; p += 2, in += 2 * L->inC, out += 2 * L->outC) {
    const uint8_t *b = p + 1 < rows ? in + L->inC : in;
    for (int k = 0; k < L->K; k++) {
      buf[2 * k] = in[k];
      buf[2 * k + 1] = b[k];
    }
    tp_dot4x2_requant(L, buf, acc, out, p + 1 < rows);
  }
}

/* One pixel's patch into every other byte of d (d[0], d[2], ...); padding reads zu. */
static void tp_patch2(const tp_layer_t *L, const uint8_t *in, uint8_t *d, int oy, int ox) {
  const int iy0 = oy * L->sH - L->padT, ix0 = ox * L->sW - L->padL;
  if (iy0 >= 0 && iy0 + (L->kH - 1) * L->dH < L->inH && ix0 >= 0 &&
      ix0 + (L->kW - 1) * L->dW < L->inW) {
    L->gather(in + (iy0 * L->inW + ix0) * L->inC, d);
    return;
  }
  for (int ky = 0; ky < L->kH; ky++) {
    const int iy = iy0 + ky * L->dH;
    for (int kx = 0; kx < L->kW; kx++) {
      const int ix = ix0 + kx * L->dW;
      const int ok = iy >= 0 && iy < L->inH && ix >= 0 && ix < L->inW;
      const uint8_t *s = in + (iy * L->inW + ix) * L->inC;
      for (int c = 0; c < L->inC; c++, d += 2) *d = ok ? s[c] : L->zu;
    }
  }
}

/* Any convolution, two pixels' patches interleaved per tp_dot4x2 pass (K padded to a multiple
   of 4 with zero weights); an odd last pixel runs as its own pair. */
static void tp_conv_patch2(const tp_layer_t *L, const uint8_t *in, uint8_t *out) {
  int32_t acc[TP_ACC2(L)];
  uint8_t buf[2 * L->K] __attribute__((aligned(4)));
  for (int k = 0; k < 2 * L->K; k++) buf[k] = 0;
  const int n = L->outH * L->outW;
  int oy = 0, ox = 0;
  for (int p = 0; p < n; p += 2, out += 2 * L->outC) {
    tp_patch2(L, in, buf, oy, ox);
    if (++ox == L->outW) ox = 0, oy++;
    if (p + 1 < n) {
      tp_patch2(L, in, buf + 1, oy, ox);
      if (++ox == L->outW) ox = 0, oy++;
    } else {
      tp_patch2(L, in, buf + 1, oy - (ox == 0), ox == 0 ? L->outW - 1 : ox - 1);
    }
    tp_dot4x2_requant(L, buf, acc, out, p + 1 < n);
  }
}

/* Any other convolution: each pixel's patch is gathered (padding reads zu), then one GEMM row.
   (Not inlined: the emulator build, with per-layer marks, and the board build then run the same
   code, and their cycle counts agree.) */
static __attribute__((noinline)) void tp_conv_patch(const tp_layer_t *L, const uint8_t *in,
                                                  uint8_t *out) {
  int32_t acc[L->outC];
  uint8_t patch[L->K] __attribute__((aligned(4)));
  patch[L->K - 1] = 0; /* a zero weight pads an odd K */
  for (int oy = 0; oy < L->outH; oy++)
    for (int ox = 0; ox < L->outW; ox++, out += L->outC) {
      const int iy0 = oy * L->sH - L->padT, ix0 = ox * L->sW - L->padL;
      uint8_t *d = patch;
      if (L->gather && iy0 >= 0 && iy0 + (L->kH - 1) * L->dH < L->inH && ix0 >= 0 &&
          ix0 + (L->kW - 1) * L->dW < L->inW) {
        L->gather(in + (iy0 * L->inW + ix0) * L->inC, patch);
      } else {
        for (int ky = 0; ky < L->kH; ky++) {
          const int iy = iy0 + ky * L->dH;
          for (int kx = 0; kx < L->kW; kx++, d += L->inC) {
            const int ix = ix0 + kx * L->dW;
            const int ok = iy >= 0 && iy < L->inH && ix >= 0 && ix < L->inW;
            const uint8_t *s = in + (iy * L->inW + ix) * L->inC;
            for (int c = 0; c < L->inC; c++) d[c] = ok ? s[c] : L->zu;
          }
        }
      }
      tp_gemm_row(L, patch, acc, out);
    }
}

/* 3x3 depthwise (stride 1 or 2), channel by channel: the channel's padded plane is gathered
   into a stack buffer (its border stays zu), then each line of outputs is one sweep of
   D->line along the longer side of the output. */
static void tp_dwplane(const tp_dwl_t *D, const uint8_t *in, uint8_t *out) {
  /* zu everywhere, four words per STM (the gathers then overwrite the interior) */
  const int groups = (D->lanes * D->span + 15) >> 4;
  uint32_t buf4[4 * groups];
  uint8_t *buf = (uint8_t *)buf4;
  D->fill(buf4, groups, D->zu * 0x01010101u);
  const uint32_t rowBytes = D->inW * D->C;
  /* tp_dwgather4 walks the input down its columns when the plane's consecutive words are
     consecutive rows (sy = 1), else along its rows */
  const int down = D->sy == 1;
  for (int c = 0; c < D->C; c += D->lanes) {
    if (D->lanes == 4) {
      D->gather4(in + c, buf + 4 * D->org, down ? rowBytes : D->C, down ? D->inH : D->inW,
                   down ? D->inW : D->inH, down ? D->C : rowBytes, 4 * (down ? D->sx : D->sy));
    } else {
      const uint8_t *s = in + c;
      uint8_t *row = buf + D->org;
      for (int y = 0; y < D->inH; y++, row += D->sy) {
        uint8_t *d = row;
        for (int x = 0; x < D->inW; x++, s += D->C, d += D->sx) *d = *s;
      }
    }
    /* four lanes: interleaved planes (tp_dwline4), channel k at byte k, all in one call */
    D->line(buf, (const tp_dwc_t *)((const uint8_t *)D->ch + c * D->chBytes),
            out + c + (D->a[2] - 1) * D->a[1], D->a);
  }
}

/* Depthwise (multiplier 1, channels a multiple of 4): one tp_dwrow call per output pixel. */
static void tp_depthwise(const tp_layer_t *L, const uint8_t *in, uint8_t *out) {
  int32_t acc[L->outC];
  const uint8_t *pt[L->kH * L->kW];
  for (int oy = 0; oy < L->outH; oy++)
    for (int ox = 0; ox < L->outW; ox++, out += L->outC) {
      const int iy0 = oy * L->sH - L->padT, ix0 = ox * L->sW - L->padL;
      if (iy0 >= 0 && iy0 + (L->kH - 1) * L->dH < L->inH && ix0 >= 0 &&
          ix0 + (L->kW - 1) * L->dW < L->inW) {
        L->dwrow(L->ofs, (uint32_t)(in + (iy0 * L->inW + ix0) * L->inC), L->w, acc, L->b,
                 acc + L->outC);
      } else {
        for (int ky = 0, t = 0; ky < L->kH; ky++) {
          const int iy = iy0 + ky * L->dH;
          for (int kx = 0; kx < L->kW; kx++, t++) {
            const int ix = ix0 + kx * L->dW;
            pt[t] = iy >= 0 && iy < L->inH && ix >= 0 && ix < L->inW
                        ? in + (iy * L->inW + ix) * L->inC : L->pad;
          }
        }
        L->dwrow(pt, 0, L->w, acc, L->b, acc + L->outC);
      }
      tp_requant(L, acc, out);
    }
}
`;

/**
 * The depthwise line kernel's frame (r11 = sp after `sub sp, #48`) and its argument block a[]
 * (tp_dwl_t.a, constant per layer); lohish = lo | hi << 8 | (16 + sh) << 16.
 */
const FR = {
  src: 0,
  outLast: 4,
  args: 8,
  ch: 12,
  ret: 16,
  lines: 20,
  rq: 24,
  back: 28,
  phase: 32,
  X: 36,
  sweep: 40,
  lineStride: 44,
  stop: 48,
  lanes: 52,
  src0: 56,
  out0: 60,
};
const DA = {
  X: 0,
  stride: 4,
  n: 8,
  lohish: 12,
  lines: 16,
  lineStride: 20,
  sweep: 24,
  phase: 28,
  perLine: 32,
  stop: 36,
  lanes: 40,
};

/**
 * tp_dwline: every line of one channel of a 3x3 stride-1 depthwise layer (of a[lanes]
 * interleaved channels, one after the other), from the channel's padded plane laid out so the
 * three input bytes across a line are contiguous (src[0], src[e], src[2e]) and the next position
 * along it is X bytes on. The nine weights stay in r1-r5 as int16 pairs (one SXTH or ASRS #16
 * each); each input byte is loaded once and feeds the three outputs it belongs to, whose
 * accumulators rotate through r8-r10 (the loop is unrolled three times so nothing moves; the
 * first and last two positions compute only real outputs' products): 36 cycles per position.
 * A finished accumulator is pushed; after the line (or the plane's last line) the kernel calls
 * the channel's requantisation routine (ch->rq), which pops them (last first) into outLast,
 * outLast - outStride, ..., then moves to the next line: src + e, outLast + lineStride. At
 * stride 2 (sweep2 below) the plane holds 2·lines + 1 input rows and the next line starts two
 * rows on.
 */
const dwLine = (name: string, e: number, stride: 1 | 2, variant: number, padEnd: boolean): string =>
  nakedFunction(
    `void ${name}(const uint8_t *src, const tp_dwc_t *ch, uint8_t *outLast, const uint32_t *a)`,
    (() => {
      const rot = [
        ['r8', 'r9', 'r10'],
        ['r10', 'r8', 'r9'],
        ['r9', 'r10', 'r8'],
      ];
      // One position: the three input bytes across times the weights of the outputs in kss
      // (along index); a full column then pushes the output it finishes.
      // The input byte (r6) at across kx times weight q = 3·kx + ks, into acc: the first
      // product moves, the next ones add, and an output's last one (`push`) adds the
      // accumulator to the product in r7 and pushes that.
      const mac = (kx: number, ks: number, acc: string, how: 'first' | 'add' | 'push') => {
        const q = 3 * kx + ks;
        const w = `r${1 + (q >> 1)}`;
        return [
          q & 1 ? `asrs r7, ${w}, #16` : `sxth r7, ${w}`,
          'muls r7, r6',
          ...(how === 'push'
            ? [`add r7, ${acc}`, 'push {r7}']
            : [`${how === 'first' ? 'mov' : 'add'} ${acc}, r7`]),
        ];
      };
      // One position's three bytes across into acc[ks] for ks in kss; acc[2] finishes (pushed)
      // when kss holds 2.
      const products = (acc: string[], kss: number[]) =>
        [0, 1, 2].flatMap((kx) => [
          `ldrb r6, [r0, #${kx * e}]`,
          ...kss.flatMap((ks) =>
            mac(
              kx,
              ks,
              acc[ks]!,
              kx === 0 && ks === 0 ? 'first' : kx === 2 && ks === 2 ? 'push' : 'add',
            ),
          ),
        ]);
      const column = (acc: string[]) => [...products(acc, [0, 1, 2]), 'add r0, r12'];
      // Stride 1: the three outputs a position feeds rotate through r8-r10.
      // Stride 1, generated per entry phase ph = -n mod 3 (position p's columns use rot[(ph +
      // p) % 3], so that position n - 1 is a rot[2] column): the window's first two positions
      // feed only real outputs (3 and 6 products, no push), then the loop, laid out from
      // position 2's column, checks for the end after the rot[2] column.
      const ph = variant;
      const loop = [0, 1, 2].map((i) => (ph + 2 + i) % 3);
      const sweep1 = [
        ...products(rot[ph]!, [0]),
        'add r0, r12',
        ...products(rot[(ph + 1) % 3]!, [0, 1]),
        'add r0, r12',
        '1:',
        ...loop.flatMap((r) => [...column(rot[r]!), ...(r === 2 ? ['cmp r0, lr', 'beq 4f'] : [])]),
        'b 1b', // (three columns are too long for a conditional branch back)
        // The loop ends after position n - 1 (a rot[2] column); the last two positions feed
        // only outputs n - 2 and n - 1: 6 and 3 products, not 9 each. (Label 4: the next 2:
        // is the line's end.)
        '4:',
        ...products(rot[0]!, [1, 2]),
        'add r0, r12',
        ...products(rot[1]!, [2]),
      ];
      // Stride 2: output k reads positions 2k (along 0), 2k + 1 (along 1) and 2k + 2 (along
      // 2), so an even position finishes output k - 1 and starts output k, an odd one feeds
      // output k only; two accumulators (r8, r9) alternate. Per output 6 loads and 9 products
      // (about 43 cycles). One pass of the loop is two outputs; for n even the first of them
      // (output 1) is peeled before it, and the loop ends at position 2n, which finishes
      // output n - 1 (r9).
      // Weights: r1-r3 the pairs (along 0 low, along 2 high) of across rows 0-2; the middle
      // column's whole in r4, r5 and r10, so an odd position's byte (its only use) is
      // multiplied in place. feeds: [acc, along index, 'first' (starts at kx 0) | 'push'
      // (finishes at kx 2)]
      const mac2 = (kx: number, ks: number, acc: string, how: 'first' | 'add' | 'push') =>
        ks === 1
          ? [
              ...(kx === 2 ? ['mov r7, r10', 'muls r6, r7'] : [`muls r6, r${4 + kx}`]),
              `${how === 'first' ? 'mov' : 'add'} ${acc}, r6`,
            ]
          : [
              ks === 2 ? `asrs r7, r${1 + kx}, #16` : `sxth r7, r${1 + kx}`,
              'muls r7, r6',
              ...(how === 'push'
                ? [`add r7, ${acc}`, 'push {r7}']
                : [`${how === 'first' ? 'mov' : 'add'} ${acc}, r7`]),
            ];
      const col2 = (feeds: [string, number, 'first' | 'add' | 'push'][]) =>
        [0, 1, 2].flatMap((kx) => [
          `ldrb r6, [r0, #${kx * e}]`,
          ...feeds.flatMap(([acc, ks, how]) =>
            mac2(
              kx,
              ks,
              acc,
              how === 'first' && kx === 0 ? 'first' : how === 'push' && kx === 2 ? 'push' : 'add',
            ),
          ),
        ]);
      const half2 = (prev: string, cur: string) => [
        ...col2([
          [cur, 0, 'first'],
          [prev, 2, 'push'],
        ]),
        'add r0, r12',
        ...col2([[cur, 1, 'add']]),
        'add r0, r12',
      ];
      // (The routine is generated for n even or odd: output 0 then goes to the accumulator
      // the loop's second or first half continues. For n even from 4 the first of those halves
      // is peeled, so that the line enters the loop without a branch.)
      const nOdd = variant === 1;
      const peel = !nOdd;
      const sweep2 = [
        ...col2([[nOdd ? 'r9' : 'r8', 0, 'first']]),
        'add r0, r12',
        ...col2([[nOdd ? 'r9' : 'r8', 1, 'add']]),
        'add r0, r12',
        ...(peel ? half2('r8', 'r9') : []),
        '1:',
        ...half2('r9', 'r8'),
        ...half2('r8', 'r9'),
        'cmp r0, lr',
        'bne 1b',
        ...col2([['r9', 2, 'push']]),
      ];
      // Stride 2, packed (a channel block with k ≠ 0, emitters/conv.ts packedStride2): r1-r3
      // hold each across row's outer weights as one int32 w2·2^16 + w0, so an even position's
      // byte u times it is u·w2·2^16 + u·w0, the products for the output it finishes and the
      // one it starts at once. Summed over the three rows with k (r9) the two halves are those
      // sums plus offsets that put each in [0, 2^16) (the channel's weights bound them), so
      // the high half (LSRS) finishes output k - 1 and the low half (UXTH) starts output k: 3
      // products where the unpacked sweep makes 6 and extracts every weight. One accumulator
      // (r8); every output carries both offsets, which its bias takes back. About 35 cycles an
      // output against 42.
      const evenP = (finish: boolean, start: boolean) => [
        'ldrb r6, [r0, #0]',
        'muls r6, r1',
        `ldrb r7, [r0, #${e}]`,
        'muls r7, r2',
        'adds r6, r6, r7',
        `ldrb r7, [r0, #${2 * e}]`,
        'muls r7, r3',
        'adds r6, r6, r7',
        'add r6, r9',
        ...(finish ? ['lsrs r7, r6, #16', 'add r7, r8', 'push {r7}'] : []),
        ...(start ? ['uxth r6, r6', 'mov r8, r6'] : []),
      ];
      const oddP = [
        ...[0, 1].flatMap((kx) => [
          `ldrb r6, [r0, #${kx * e}]`,
          `muls r6, r${4 + kx}`,
          'add r8, r6',
        ]),
        `ldrb r6, [r0, #${2 * e}]`,
        'mov r7, r10',
        'muls r6, r7',
        'add r8, r6',
      ];
      const stepP = [...evenP(true, true), 'add r0, r12', ...oddP, 'add r0, r12'];
      // n - 1 steps after output 0's first two positions, two per loop pass (n even: one
      // peeled), then position 2n finishes output n - 1.
      const sweepP = [
        ...evenP(false, true),
        'add r0, r12',
        ...oddP,
        'add r0, r12',
        ...(nOdd ? [] : stepP),
        '31:',
        ...stepP,
        ...stepP,
        'cmp r0, lr',
        'bne 31b',
        ...(padEnd ? [] : evenP(true, false)),
      ];
      // After a line (r7 = the frame): to `done` when it was the call's last (stop 0: a call
      // per line), else the next line of a plane requantised in one call at the end: the
      // weights (r1-r5) and X (r12) are still in their registers, so it only moves the sweep's
      // start and end, and goes back to `sweep`.
      const nextLine = (done: string, sweep: string) => [
        `ldr r6, [r7, #${FR.stop}]`,
        'cmp r0, r6',
        `bhs ${done}`,
        `ldr r6, [r7, #${FR.back}]`,
        'subs r0, r0, r6',
        'mov r6, lr',
        `adds r6, #${e * stride}`,
        'mov lr, r6',
        `b ${sweep}`,
      ];
      return [
        ...PROLOGUE,
        'sub sp, #64',
        'mov r11, sp',
        'mov r7, sp',
        `str r3, [r7, #${FR.args}]`,
        // back: from where the sweep stops (stride 1: position n + 1, one past its end; stride
        // 2: position 2n, its end) to the next line's start
        `ldr r4, [r3, #${DA.sweep}]`,
        ...(stride === 1 ? [`ldr r5, [r3, #${DA.X}]`, 'adds r4, r4, r5'] : []),
        `subs r4, #${e * stride}`,
        `str r4, [r7, #${FR.back}]`,
        ...(['X', 'sweep', 'lineStride', 'lanes'] as const).flatMap((k) => [
          `ldr r4, [r3, #${DA[k]}]`,
          `str r4, [r7, #${FR[k]}]`,
        ]),
        // Each channel (of the a[lanes] interleaved ones, the next a byte on): r0 = src, r1 =
        // ch, r2 = outLast, r3 = a, r7 = the frame.
        '12:',
        `str r0, [r7, #${FR.src}]`,
        `str r0, [r7, #${FR.src0}]`,
        `str r2, [r7, #${FR.outLast}]`,
        `str r2, [r7, #${FR.out0}]`,
        `str r1, [r7, #${FR.ch}]`,
        `ldr r4, [r3, #${DA.lines}]`,
        `str r4, [r7, #${FR.lines}]`,
        // the routine called after each line: ch->rq, or none when the plane is requantised
        // in one call at the end (a[perLine] = 0)
        'ldr r4, [r1, #40]',
        `ldr r5, [r3, #${DA.perLine}]`,
        'muls r4, r5',
        `str r4, [r7, #${FR.rq}]`,
        // where r0 stops after the plane's last line (0 with a call per line)
        `ldr r4, [r3, #${DA.stop}]`,
        'cmp r4, #0',
        'beq 8f',
        'adds r4, r4, r0',
        '8:',
        `str r4, [r7, #${FR.stop}]`,
        '10:',
        'mov r7, r11',
        `ldr r0, [r7, #${FR.src}]`,
        `ldr r4, [r7, #${FR.X}]`,
        'mov r12, r4',
        `ldr r4, [r7, #${FR.sweep}]`,
        'adds r4, r4, r0',
        'mov lr, r4', // the sweep's end
        `ldr r7, [r7, #${FR.ch}]`,
        'ldmia r7!, {r1, r2, r3, r4, r5}',
        // stride 2: w7 (block + 44) and k (block + 48; 0 for the unpacked sweep)
        ...(stride === 2
          ? [
              'ldr r6, [r7, #24]',
              'mov r10, r6',
              'ldr r6, [r7, #28]',
              'mov r9, r6',
              'cmp r6, #0',
              'beq 11f',
              'b 21f',
            ]
          : []),
        '11:',
        ...(stride === 1 ? sweep1 : sweep2),
        '2:',
        'mov r7, r11',
        ...nextLine('6f', '11b'),
        '6:',
        // the call's last line: requantise it (ch->rq, a call per line), or the plane
        `ldr r6, [r7, #${FR.rq}]`,
        'cmp r6, #0',
        'beq 7f',
        'blx r6',
        'mov r7, r11',
        `ldr r6, [r7, #${FR.src}]`,
        `adds r6, #${e * stride}`,
        `str r6, [r7, #${FR.src}]`,
        `ldr r5, [r7, #${FR.lineStride}]`,
        `ldr r6, [r7, #${FR.outLast}]`,
        'adds r6, r6, r5',
        `str r6, [r7, #${FR.outLast}]`,
        `ldr r6, [r7, #${FR.lines}]`,
        'subs r6, #1',
        `str r6, [r7, #${FR.lines}]`,
        'beq 5f',
        'b 10b',
        '7:',
        // A plane requantised in one call: its outputs lie outStride apart across the lines
        // too (lineStride 0 keeps outLast at the plane's last output).
        `ldr r7, [r7, #${FR.ch}]`,
        'ldr r7, [r7, #40]',
        'blx r7',
        '5:',
        'mov r7, r11',
        `ldr r6, [r7, #${FR.lanes}]`,
        'subs r6, #1',
        'beq 9f',
        `str r6, [r7, #${FR.lanes}]`,
        `ldr r0, [r7, #${FR.src0}]`,
        'adds r0, #1',
        `ldr r2, [r7, #${FR.out0}]`,
        'adds r2, #1',
        `ldr r1, [r7, #${FR.ch}]`,
        `adds r1, #${DWC_BYTES[stride]}`, // sizeof(tp_dwc_t), tp_dwc2_t
        `ldr r3, [r7, #${FR.args}]`,
        'b 12b',
        '9:',
        'add sp, #64',
        ...EPILOGUE,
        // The packed sweep and its own line step (as at 2: above).
        ...(stride === 2
          ? [
              '21:',
              ...sweepP,
              'mov r7, r11',
              // (padEnd: position 2n holds the input zero point only: its high half is hEnd)
              ...(padEnd
                ? [
                    `ldr r6, [r7, #${FR.ch}]`,
                    `ldr r6, [r6, #${DWC_BYTES[2] - 4}]`,
                    'add r6, r8',
                    'push {r6}',
                  ] // hEnd, the block's last word
                : []),
              ...nextLine('23f', '21b'),
              '23:',
              'b 6b',
            ]
          : []),
      ];
    })(),
  );
/**
 * The line routine for a layer: planes one channel each (e = 1: across neighbours 1 byte apart)
 * or four channels' interleaved byte by byte (e = 4), stride 1 or 2, and the variant its line
 * length n needs (stride 1: the entry phase -n mod 3; stride 2: n odd or even). `padEnd` (stride
 * 2): every line's last position is padding, so the packed sweep finishes its last output with
 * the channel's constant (tp_dwc2_t.hEnd) instead of loading it.
 */
export function depthwiseLine(e: 1 | 4, stride: 1 | 2, n: number, padEnd = false) {
  // (stride 2: the peeled first half needs n >= 4; the chooser asks for LINE_MIN_S2)
  if (stride === 2 && n < 4) throw new Error(`tp_dwline stride 2: lines of at least 4, not ${n}`);
  const variant = stride === 1 ? (3 - (n % 3)) % 3 : n % 2;
  const pe = padEnd && stride === 2;
  const name = `tp_dwline${e === 4 ? '4' : ''}_s${stride}${stride === 1 ? `p${variant}` : variant ? 'odd' : 'even'}${pe ? '_pe' : ''}`;
  return { name, code: dwLine(name, e, stride, variant, pe) };
}

/** The depthwise line kernel's requantisation forms (requant.ts). */
export type DwRq = 'rq1' | 'rq1n' | 'rq3a' | 'rq3s' | 'rq2' | 'rq4';

/**
 * The requantisation routines tp_dwline calls with sp at the last real output's push: each
 * pops the line's accumulators (without the bias) into the outputs, resets sp to the frame and
 * returns. rq1: the single-multiply form (requant.ts planOneMul; the channel block holds
 * {-b, M, R + b·M, t - b, n}); rq1n: rq1 for a channel whose accumulators cannot reach the
 * upper clamp (t above their bound), without its compare and branch (2 cycles an output); rq2 / rq4: the fast form of planRequant ({b, M, rnd, t}), rq4
 * with the 4-multiply branch for x >= 2^16.
 */
function dwRequant(kind: DwRq): string {
  // The shared set-up (tp_dwrq_setup, which keeps the return address in r6 in the frame); r7
  // keeps n for the parity test after the constants are loaded.
  const setup = [
    'mov r6, lr',
    'bl tp_dwrq_setup',
    // -outStride in r11: the frame is sp again once every accumulator is popped (the end
    // rebuilds r11 from it), which leaves lr free (rq2's rnd, rq4's BL to its wide path)
    'mov r11, r4',
  ];
  // Four outputs per loop pass (one compare and branch back); n mod 4 picks the entry: C = bit
  // 1, N = bit 0 of n. rq1 pops two accumulators at once (r6, the later output, and r7), so its
  // entries into the second of a pair pop one into r7 first (stubs 92, 94).
  const rq3 = kind === 'rq3a' || kind === 'rq3s';
  const one = kind === 'rq1' || kind === 'rq1n';
  // All but rq4 pop two accumulators at once: [the later output, the earlier] (rq3 keeps t - b
  // in r9 to free r4, rq2 rnd in lr to free r3; their temporary is r7).
  const pairs = kind !== 'rq4';
  const pr = rq3 ? ['r4', 'r6'] : kind === 'rq2' ? ['r3', 'r6'] : ['r6', 'r7'];
  const noHi = kind === 'rq1n';
  const entry = [
    'lsls r6, r7, #31',
    'bcc 1f',
    `bmi ${pairs ? 92 : 82}f`, // n mod 4 = 3
    'b 83f', // 2
    '1:',
    `bmi ${pairs ? 94 : 84}f`, // 1
  ];
  // sp is back at the frame (every accumulator popped), which r11 holds again
  const finish = ['mov r7, sp', 'mov r11, r7', `ldr r7, [r7, #${FR.ret}]`, 'bx r7'];
  // One output: pop, requantise, store; `i` names its labels (5/6: clamps, 7: rq4's wide branch,
  // 4: the store the clamped paths branch back to).
  const body = (i: number, x = 'r6'): string[] => {
    const L = (k: number) => `${k}${i}`;
    const pop = kind === 'rq4' ? ['pop {r6}'] : i % 2 ? [`pop {${pr.join(', ')}}`] : [];
    const arith = rq3
      ? [
          ...pop,
          `cmp ${x}, r1`,
          `ble ${L(5)}f`,
          `cmp ${x}, r9`,
          `bge ${L(6)}f`,
          `movs r7, ${x}`,
          'asrs r7, r5',
          `muls ${x}, r2`,
          kind === 'rq3a' ? `adds ${x}, r7` : `subs ${x}, r7`,
          `adds ${x}, r3`,
          `lsrs ${x}, ${x}, #24`,
        ]
      : one
        ? [
            ...pop,
            `cmp ${x}, r1`,
            `ble ${L(5)}f`,
            ...(noHi ? [] : [`cmp ${x}, r4`, `bge ${L(6)}f`]),
            `muls ${x}, r2`,
            `adds ${x}, r3`,
            `lsrs ${x}, r5`,
          ]
        : [
            ...pop,
            `adds ${x}, ${x}, r4`, // x = acc + b, and its sign for the lower clamp
            `ble ${L(5)}f`,
            `cmp ${x}, r9`,
            `bge ${L(6)}f`,
            ...(kind === 'rq4' ? ['lsrs r7, r6, #16', `bne ${L(7)}f`] : []),
            'movs r7, r2',
            `muls r7, ${x}`, // x·ml
            'lsrs r7, r7, #16',
            `muls ${x}, r1`, // x·mh
            `adds ${x}, r7`,
            kind === 'rq4' ? 'adds r6, r3' : `add ${x}, lr`, // rnd
            `lsrs ${x}, r5`,
          ];
    return [...arith, `${L(4)}:`, `strb ${x}, [r0]`, 'add r0, r11'];
  };
  const outOfLine = (i: number, x = 'r6'): string[] => {
    const L = (k: number) => `${k}${i}`;
    return [
      `${L(5)}:`,
      `mov ${x}, r8`,
      `b ${L(4)}b`,
      ...(noHi ? [] : [`${L(6)}:`, `mov ${x}, r10`, `b ${L(4)}b`]),
      // x >= 2^16 (rare): the shared wide path, then the store
      ...(kind === 'rq4' ? [`${L(7)}:`, 'bl tp_dwrq4_wide', `b ${L(4)}b`] : []),
    ];
  };
  const consts =
    one || rq3
      ? [
          'ldmia r6!, {r1, r2, r3, r4, r5}', // -b, M, R, t - b, n (rq3: k)
          ...(rq3 ? ['mov r9, r4'] : []),
        ]
      : [
          'ldmia r6!, {r1, r2, r3, r4}', // b, M, rnd, t
          'mov r9, r4', // t
          'movs r4, r1', // b
          ...(kind === 'rq2' ? ['mov lr, r3'] : []), // rnd
          'uxth r1, r2', // mh
          'lsrs r2, r2, #16', // ml
        ];
  return nakedFunction(`void tp_dw${kind}(void)`, [
    ...setup,
    ...consts,
    ...entry,
    ...[1, 2, 3, 4].flatMap((i) => [`8${i}:`, ...body(i, pairs ? pr[1 - (i % 2)] : 'r6')]),
    'cmp r0, r12',
    'bne 81b',
    ...finish,
    ...(pairs ? ['92:', `pop {${pr[1]}}`, 'b 82b', '94:', `pop {${pr[1]}}`, 'b 84b'] : []),
    ...[1, 2, 3, 4].flatMap((i) => outOfLine(i, pairs ? pr[1 - (i % 2)] : 'r6')),
  ]);
}

/**
 * The requantisation routines' common set-up (called with r6 = their return address, which it
 * keeps in the frame; one copy instead of one in each routine): r0 = outLast, r6 = the channel's requantisation constants,
 * r12 = outLast - n·outStride (the end), r8 / r10 = the clamps' bytes, r5 = 16 + sh, r7 = n,
 * r4 = -outStride (the caller moves it to r11).
 */
const DW_RQ_SETUP_C = nakedFunction('void tp_dwrq_setup(void)', [
  'mov r7, r11',
  `str r6, [r7, #${FR.ret}]`,
  `ldr r3, [r7, #${FR.args}]`,
  `ldr r0, [r7, #${FR.outLast}]`,
  `ldr r6, [r7, #${FR.ch}]`,
  'adds r6, #20',
  `ldr r4, [r3, #${DA.lohish}]`,
  'uxtb r5, r4',
  'mov r8, r5',
  'lsrs r4, r4, #8',
  'uxtb r5, r4',
  'mov r10, r5',
  'lsrs r5, r4, #8', // 16 + sh
  `ldr r4, [r3, #${DA.stride}]`,
  'negs r4, r4',
  `ldr r7, [r3, #${DA.n}]`,
  'movs r3, r4',
  'muls r3, r7',
  'adds r3, r0',
  'mov r12, r3', // outLast - n * outStride
  'bx lr',
]);

/**
 * rq4's path for x >= 2^16 (r6 = x, r7 = xh; reached by BL, rare): w = rnd + (xl·ml >> 16) +
 * xh·ml + xl·mh, g = (xh·mh + (w >> 16)) >> sh into r6 (the output step is in r11, lr
 * free). (Below sp lie only popped accumulators.)
 */
const DW_RQ4_WIDE_C = nakedFunction('void tp_dwrq4_wide(void)', [
  'push {r3, r4, lr}',
  'uxth r6, r6',
  'movs r4, r2',
  'muls r4, r6',
  'lsrs r4, r4, #16',
  'adds r3, r4',
  'movs r4, r2',
  'muls r4, r7',
  'adds r3, r4',
  'muls r6, r1',
  'adds r3, r6',
  'lsrs r3, r3, #16',
  'muls r7, r1',
  'adds r7, r3',
  'movs r6, r5',
  'subs r6, #16',
  'lsrs r7, r6',
  'movs r6, r7',
  'pop {r3, r4, pc}',
]);

/**
 * tp_dwgather4: four channels' planes at once, interleaved (plane position p of channel c + k at
 * byte 4p + k): one word copied per input pixel (channels c to c + 3). It walks the input
 * along the direction in which the plane's words are consecutive (down a column when the lines
 * run along x), `len` pixels `step` bytes apart per run, blocks of eight words (two STMs, two
 * loads per pointer step), then one of four and single words: about 4.5 cycles a word against 9
 * for a loop along the input's rows. Each of `runs` runs starts srcRun bytes after the last one
 * in the input and dstRun in the plane (the pointers step by the gaps: no reload per run).
 */
const GATHER_4 = [
  'ldr r3, [r0]',
  'ldr r4, [r0, r2]',
  'adds r0, r0, r7',
  'ldr r5, [r0]',
  'ldr r6, [r0, r2]',
  'adds r0, r0, r7',
  'stmia r1!, {r3, r4, r5, r6}',
];
const DW_GATHER4_C = nakedFunction(
  'void tp_dwgather4(const uint8_t *s, uint8_t *d, uint32_t step, uint32_t len, uint32_t runs, uint32_t srcRun, uint32_t dstRun)',
  [
    ...PROLOGUE,
    // After a run: src += srcRun - len·step (r10), dst += dstRun - 4·len (r11); runs left r12.
    'ldr r4, [sp, #36]',
    'mov r12, r4',
    'movs r4, r2',
    'muls r4, r3',
    'ldr r5, [sp, #40]',
    'subs r5, r5, r4',
    'mov r10, r5',
    'lsls r4, r3, #2',
    'ldr r5, [sp, #44]',
    'subs r5, r5, r4',
    'mov r11, r5',
    'lsrs r7, r3, #3',
    'lsls r7, r7, #5',
    'mov lr, r7', // plane bytes of a run's blocks of eight words
    'movs r4, #7',
    'ands r3, r4',
    'mov r8, r3', // words after them
    'lsls r7, r2, #1', // two steps: a group loads at [r0] and [r0, r2] twice
    '1:',
    'mov r4, lr',
    'add r4, r1',
    'mov r9, r4', // the blocks' end
    'cmp r1, r9',
    'beq 4f',
    '2:',
    ...GATHER_4,
    ...GATHER_4,
    'cmp r1, r9',
    'bne 2b',
    '4:',
    'mov r4, r8',
    'cmp r4, #0',
    'beq 6f',
    'cmp r4, #4',
    'blo 5f',
    ...GATHER_4,
    'mov r4, r8',
    'subs r4, #4',
    'beq 6f',
    '5:',
    'ldr r3, [r0]',
    'adds r0, r0, r2',
    'stmia r1!, {r3}',
    'subs r4, #1',
    'bne 5b',
    '6:',
    'add r0, r10',
    'add r1, r11',
    'mov r4, r12',
    'subs r4, #1',
    'mov r12, r4',
    'bne 1b',
    ...EPILOGUE,
  ],
);

/** tp_dwfill: groups of four words set to z4, one STM each (2 cycles a word against 5). */
const DW_FILL_C = nakedFunction('void tp_dwfill(uint32_t *p, uint32_t groups, uint32_t z4)', [
  'push {r4, r5}',
  'mov r3, r2',
  'mov r4, r2',
  'mov r5, r2',
  '1:',
  'stmia r0!, {r2, r3, r4, r5}',
  'subs r1, #1',
  'bne 1b',
  'pop {r4, r5}',
  'bx lr',
]);

/** The routines a depthwise line layer's channels use, by name (each emitted once). */
export function depthwiseLineHelpers(
  kinds: Iterable<DwRq>,
  line: { name: string; code: string },
  gather4: boolean,
): Record<string, string> {
  const out: Record<string, string> = {
    [line.name]: line.code,
    tp_dwfill: DW_FILL_C,
    ...(gather4 && { tp_dwgather4: DW_GATHER4_C }),
  };
  for (const k of kinds) {
    out[`tp_dw${k}`] = dwRequant(k);
    out.tp_dwrq_setup = DW_RQ_SETUP_C;
    if (k === 'rq4') out.tp_dwrq4_wide = DW_RQ4_WIDE_C;
  }
  return out;
}

/**
 * A tiny depthwise plane's geometry (tp_dwsmall): output lines along x over the channels'
 * pixels in input order, pb bytes apart: a gathered plane (no padding; one gather run) or, with
 * `direct`, the input itself (pb its channel count).
 */
export interface DwSmallGeometry {
  stride: 1 | 2;
  /** Outputs per line (at most 3) and lines (n · lines outputs). */
  n: number;
  lines: number;
  /** Bytes from one input pixel to the next (1 or 4 in a gathered plane; direct: C). */
  pb: number;
  /** Read the input itself (no gather): every pixel loaded once for all its outputs. */
  direct: boolean;
  /** The input's rows and columns, and the padding before them. */
  inH: number;
  inW: number;
  padT: number;
  padL: number;
}

/**
 * tp_dwsmall: a depthwise 3x3 layer whose output plane is tiny (VWW's 3x3 outputs), fully
 * unrolled for its geometry, with the line kernels' frame, channel blocks and requantisation
 * routines but no per-line or per-position control, and no product with a padding byte. A
 * padded tap contributes zu·w to the accumulator the requantisation expects, so an output with
 * padding taps adds its constant correction zu·Σw (the channel block's tail; `border` lists
 * each corrected output's padded weights q = 3·ky + kx) before its push: on 3x3 outputs 49 of
 * 81 products are real (stride 1), 64 at stride 2 from 6x6. Weights as the line kernels keep
 * them (stride 1: int16 pairs in q order in r1-r5; stride 2: the pairs of each kernel row, the
 * middle column whole in r4, r5, r10).
 *
 * From a gathered plane each line loads its input rows (accumulators r8, r9, r12, one per
 * output; lr the corrections). `direct` (stride 2) walks the input's pixels once, C bytes apart
 * (one ADDS each), each feeding every output it belongs to (up to four: the rows two lines
 * share are loaded once); an output takes a free high register (r8, r9, r12, r11, lr) at its
 * first product and is pushed, in order, after its last. The frame (r11) is then sp plus the
 * pushes, and the corrections come through the channel pointer it holds.
 */
export function depthwiseSmall(g: DwSmallGeometry) {
  const { stride, n, lines, pb, direct } = g;
  if (n > 3) throw new Error(`tp_dwsmall: lines of at most 3 outputs, not ${n}`);
  const realA = (r: number) => r >= g.padT && r < g.padT + g.inH;
  const realP = (p: number) => p >= g.padL && p < g.padL + g.inW;
  // byte of padded row r, position p
  const offset = (r: number, p: number) => ((r - g.padT) * g.inW + p - g.padL) * pb;
  // The weight of kernel row a, column s: a register and its half.
  const weight = (a: number, s: number): [string, 'lo' | 'hi' | 'whole'] => {
    if (stride === 2)
      return s === 1 ? [['r4', 'r5', 'r10'][a]!, 'whole'] : [`r${1 + a}`, s === 0 ? 'lo' : 'hi'];
    const q = 3 * a + s;
    return [`r${1 + (q >> 1)}`, q & 1 ? 'hi' : 'lo'];
  };
  const block = DWC_BYTES[stride];
  // Each output's padded taps (its correction's weights) and real tap count, row-major.
  const outs = Array.from({ length: n * lines }, (_, i) => {
    const [j, k] = [Math.floor(i / n), i % n];
    const pads: number[] = [];
    for (let a = 0; a < 3; a++)
      for (let s = 0; s < 3; s++)
        if (!realA(stride * j + a) || !realP(stride * k + s)) pads.push(3 * a + s);
    return { j, k, pads, real: 9 - pads.length, done: 0, reg: '' };
  });
  const border: number[][] = [];
  const corr = outs.map((o) => (o.pads.length ? border.push(o.pads) - 1 : undefined));
  const sweep: string[] = [];
  let at = 0; // r0's offset from the lane's start
  const load = (o: number) => {
    const near = o >= at && o <= at + 31;
    for (let d = near ? 0 : o - at; d !== 0;) {
      const step = Math.max(-255, Math.min(255, d));
      sweep.push(step > 0 ? `adds r0, #${step}` : `subs r0, #${-step}`);
      d -= step;
    }
    if (!near) at = o;
    sweep.push(`ldrb r6, [r0, #${o - at}]`);
  };
  const free = direct ? ['r8', 'r9', 'r12', 'r11', 'lr'] : [];
  let pushed = 0;
  // The byte in r6 (row r, position p) times the weights of the outputs it feeds.
  const feed = (r: number, p: number, feeds: number[]) => {
    load(offset(r, p));
    feeds.forEach((i, f) => {
      const o = outs[i]!;
      const [w, half] = weight(r - stride * o.j, p - stride * o.k);
      let prod = 'r7';
      if (half === 'whole' && w !== 'r10' && f === feeds.length - 1) {
        sweep.push(`muls r6, ${w}`); // the byte's last use: multiplied in place
        prod = 'r6';
      } else if (half === 'whole') sweep.push(`mov r7, ${w}`, 'muls r7, r6');
      else sweep.push(half === 'lo' ? `sxth r7, ${w}` : `asrs r7, ${w}, #16`, 'muls r7, r6');
      if (!o.done && direct) {
        const reg = free.shift();
        if (!reg) throw new Error('tp_dwsmall: more live outputs than high registers');
        o.reg = reg;
      }
      sweep.push(`${o.done ? 'add' : 'mov'} ${o.reg}, ${prod}`);
      o.done++;
    });
  };
  // Pushes the finished outputs from the next in order (the requantisation pops them last first).
  const flush = () => {
    for (let o = outs[pushed]; o && o.done === o.real; o = outs[pushed]) {
      const c = corr[pushed];
      if (c === undefined) sweep.push(`mov r6, ${o.reg}`);
      else if (direct)
        sweep.push(
          `ldr r6, [sp, #${4 * pushed + FR.ch}]`,
          `ldr r6, [r6, #${block + 4 * c}]`,
          `add r6, ${o.reg}`,
        );
      else sweep.push('mov r6, lr', `ldr r6, [r6, #${4 * c}]`, `add r6, ${o.reg}`);
      sweep.push('push {r6}');
      if (direct) free.push(o.reg);
      pushed++;
    }
  };
  const feedsOf = (r: number, p: number, j0: number, j1: number) =>
    outs.flatMap((o, i) =>
      o.j >= j0 &&
      o.j <= j1 &&
      r - stride * o.j >= 0 &&
      r - stride * o.j <= 2 &&
      p - stride * o.k >= 0 &&
      p - stride * o.k <= 2
        ? [i]
        : [],
    );
  const rows = stride * (lines - 1) + 3;
  const cols = stride * (n - 1) + 3;
  if (direct) {
    for (let r = 0; r < rows; r++)
      for (let p = 0; p < cols; p++) {
        const feeds = realA(r) && realP(p) ? feedsOf(r, p, 0, lines - 1) : [];
        if (feeds.length) feed(r, p, feeds);
        flush();
      }
  } else {
    outs.forEach((o, i) => (o.reg = ['r8', 'r9', 'r12'][i % n]!));
    for (let j = 0; j < lines; j++) {
      for (let a = 0; a < 3; a++)
        for (let p = 0; p < cols; p++) {
          const r = stride * j + a;
          const feeds = realA(r) && realP(p) ? feedsOf(r, p, j, j) : [];
          if (feeds.length) feed(r, p, feeds);
        }
      flush();
    }
  }
  if (pushed !== outs.length) throw new Error('tp_dwsmall: an output without a real tap');
  const chBytes = block + 4 * border.length;
  const geo = `${g.inH}x${g.inW}t${g.padT}l${g.padL}`;
  const name = `tp_dwsmall${direct ? `d${pb}` : pb === 4 ? '4' : ''}_s${stride}_${geo}_${n}x${lines}`;
  const code = nakedFunction(
    `void ${name}(const uint8_t *src, const tp_dwc_t *ch, uint8_t *outLast, const uint32_t *a)`,
    [
      ...PROLOGUE,
      'sub sp, #64',
      'mov r11, sp',
      'mov r7, sp',
      `str r3, [r7, #${FR.args}]`,
      `ldr r4, [r3, #${DA.lanes}]`,
      `str r4, [r7, #${FR.lanes}]`,
      // Each channel (of the a[lanes] interleaved ones, the next a byte on): r0 = src, r1 =
      // ch, r2 = outLast, r7 = the frame (from a gathered plane lr = the corrections).
      '12:',
      `str r0, [r7, #${FR.src}]`,
      `str r2, [r7, #${FR.outLast}]`,
      `str r1, [r7, #${FR.ch}]`,
      ...(direct ? [] : ['movs r4, r1', `adds r4, #${block}`, 'mov lr, r4']),
      ...(stride === 2 ? ['ldr r4, [r1, #44]', 'mov r10, r4'] : []),
      'mov r7, r1',
      'ldmia r7!, {r1, r2, r3, r4, r5}',
      ...sweep,
      // requantise the plane (ch->rq pops the n · lines accumulators, sp back to r11)
      ...(direct ? [`add r7, sp, #${4 * outs.length}`, 'mov r11, r7'] : ['mov r7, r11']),
      `ldr r7, [r7, #${FR.ch}]`,
      'ldr r7, [r7, #40]',
      'blx r7',
      'mov r7, r11',
      `ldr r6, [r7, #${FR.lanes}]`,
      'subs r6, #1',
      'beq 9f',
      `str r6, [r7, #${FR.lanes}]`,
      `ldr r0, [r7, #${FR.src}]`,
      'adds r0, #1',
      `ldr r2, [r7, #${FR.outLast}]`,
      'adds r2, #1',
      `ldr r1, [r7, #${FR.ch}]`,
      `adds r1, #${chBytes}`,
      'b 12b',
      '9:',
      'add sp, #64',
      ...EPILOGUE,
    ],
  );
  return { name, code, border, chBytes };
}
