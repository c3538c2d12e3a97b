// int8 Graph → plain C99 for Cortex-M0/M0+: constants in flash, one specialised function per
// layer, a static activation arena laid out from tensor lifetimes, and a tiny API (model.h).
//
// Arithmetic is the TFLite Micro reference kernels' (the int8 interpreter's), bit for bit. Two
// representation choices make it cheaper on a core without SIMD:
// - activations inside the arena are stored offset-binary (u = x + 128, uint8), so loads can
//   use LDRB with an immediate offset; the model input is converted at the start of
//   model_invoke and the output back at the end;
// - the input zero point is folded into the bias (Σ(u − zu)·w = Σu·w − zu·Σw) and padded taps
//   read as zu, so the inner loops are plain multiply-accumulates.
import { cComment } from '../io/sanitize.js';
import { getTensor, numElements } from '../graph/graph.js';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { activationRangeInt8 } from '../quant/interpreter.js';
import { planArena } from './arena.js';
import { EMITTERS, SUPPORTED_KINDS } from './emitters/index.js';
import { q, type KernelMode } from './emitters/types.js';
import { LAYER_C } from './kernels.js';
import { REQUANT_C, type RequantPath } from './requant.js';
import { TARGETS, type Target } from './targets.js';

export interface GeneratedLayer {
  index: number;
  name: string;
  kind: string;
  macs: number;
  /** The kernel the layer runs (see emitters/conv.ts chooseConvKernel). */
  kernel: string;
  /** Requantisation routine of a conv/depthwise/FC layer (see requant.ts). */
  requant?: RequantPath;
}

export interface GeneratedModel {
  /** File name → contents: model.h and model.c. */
  files: Record<string, string>;
  arenaBytes: number;
  inputBytes: number;
  outputBytes: number;
  layers: GeneratedLayer[];
}

function fail(g: Graph, msg: string): never {
  throw new TinypruneError(`deploy ${g.name}: ${msg}`);
}

const PRELUDE = `#include <stdint.h>
#include "model.h"
#include "tp_runtime.h"

/* TFLite MultiplyByQuantizedMultiplier (SaturatingRoundingDoublingHighMul, then
 * RoundingDivideByPOT); m is a Q31 significand in [2^30, 2^31), so the saturating case
 * (both operands INT32_MIN) cannot occur. */
static inline int32_t tp_srdhm(int32_t a, int32_t m) {
  int64_t v = (int64_t)a * m;
  v += v >= 0 ? (1 << 30) : 1 - (1 << 30);
  if (v < 0) v += 0x7fffffff; /* division by 2^31 truncates toward zero */
  return (int32_t)(v >> 31);
}
static inline int32_t tp_rdbp(int32_t x, int e) {
  int32_t mask = (int32_t)((1u << e) - 1u);
  int32_t rem = x & mask, thr = (mask >> 1) + (x < 0);
  return (x >> e) + (rem > thr);
}
static inline int32_t tp_mbqm(int32_t x, int32_t m, int shift) {
  if (shift > 0) return tp_srdhm((int32_t)((uint32_t)x << shift), m);
  return tp_rdbp(tp_srdhm(x, m), -shift);
}
static inline uint8_t tp_clamp_u8(int32_t v, int32_t lo, int32_t hi) {
  return (uint8_t)(v < lo ? lo : v > hi ? hi : v);
}
`;

/** Where layer constants live: read in place from flash, or copied to SRAM at start-up. */
export type WeightsIn = 'flash' | 'sram';
export type { KernelMode };

export interface CodegenOptions {
  /** The target the code is generated for (default rp2040). */
  target?: Target;
  /** Default flash. */
  weightsIn?: WeightsIn;
  /** Default speed (the two-pixel kernels wherever they apply). */
  kernels?: KernelMode;
}

/** Generates model.h and model.c for an int8 graph; unsupported graphs get a clear error. */
export function generateC(g: Graph, opts: CodegenOptions = {}): GeneratedModel {
  const target = opts.target ?? TARGETS.rp2040;
  if (g.inputs.length !== 1 || g.outputs.length !== 1)
    fail(g, `expected one input and one output, found ${g.inputs.length} and ${g.outputs.length}`);
  g.ops.forEach((op, i) => {
    if (!EMITTERS[op.kind])
      fail(
        g,
        `op ${i} (${op.kind} "${op.name}") is not supported on the MCU (supported: ${SUPPORTED_KINDS.join(', ')})`,
      );
  });
  for (const [, t] of g.tensors)
    if (!t.data && t.dtype !== 'int8')
      fail(
        g,
        `activation tensor "${t.name}" is ${t.dtype}; the MCU code generator needs an int8 graph (run quantize first)`,
      );

  const arena = planArena(g);
  const arenaBytes = arena.bytes;
  const off = arena.offset;

  const consts: string[] = [];
  const fns: string[] = [];
  const calls: string[] = [];
  const layers: GeneratedLayer[] = [];
  const helpers = new Map<string, string>();

  g.ops.forEach((op, i) => {
    const x = getTensor(g, op.inputs[0]!);
    const y = getTensor(g, op.outputs[0]!);
    const qx = q(x);
    const qy = q(y);
    const [lo, hi] = activationRangeInt8(op.attrs.activation, qy);
    const fn = `tp_layer${i}`;
    const code = EMITTERS[op.kind]!({
      g,
      op,
      index: i,
      fn,
      x,
      y,
      qx,
      qy,
      zu: qx.zp + 128,
      lo,
      hi,
      clampLo: lo + 128,
      clampHi: hi + 128,
      off,
      target,
      kernels: opts.kernels ?? 'speed',
      fail: (msg) => fail(g, msg),
    });
    if (!code) return;
    consts.push(...code.consts);
    for (const [name, text] of Object.entries(code.helpers ?? {})) helpers.set(name, text);
    const head = `/* ${op.kind} "${cComment(op.name)}": ${code.kernel} */\nstatic void ${fn}(void) {\n  const uint8_t *in = tp_arena + ${off(x.name)};\n  uint8_t *out = tp_arena + ${off(y.name)};\n`;
    fns.push(`${head}${code.body}}`);
    calls.push(`  ${fn}();\n  tp_mark(${i});`);
    layers.push({
      index: i,
      name: op.name,
      kind: op.kind,
      macs: code.macs,
      kernel: code.kernel,
      ...(code.requant && { requant: code.requant }),
    });
  });

  const input = getTensor(g, g.inputs[0]!);
  const output = getTensor(g, g.outputs[0]!);
  const inBytes = numElements(input.shape);
  const outBytes = numElements(output.shape);
  const guard = 'TP_MODEL_H';
  const header = `/* ${cComment(g.name)}: generated by tinyprune for ${target.label}. Int8 model API; no dynamic memory. */
#ifndef ${guard}
#define ${guard}
#include <stdint.h>

#define MODEL_INPUT_SIZE ${inBytes}
#define MODEL_OUTPUT_SIZE ${outBytes}
#define MODEL_ARENA_SIZE ${arenaBytes}
#define MODEL_INPUT_SCALE ${q(input).scale}f
#define MODEL_INPUT_ZERO_POINT ${q(input).zp}
#define MODEL_OUTPUT_SCALE ${q(output).scale}f
#define MODEL_OUTPUT_ZERO_POINT ${q(output).zp}

/* Write MODEL_INPUT_SIZE int8 values here (shape [${input.shape.join(', ')}]) before each call. */
int8_t *model_input(void);
/* MODEL_OUTPUT_SIZE int8 values (shape [${output.shape.join(', ')}]) after model_invoke(). */
int8_t *model_output(void);
/* Runs the model; the input buffer is consumed (overwritten). */
void model_invoke(void);
#endif
`;
  const weightsIn = opts.weightsIn ?? 'flash';
  // Layer constants (weights, biases, requantisation tables, descriptors): in flash, or in the
  // .data section, which start-up copies from flash to SRAM.
  const constDecl =
    weightsIn === 'sram'
      ? '#define TP_CONST static const __attribute__((section(".data.tp_const")))'
      : '#define TP_CONST static const';
  const source = `/* ${cComment(g.name)}: generated by tinyprune; layer constants in ${weightsIn}. */
${PRELUDE}
/* Layer constants: ${weightsIn === 'sram' ? 'copied to SRAM at start-up' : 'read from flash'}. */
${constDecl}
${REQUANT_C}
${LAYER_C}
/* Routines the layers below share (emitted once each). */
${[...helpers.values()].join('\n')}
static uint8_t tp_arena[${arenaBytes}] __attribute__((aligned(4)));

int8_t *model_input(void) { return (int8_t *)(tp_arena + ${off(input.name)}); }
int8_t *model_output(void) { return (int8_t *)(tp_arena + ${off(output.name)}); }

/* int8 <-> offset-binary uint8: flip the sign bit, four bytes at a time. */
static void tp_flip(uint8_t *p, int n) {
  int k = 0;
  for (; k + 4 <= n; k += 4) *(uint32_t *)(p + k) ^= 0x80808080u;
  for (; k < n; k++) p[k] ^= 0x80u;
}
${consts.join('\n')}

${fns.join('\n\n')}

void model_invoke(void) {
  tp_flip(tp_arena + ${off(input.name)}, ${inBytes});
${calls.join('\n')}
  tp_flip(tp_arena + ${off(output.name)}, ${outBytes});
}
`;
  return {
    files: { 'model.h': header, 'model.c': source },
    arenaBytes,
    inputBytes: inBytes,
    outputBytes: outBytes,
    layers,
  };
}
