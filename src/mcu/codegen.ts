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
import { getTensor, numElements } from '../graph/graph.js';
import { padBefore } from '../graph/shapes.js';
import type { Graph, Op, Tensor } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { quantizeMultiplier } from '../quant/fixedpoint.js';
import { activationRangeInt8 } from '../quant/interpreter.js';
import { softmaxInt8Params } from '../quant/softmaxInt8.js';
import { depthwiseRowFunction, LAYER_C } from './kernels.js';
import { planRequant, REQUANT_C, type RequantPath } from './requant.js';

export interface GeneratedLayer {
  index: number;
  name: string;
  kind: string;
  macs: number;
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

const SUPPORTED = new Set([
  'conv2d',
  'depthwiseConv2d',
  'fullyConnected',
  'averagePool2d',
  'maxPool2d',
  'mean',
  'reshape',
  'softmax',
  'add',
  'pad',
]);

function fail(g: Graph, msg: string): never {
  throw new TinypruneError(`deploy ${g.name}: ${msg}`);
}

function q(t: Tensor): { scale: number; zp: number } {
  return { scale: t.quant?.scale[0] ?? 1, zp: t.quant?.zeroPoint[0] ?? 0 };
}

/** A C array initialiser, wrapped at about 100 columns. */
function cArray(values: ArrayLike<number>): string {
  const parts: string[] = [];
  let line = ' ';
  for (let i = 0; i < values.length; i++) {
    const s = `${values[i]},`;
    if (line.length + s.length > 100) {
      parts.push(line);
      line = ' ';
    }
    line += ` ${s}`;
  }
  parts.push(line);
  return parts.join('\n');
}

interface Buffer {
  offset: number;
  bytes: number;
  first: number;
  last: number;
}

/**
 * Places each buffer at the lowest offset free during its lifetime, in the given order;
 * returns the arena size.
 */
function placeInOrder(order: Buffer[]): number {
  const placed: Buffer[] = [];
  let total = 0;
  for (const b of order) {
    const live = placed
      .filter((p) => p.first <= b.last && b.first <= p.last)
      .sort((x, y) => x.offset - y.offset);
    let off = 0;
    for (const p of live) {
      if (off + b.bytes <= p.offset) break;
      off = Math.max(off, (p.offset + p.bytes + 3) & ~3);
    }
    b.offset = off;
    placed.push(b);
    total = Math.max(total, off + b.bytes);
  }
  return (total + 3) & ~3;
}

/**
 * Lays out the arena with a few first-fit orders (largest first, by first use, by last use) and
 * keeps the smallest: no single order wins on every network (MobileNet's first layers need
 * first-use order to reach the two-tensor lower bound).
 */
function planArena(bufs: Buffer[]): number {
  const orders = [
    (x: Buffer, y: Buffer) => y.bytes - x.bytes || x.first - y.first,
    (x: Buffer, y: Buffer) => x.first - y.first || y.bytes - x.bytes,
    (x: Buffer, y: Buffer) => y.last - x.last || y.bytes - x.bytes,
  ];
  let best: { size: number; offsets: number[] } | undefined;
  for (const cmp of orders) {
    const size = placeInOrder([...bufs].sort(cmp));
    if (!best || size < best.size) best = { size, offsets: bufs.map((b) => b.offset) };
  }
  bufs.forEach((b, i) => (b.offset = best!.offsets[i]!));
  return best!.size;
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

const SOFTMAX_C = `
/* TFLite Micro int8 softmax (gemmlowp fixed point): Q5.26 differences, Q12.19 sum of exps. */
static int32_t tp_sat_shl(int32_t x, int e) {
  int32_t thr = (int32_t)((1u << (31 - e)) - 1u);
  if (x > thr) return INT32_MAX;
  if (x < -thr) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}
static int32_t tp_srdhm_full(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  int64_t v = (int64_t)a * b;
  v += v >= 0 ? (1 << 30) : 1 - (1 << 30);
  if (v < 0) v += 0x7fffffff;
  return (int32_t)(v >> 31);
}
static int32_t tp_exp_quarter(int32_t a) {
  int32_t x = (int32_t)((uint32_t)a + (1u << 28));
  int32_t x2 = tp_srdhm_full(x, x), x3 = tp_srdhm_full(x2, x), x4 = tp_srdhm_full(x2, x2);
  int32_t x4o4 = tp_rdbp(x4, 2);
  int32_t poly = tp_rdbp((int32_t)((uint32_t)tp_srdhm_full((int32_t)((uint32_t)x4o4 + (uint32_t)x3), 715827883) + (uint32_t)x2), 1);
  return (int32_t)(1895147668u + (uint32_t)tp_srdhm_full(1895147668, (int32_t)((uint32_t)x + (uint32_t)poly)));
}
static int32_t tp_exp_neg(int32_t a) {
  static const int32_t mul[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  int32_t quarter = 1 << 24;
  int32_t amq = (int32_t)((uint32_t)(a & (quarter - 1)) - (uint32_t)quarter);
  int32_t r = tp_exp_quarter(tp_sat_shl(amq, 5));
  int32_t rem = (int32_t)((uint32_t)amq - (uint32_t)a);
  for (int k = 0; k < 7; k++)
    if (rem & (1 << (24 + k))) r = tp_srdhm_full(r, mul[k]);
  return a == 0 ? INT32_MAX : r;
}
static int32_t tp_one_over_one_plus_x(int32_t a) {
  int64_t sum = (int64_t)a + INT32_MAX;
  int32_t half = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = (int32_t)(1515870810u + (uint32_t)tp_srdhm_full(half, -1010580540));
  for (int i = 0; i < 3; i++) {
    int32_t om = (int32_t)((1u << 29) - (uint32_t)tp_srdhm_full(half, x));
    x = (int32_t)((uint32_t)x + (uint32_t)tp_sat_shl(tp_srdhm_full(x, om), 2));
  }
  return tp_sat_shl(x, 1);
}
static void tp_softmax(const uint8_t *in, uint8_t *out, int rows, int depth, int32_t mult, int lshift, int32_t diff_min) {
  for (int r = 0; r < rows; r++, in += depth, out += depth) {
    int32_t mx = 0;
    for (int c = 0; c < depth; c++) if (in[c] > mx) mx = in[c];
    int32_t sum = 0;
    for (int c = 0; c < depth; c++) {
      int32_t d = (int32_t)in[c] - mx;
      if (d >= diff_min) sum = (int32_t)((uint32_t)sum + (uint32_t)tp_rdbp(tp_exp_neg(tp_srdhm_full((int32_t)((uint32_t)d << lshift), mult)), 12));
    }
    int hp1 = __builtin_clz((uint32_t)sum);
    int32_t scale = tp_one_over_one_plus_x((int32_t)(((uint32_t)sum << hp1) - 0x80000000u));
    int e = 12 - hp1 + 31 - 8;
    for (int c = 0; c < depth; c++) {
      int32_t d = (int32_t)in[c] - mx;
      int32_t v = -128;
      if (d >= diff_min) {
        v = tp_rdbp(tp_srdhm_full(scale, tp_exp_neg(tp_srdhm_full((int32_t)((uint32_t)d << lshift), mult))), e) - 128;
        v = v > 127 ? 127 : v < -128 ? -128 : v;
      }
      out[c] = (uint8_t)(v + 128);
    }
  }
}
`;

export interface CodegenOptions {
  /** Emit tp_mark(i) after each layer (emulator builds define TP_MARKS). */
  marks?: boolean;
}

/** Generates model.h and model.c for an int8 graph; unsupported graphs get a clear error. */
export function generateC(g: Graph, _opts: CodegenOptions = {}): GeneratedModel {
  if (g.inputs.length !== 1 || g.outputs.length !== 1)
    fail(g, `expected one input and one output, found ${g.inputs.length} and ${g.outputs.length}`);
  g.ops.forEach((op, i) => {
    if (!SUPPORTED.has(op.kind))
      fail(
        g,
        `op ${i} (${op.kind} "${op.name}") is not supported on the MCU (supported: ${[...SUPPORTED].join(', ')})`,
      );
  });
  const isConst = (n: string) => g.tensors.get(n)?.data !== undefined;
  for (const [, t] of g.tensors)
    if (!t.data && t.dtype !== 'int8')
      fail(
        g,
        `activation tensor "${t.name}" is ${t.dtype}; the MCU code generator needs an int8 graph (run quantize first)`,
      );

  // Buffers: reshape outputs alias their input.
  const alias = new Map<string, string>();
  const root = (n: string): string => (alias.has(n) ? root(alias.get(n)!) : n);
  for (const op of g.ops) if (op.kind === 'reshape') alias.set(op.outputs[0]!, op.inputs[0]!);
  const bufs = new Map<string, Buffer>();
  const touch = (name: string, at: number) => {
    const r = root(name);
    const t = getTensor(g, r);
    const b = bufs.get(r);
    if (!b) bufs.set(r, { offset: 0, bytes: numElements(t.shape), first: at, last: at });
    else {
      b.first = Math.min(b.first, at);
      b.last = Math.max(b.last, at);
    }
  };
  touch(g.inputs[0]!, -1);
  g.ops.forEach((op, i) => {
    for (const n of op.inputs) if (n && !isConst(n)) touch(n, i);
    for (const n of op.outputs) touch(n, i);
  });
  touch(g.outputs[0]!, g.ops.length);
  const arenaBytes = planArena([...bufs.values()]);
  const off = (name: string) => bufs.get(root(name))!.offset;

  const consts: string[] = [];
  const fns: string[] = [];
  const calls: string[] = [];
  const layers: GeneratedLayer[] = [];
  let needSoftmax = false;
  const dwTaps = new Set<number>();

  g.ops.forEach((op, i) => {
    const x = getTensor(g, op.inputs[0]!);
    const y = getTensor(g, op.outputs[0]!);
    const qx = q(x);
    const qy = q(y);
    const zu = qx.zp + 128;
    const fn = `tp_layer${i}`;
    const head = `/* ${op.kind} "${op.name}" */\nstatic void ${fn}(void) {\n  const uint8_t *in = tp_arena + ${off(x.name)};\n  uint8_t *out = tp_arena + ${off(y.name)};\n`;
    let body = '';
    let macs = 0;
    let layerRequant: RequantPath | undefined;
    const a = op.attrs;
    const [lo, hi] = activationRangeInt8(a.activation, qy);
    const clampLo = lo + 128;
    const clampHi = hi + 128;
    switch (op.kind) {
      case 'reshape':
        if (off(x.name) !== off(y.name)) fail(g, `reshape "${op.name}" could not alias its input`);
        return; // no code: the output aliases the input
      case 'conv2d':
      case 'depthwiseConv2d':
      case 'fullyConnected': {
        const wt = getTensor(g, op.inputs[1]!);
        const w = wt.data as Int8Array;
        const biasT = op.inputs[2] ? g.tensors.get(op.inputs[2]) : undefined;
        const bias = biasT?.data as Int32Array | undefined;
        let inH = 1,
          inW = 1,
          inC: number,
          outH = 1,
          outW = 1,
          outC: number,
          kH = 1,
          kW = 1;
        let sH = 1,
          sW = 1,
          dH = 1,
          dW = 1,
          padT = 0,
          padL = 0,
          mult = 1;
        if (op.kind === 'fullyConnected') {
          outC = wt.shape[0]!;
          inC = wt.shape[1]!;
          outH = numElements(x.shape) / inC; // batch rows
        } else {
          [, inH, inW, inC] = x.shape as [number, number, number, number];
          [, outH, outW, outC] = y.shape as [number, number, number, number];
          kH = wt.shape[1]!;
          kW = wt.shape[2]!;
          [sH, sW] = a.strides ?? [1, 1];
          [dH, dW] = a.dilations ?? [1, 1];
          padT = padBefore(inH, kH, sH, a.padding ?? 'valid', dH);
          padL = padBefore(inW, kW, sW, a.padding ?? 'valid', dW);
          if (op.kind === 'depthwiseConv2d') mult = outC / inC;
        }
        const taps = kH * kW;
        // Byte offset of tap t from the window's corner pixel (NHWC).
        const tapOffset = (t: number) => (Math.floor(t / kW) * dH * inW + (t % kW) * dW) * inC;
        const perOut = op.kind === 'depthwiseConv2d' ? taps : taps * inC;
        macs = outH * outW * outC * perOut;
        // Weights rearranged as [outC][taps(, inC)] and the folded bias: b − zu·Σw.
        const wr = new Int8Array(outC * perOut);
        const bFold = new Int32Array(outC);
        const bRaw = new Int32Array(outC);
        const accMin: number[] = [];
        const accMax: number[] = [];
        for (let o = 0; o < outC; o++) {
          let s = 0;
          let pos = 0;
          let neg = 0;
          for (let k = 0; k < perOut; k++) {
            const v = op.kind === 'depthwiseConv2d' ? w[k * outC + o]! : w[o * perOut + k]!;
            wr[o * perOut + k] = v;
            s += v;
            if (v > 0) pos += v;
            else neg += v;
          }
          bRaw[o] = bias ? bias[o]! : 0;
          bFold[o] = bRaw[o]! - zu * s;
          // Every tap reads an offset-binary value in [0, 255] (padding reads zu).
          accMin.push(bFold[o]! + 255 * neg);
          accMax.push(bFold[o]! + 255 * pos);
        }
        const wScales = wt.quant?.scale ?? [1];
        const plan = planRequant(
          Array.from(
            { length: outC },
            (_, c) => (qx.scale * (wScales.length === 1 ? wScales[0]! : wScales[c]!)) / qy.scale,
          ),
          qy.zp,
          lo,
          hi,
          accMin,
          accMax,
        );
        const direct = taps === 1 && sH === 1 && sW === 1 && perOut % 2 === 0;
        const gemm =
          outC % 4 === 0 && (op.kind === 'conv2d' || (op.kind === 'fullyConnected' && direct));
        const depthwise4 =
          op.kind === 'depthwiseConv2d' && mult === 1 && outC % 4 === 0 && taps <= 63;
        // Layers outside the shared drivers (odd channel counts, depth multipliers) are small:
        // they requantise with the general routine.
        const shared = gemm || depthwise4;
        const slow = shared ? (plan.slow?.flatMap((v, c) => (v ? [c] : [])) ?? []) : [];
        const fast = shared && plan.path !== 'general';
        layerRequant = fast ? plan.path : 'general';
        consts.push(`static const int32_t ${fn}_b[${outC}] = {\n${cArray(bFold)}\n};`);
        if (!fast || slow.length)
          consts.push(
            `static const int32_t ${fn}_m[${outC}] = {\n${cArray(plan.mult)}\n};`,
            `static const int8_t ${fn}_s[${outC}] = {\n${cArray(plan.shift)}\n};`,
          );
        if (fast) {
          const tb = plan.table;
          const rows = Array.from({ length: outC }, (_, c) => {
            const mhl = tb[4 * c + 1]! >>> 0;
            return `{${tb[4 * c]}, ${mhl & 0xffff}, ${mhl >>> 16}, ${tb[4 * c + 2]! >>> 0}u, ${tb[4 * c + 3]}}`;
          });
          consts.push(`static const tp_rq_t ${fn}_rq[${outC}] = {\n  ${rows.join(',\n  ')}\n};`);
        }
        if (slow.length)
          consts.push(`static const uint16_t ${fn}_slow[${slow.length}] = {\n${cArray(slow)}\n};`);
        const store = (acc: string, oc: string) =>
          `tp_clamp_u8(tp_mbqm(${acc}, ${fn}_m[${oc}], ${fn}_s[${oc}]) + ${qy.zp + 128}, ${clampLo}, ${clampHi})`;
        // A layer descriptor for the shared drivers (kernels.ts): shapes, constants and its
        // requantisation; the layer's code is then one call.
        const descriptor = (fields: Record<string, string | number>) => {
          const all: Record<string, string | number> = {
            ...fields,
            b: `${fn}_b`,
            ...(fast && {
              rq: `${fn}_rq`,
              rqrow: plan.path === 'mul2' ? 'tp_rq2row' : 'tp_rq4row',
            }),
            ...((!fast || slow.length) && {
              m: `${fn}_m`,
              s: `${fn}_s`,
              nslow: fast ? slow.length : outC,
            }),
            ...(slow.length && { slow: `${fn}_slow` }),
            ...{ inH, inW, inC, outH, outW, outC, kH, kW, sH, sW, dH, dW, padT, padL },
            ...{ lo: clampLo, hi: clampHi, zo: qy.zp + 128, zu },
          };
          const init = Object.entries(all)
            .map(([k, v]) => `.${k} = ${v}`)
            .join(', ');
          consts.push(`static const tp_layer_t ${fn}_L = {${init}};`);
        };
        if (gemm) {
          // GEMM over pixels: 4 output channels per pass share each loaded input; weights
          // interleaved [outC/4][K][4] (K even, a zero weight pads an odd K) so the inner loop
          // walks them sequentially. A kernel larger than 1x1 first gathers each pixel's patch
          // (padding reads zu) into a small stack buffer: no im2col of the whole image.
          const K = perOut;
          const Kp = K + (K & 1);
          const wi = new Int8Array(outC * Kp);
          for (let o = 0; o < outC; o++)
            for (let k = 0; k < K; k++) wi[((o >> 2) * Kp + k) * 4 + (o & 3)] = wr[o * K + k]!;
          consts.push(
            `static const int8_t ${fn}_wi[${wi.length}] __attribute__((aligned(4))) = {\n${cArray(wi)}\n};`,
          );
          if (!direct) {
            // The patch of a window inside the image, copied unrolled (tap offsets are constants).
            const copies = Array.from({ length: kH * kW * inC }, (_, k) => {
              return `d[${k}] = s[${tapOffset(Math.floor(k / inC)) + (k % inC)}];`;
            });
            consts.push(
              `static void ${fn}_gather(const uint8_t *s, uint8_t *d) {
  ${copies.join(' ')}
}`,
            );
          }
          descriptor({ w: `${fn}_wi`, K: Kp, ...(!direct && { gather: `${fn}_gather` }) });
          body = direct
            ? `  tp_conv_direct(&${fn}_L, in, out, ${op.kind === 'fullyConnected' ? outH : outH * outW});\n`
            : `  tp_conv_patch(&${fn}_L, in, out);\n`;
        } else if (depthwise4) {
          // Per output pixel, all channel groups through the tp_dwrow kernel; weights
          // interleaved int8 [C/4][taps][4]. Interior pixels use constant tap offsets; border
          // pixels point padding taps at a row of the input zero point (no per-tap checks).
          const wi = new Int8Array(outC * taps);
          for (let o = 0; o < outC; o++)
            for (let t = 0; t < taps; t++)
              wi[((o >> 2) * taps + t) * 4 + (o & 3)] = wr[o * taps + t]!;
          const ofs = Array.from({ length: taps }, (_, t) => tapOffset(t));
          dwTaps.add(taps);
          consts.push(
            `static const int8_t ${fn}_wi[${wi.length}] __attribute__((aligned(4))) = {\n${cArray(wi)}\n};`,
            `static const uint8_t ${fn}_pad[${inC}] __attribute__((aligned(4))) = {\n${cArray(new Uint8Array(inC).fill(zu))}\n};`,
            `static const int32_t ${fn}_ofs[${taps}] = {\n${cArray(ofs)}\n};`,
          );
          descriptor({
            w: `${fn}_wi`,
            K: taps,
            ofs: `${fn}_ofs`,
            pad: `${fn}_pad`,
            dwrow: `tp_dwrow_${taps}`,
          });
          body = `  tp_depthwise(&${fn}_L, in, out);\n`;
        } else if (op.kind === 'depthwiseConv2d' && mult === 1) {
          // Per output pixel: one pointer per tap (the input pixel, or a row of zu for padding,
          // so borders need no per-tap checks), then all channels with the taps unrolled and the
          // weights pre-arranged as int32 [C][taps] (LDR with an immediate offset).
          const w32 = Int32Array.from(wr);
          consts.push(
            `static const int32_t ${fn}_w32[${w32.length}] = {\n${cArray(w32)}\n};`,
            `static const uint8_t ${fn}_pad[${inC}] = {\n${cArray(new Uint8Array(inC).fill(zu))}\n};`,
          );
          const terms = Array.from({ length: taps }, (_, t) => `pt[${t}][c] * w[${t}]`);
          body = `  const uint8_t *pt[${taps}];
  for (int oy = 0; oy < ${outH}; oy++)
    for (int ox = 0; ox < ${outW}; ox++, out += ${outC}) {
      for (int ky = 0; ky < ${kH}; ky++) {
        const int iy = oy * ${sH} - ${padT} + ky * ${dH};
        for (int kx = 0; kx < ${kW}; kx++) {
          const int ix = ox * ${sW} - ${padL} + kx * ${dW};
          pt[ky * ${kW} + kx] = iy >= 0 && iy < ${inH} && ix >= 0 && ix < ${inW}
              ? in + (iy * ${inW} + ix) * ${inC} : ${fn}_pad;
        }
      }
      const int32_t *w = ${fn}_w32;
      for (int c = 0; c < ${outC}; c++, w += ${taps}) {
        const int32_t acc = ${fn}_b[c] + ${terms.join('\n            + ')};
        out[c] = ${store('acc', 'c')};
      }
    }
`;
        } else {
          consts.push(
            `static const int8_t ${fn}_w[${wr.length}] = {\n${cArray(wr)}\n};`,
            `static const int32_t ${fn}_braw[${outC}] = {\n${cArray(bRaw)}\n};`,
          );
          const storeO = `out[o] = ${store('acc', 'oc')};`;
          if (op.kind === 'depthwiseConv2d') {
            body = `  for (int oy = 0; oy < ${outH}; oy++)
    for (int ox = 0; ox < ${outW}; ox++) {
      const int iy0 = oy * ${sH} - ${padT}, ix0 = ox * ${sW} - ${padL};
      for (int oc = 0; oc < ${outC}; oc++) {
        const int ic = oc / ${mult};
        const int8_t *w = ${fn}_w + oc * ${taps};
        int32_t acc = ${fn}_braw[oc];
        for (int ky = 0; ky < ${kH}; ky++) {
          const int iy = iy0 + ky * ${dH};
          if (iy < 0 || iy >= ${inH}) continue;
          for (int kx = 0; kx < ${kW}; kx++) {
            const int ix = ix0 + kx * ${dW};
            if (ix < 0 || ix >= ${inW}) continue;
            acc += ((int32_t)in[(iy * ${inW} + ix) * ${inC} + ic] - ${zu}) * w[ky * ${kW} + kx];
          }
        }
        const int o = (oy * ${outW} + ox) * ${outC} + oc;
        ${storeO}
      }
    }
`;
          } else {
            body = `  for (int oy = 0; oy < ${outH}; oy++)
    for (int ox = 0; ox < ${outW}; ox++) {
      const int iy0 = oy * ${sH} - ${padT}, ix0 = ox * ${sW} - ${padL};
      for (int oc = 0; oc < ${outC}; oc++) {
        const int8_t *w = ${fn}_w + oc * ${perOut};
        int32_t acc = ${fn}_braw[oc];
        for (int ky = 0; ky < ${kH}; ky++) {
          const int iy = iy0 + ky * ${dH};
          if (iy < 0 || iy >= ${inH}) continue;
          for (int kx = 0; kx < ${kW}; kx++) {
            const int ix = ix0 + kx * ${dW};
            if (ix < 0 || ix >= ${inW}) continue;
            const uint8_t *p = in + (iy * ${inW} + ix) * ${inC};
            const int8_t *wk = w + (ky * ${kW} + kx) * ${inC};
            for (int c = 0; c < ${inC}; c++) acc += ((int32_t)p[c] - ${zu}) * wk[c];
          }
        }
        const int o = (oy * ${outW} + ox) * ${outC} + oc;
        ${storeO}
      }
    }
`;
          }
        }
        break;
      }
      case 'averagePool2d':
      case 'maxPool2d': {
        const [, inH, inW, C] = x.shape as [number, number, number, number];
        const [, outH, outW] = y.shape as [number, number, number, number];
        const [kH, kW] = a.poolSize ?? [1, 1];
        const [sH, sW] = a.strides ?? [1, 1];
        const padT = padBefore(inH, kH, sH, a.padding ?? 'valid');
        const padL = padBefore(inW, kW, sW, a.padding ?? 'valid');
        const avg = op.kind === 'averagePool2d';
        body = `  for (int oy = 0; oy < ${outH}; oy++)
    for (int ox = 0; ox < ${outW}; ox++) {
      const int iy0 = oy * ${sH} - ${padT}, ix0 = ox * ${sW} - ${padL};
      const int fy0 = iy0 < 0 ? -iy0 : 0, fy1 = ${kH} < ${inH} - iy0 ? ${kH} : ${inH} - iy0;
      const int fx0 = ix0 < 0 ? -ix0 : 0, fx1 = ${kW} < ${inW} - ix0 ? ${kW} : ${inW} - ix0;
      const int32_t count = (fy1 - fy0) * (fx1 - fx0);
      for (int c = 0; c < ${C}; c++) {
        int32_t acc = 0;
        for (int fy = fy0; fy < fy1; fy++)
          for (int fx = fx0; fx < fx1; fx++) {
            const int32_t v = in[((iy0 + fy) * ${inW} + ix0 + fx) * ${C} + c];
            ${avg ? 'acc += v;' : 'if (v > acc) acc = v;'}
          }
        ${
          avg
            ? `acc -= 128 * count; /* back to int8 values: rounding is symmetric around 0 */
        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
        acc += 128;`
            : ''
        }
        out[(oy * ${outW} + ox) * ${C} + c] = tp_clamp_u8(acc, ${clampLo}, ${clampHi});
      }
    }
`;
        break;
      }
      case 'mean': {
        const rank = x.shape.length;
        const constAxes = op.inputs[1]
          ? (g.tensors.get(op.inputs[1])?.data as Int32Array | undefined)
          : undefined;
        const axes = (a.axes ?? (constAxes ? Array.from(constAxes) : [1, 2])).map((ax) =>
          ax < 0 ? ax + rank : ax,
        );
        const sorted = [...new Set(axes)].sort((p, r) => p - r);
        if (sorted.some((ax, k) => k > 0 && ax !== sorted[k - 1]! + 1))
          fail(g, `mean "${op.name}" over non-contiguous axes [${axes}] is not supported`);
        const outer = numElements(x.shape.slice(0, sorted[0]));
        const reduced = numElements(sorted.map((ax) => x.shape[ax]!));
        const inner = numElements(x.shape.slice(sorted[sorted.length - 1]! + 1));
        const base = quantizeMultiplier(qx.scale / qy.scale);
        let sh = 31 - Math.clz32(reduced);
        sh = Math.min(sh, 32, 31 + base.shift);
        const m = Number((BigInt(base.multiplier) << BigInt(sh)) / BigInt(reduced)) | 0;
        const outShift = base.shift - sh;
        // Σu − 128·n converts the sum back to int8 values before subtracting zp·n.
        const offset = (qx.zp + 128) * reduced;
        body = `  for (int o = 0; o < ${outer}; o++)
    for (int c = 0; c < ${inner}; c++) {
      int32_t s = 0;
      for (int r = 0; r < ${reduced}; r++) s += in[(o * ${reduced} + r) * ${inner} + c];
      out[o * ${inner} + c] = tp_clamp_u8(tp_mbqm(s - ${offset}, ${m}, ${outShift}) + ${qy.zp + 128}, 0, 255);
    }
`;
        break;
      }
      case 'softmax': {
        needSoftmax = true;
        const depth = x.shape[x.shape.length - 1]!;
        const p = softmaxInt8Params(qx.scale, a.beta ?? 1);
        body = `  tp_softmax(in, out, ${numElements(x.shape) / depth}, ${depth}, ${p.inputMultiplier}, ${p.inputLeftShift}, ${p.diffMin});\n`;
        break;
      }
      case 'add': {
        const x2 = getTensor(g, op.inputs[1]!);
        if (x2.data || numElements(x2.shape) !== numElements(y.shape))
          fail(
            g,
            `add "${op.name}": only element-wise adds of two activations are supported on the MCU`,
          );
        const q2 = q(x2);
        const twiceMax = 2 * Math.max(qx.scale, q2.scale);
        const m1 = quantizeMultiplier(qx.scale / twiceMax);
        const m2 = quantizeMultiplier(q2.scale / twiceMax);
        const mo = quantizeMultiplier(twiceMax / (2 ** 20 * qy.scale));
        body = `  const uint8_t *in2 = tp_arena + ${off(x2.name)};
  for (int k = 0; k < ${numElements(y.shape)}; k++) {
    const int32_t v1 = ((int32_t)in[k] - ${qx.zp + 128}) * (1 << 20);
    const int32_t v2 = ((int32_t)in2[k] - ${q2.zp + 128}) * (1 << 20);
    const int32_t s = tp_mbqm(v1, ${m1.multiplier}, ${m1.shift}) + tp_mbqm(v2, ${m2.multiplier}, ${m2.shift});
    out[k] = tp_clamp_u8(tp_mbqm(s, ${mo.multiplier}, ${mo.shift}) + ${qy.zp + 128}, ${clampLo}, ${clampHi});
  }
`;
        break;
      }
      case 'pad': {
        let paddings = a.paddings;
        if (!paddings) {
          const v = op.inputs[1]
            ? (g.tensors.get(op.inputs[1])?.data as ArrayLike<number> | undefined)
            : undefined;
          if (!v) fail(g, `pad "${op.name}" has no paddings`);
          paddings = x.shape.map(
            (_, d) => [Number(v[2 * d]), Number(v[2 * d + 1])] as [number, number],
          );
        }
        // Copy row by row of the innermost dimension from the last input element backwards is
        // not needed: input and output never share a buffer.
        const ys = y.shape;
        const xs = x.shape;
        const rank = ys.length;
        const inner = xs[rank - 1]!;
        const outerDims = ys.slice(0, -1);
        const outerCount = numElements(outerDims);
        const strides = outerDims.map((_, d) => numElements(xs.slice(d + 1)));
        const conds = outerDims
          .map((_, d) => `i${d} >= ${paddings![d]![0]} && i${d} < ${paddings![d]![0] + xs[d]!}`)
          .join(' && ');
        const idx = outerDims
          .map((_, d) => `(i${d} - ${paddings![d]![0]}) * ${strides[d]}`)
          .join(' + ');
        const decompose = outerDims
          .map((_, d) => {
            const below = numElements(outerDims.slice(d + 1));
            return `const int i${d} = (r / ${below}) % ${outerDims[d]};`;
          })
          .join(' ');
        const [pb, pa] = paddings[rank - 1]!;
        body = `  for (int r = 0; r < ${outerCount}; r++) {
    ${decompose}
    uint8_t *o = out + r * ${ys[rank - 1]};
    if (${conds || '1'}) {
      const uint8_t *s = in + ${idx || '0'};
      for (int k = 0; k < ${pb}; k++) *o++ = ${qy.zp + 128};
      for (int k = 0; k < ${inner}; k++) *o++ = s[k];
      for (int k = 0; k < ${pa}; k++) *o++ = ${qy.zp + 128};
    } else {
      for (int k = 0; k < ${ys[rank - 1]}; k++) *o++ = ${qy.zp + 128};
    }
  }
`;
        break;
      }
    }
    fns.push(`${head}${body}}`);
    calls.push(`  ${fn}();\n  tp_mark(${i});`);
    layers.push({ index: i, name: op.name, kind: op.kind, macs, requant: layerRequant });
  });

  const input = getTensor(g, g.inputs[0]!);
  const output = getTensor(g, g.outputs[0]!);
  const inBytes = numElements(input.shape);
  const outBytes = numElements(output.shape);
  const guard = 'TP_MODEL_H';
  const header = `/* ${g.name}: generated by tinyprune. Int8 model API; no dynamic memory. */
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
  const source = `/* ${g.name}: generated by tinyprune. */
${PRELUDE}
${REQUANT_C}
${[...dwTaps].map(depthwiseRowFunction).join('\n')}
${LAYER_C}
static uint8_t tp_arena[${arenaBytes}] __attribute__((aligned(4)));

int8_t *model_input(void) { return (int8_t *)(tp_arena + ${off(input.name)}); }
int8_t *model_output(void) { return (int8_t *)(tp_arena + ${off(output.name)}); }

/* int8 <-> offset-binary uint8: flip the sign bit, four bytes at a time. */
static void tp_flip(uint8_t *p, int n) {
  int k = 0;
  for (; k + 4 <= n; k += 4) *(uint32_t *)(p + k) ^= 0x80808080u;
  for (; k < n; k++) p[k] ^= 0x80u;
}
${needSoftmax ? SOFTMAX_C : ''}
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
