// Convolution, depthwise convolution and fully-connected layers: weights rearranged for the
// chosen kernel, the input zero point folded into the bias, and a requantisation plan.
import { getTensor, numElements } from '../../graph/graph.js';
import { padBefore } from '../../graph/shapes.js';
import {
  DOT8P_C,
  depthwiseLine,
  depthwiseLineHelpers,
  depthwiseRowFunction,
  depthwiseSmall,
  type DwRq,
} from '../kernels.js';
import { planOneMul, planOneMulShift, planRequant } from '../requant.js';
import { cArray, type EmitContext, type LayerCode } from './types.js';

/** The kernels a conv-family layer can run, from the fastest specialised ones to the loop. */
export type ConvKernel =
  /** 1x1 stride-1 convolution or FC, 8 output channels per pass, two MACs per multiply. */
  | 'gemm-direct-8p'
  /** Any other convolution: each pixel's patch gathered, then one 8-channel packed pass. */
  | 'gemm-patch-8p'
  /** 1x1 stride-1 convolution, K a multiple of 4: two pixels per pass share each weight load. */
  | 'gemm-direct-2px'
  /** Any other convolution: two pixels' patches gathered side by side, then one 2-pixel pass. */
  | 'gemm-patch-2px'
  /** 1x1 stride-1 convolution or FC: GEMM over pixels, 4 output channels per pass. */
  | 'gemm-direct'
  /** Any other convolution: each pixel's patch gathered, then one GEMM row. */
  | 'gemm-patch'
  /** Depthwise 3x3, stride 1, 'same': a channel's plane per pass, lines swept with the weights in
   * registers and each input byte loaded once for its three outputs. */
  | 'depthwise-3x3-line'
  /** Depthwise 3x3, stride 2: the same plane and registers, each output reading two positions
   * of the line (the even one shared with the next output). */
  | 'depthwise-3x3-line-s2'
  /** Depthwise 3x3, stride 1 or 2, a tiny output plane (at most SMALL_MAX outputs): the line
   * kernels' plane and registers, fully unrolled, no product with a padding byte. */
  | 'depthwise-3x3-small'
  /** Depthwise, multiplier 1, channels a multiple of 4: the hand-scheduled tap kernel. */
  | 'depthwise-4ch'
  /** Depthwise, multiplier 1, other channel counts: one pointer per tap, taps unrolled. */
  | 'depthwise-taps'
  /** Anything else (depth multipliers, odd output channels): plain loops. */
  | 'loop';

/**
 * The kernels of kernel mode speed only: their weights take 16 bits each (int16 copies, two
 * int8 weights per packed word, or the line kernel's int16 pairs) against 8 in mode size.
 */
export const TWO_PIXEL_KERNELS: readonly string[] = [
  'gemm-direct-2px',
  'gemm-patch-2px',
  'gemm-direct-8p',
  'gemm-patch-8p',
  'depthwise-3x3-line',
  'depthwise-3x3-line-s2',
  'depthwise-3x3-small',
] satisfies ConvKernel[];

export interface ConvGeometry {
  kind: 'conv2d' | 'depthwiseConv2d' | 'fullyConnected';
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  outC: number;
  /** Depth multiplier (depthwise). */
  mult: number;
  /** MACs per output value. */
  perOut: number;
  /** Output pixels (FC: batch rows). */
  rows: number;
  /** The two-pixel kernels (int16 weights) are allowed: kernel mode speed. */
  twoPixel: boolean;
  /**
   * Depthwise 3x3 stride 1 with 'same' padding (or stride 2 whose padded plane holds the
   * input) whose every channel has a fast requantisation and whose padded plane fits the line
   * kernel's stack buffer.
   */
  line?: boolean;
  /** As `line`, with an output plane along x of at most SMALL_MAX outputs. */
  small?: boolean;
  /** No weight is -128 (the packed 8-channel kernel's halves then cannot overflow). */
  packable?: boolean;
}

/** Largest padded plane (bytes) the depthwise line kernel gathers on the stack. */
export const LINE_PLANE_MAX = 4096;
/**
 * Largest stack buffer (bytes) for four channels' interleaved planes (one word copied per input
 * pixel): VWW's 48x48 layer (4 × 2,500 B) takes it, against 4.5 cycles more per output for a
 * single plane gathered byte by byte.
 */
export const LINE_LANES4_MAX = 10240;
/**
 * Largest stack (bytes) of one plane's accumulators requantised in one call rather than line by
 * line (the routine's set-up, ~50 cycles, once per plane): up to 24x24, whose buffers together
 * stay under the 48x48 layer's.
 */
export const LINE_BATCH_MAX = 2304;
/**
 * Shortest line the line kernel takes: each sweep pays a fixed set-up and two positions of the
 * window entering the line, which on 6x6 planes cost more than the tap kernel saves (12.4
 * against 9.5 cycles/MAC on VWW; 10.0 against 10.2 at 12x12, 8.3 against 13.4 at 48x48).
 */
export const LINE_MIN = 12;
/**
 * Shortest line of a plane requantised in one call (at least 3, the routine's entry and end):
 * VWW's 3x3 plane 8.84 against 9.38 cycles/MAC for the tap kernel.
 */
export const LINE_MIN_BATCHED = 3;
/**
 * Shortest line of the stride-2 line kernel (at least 2: its loop takes two outputs per pass):
 * on VWW's 6x6 outputs it measured 8.18 against 10.22 cycles/MAC for the tap kernel, on 3x3
 * 10.11 against 9.74 (the set-up per channel and line over 9 outputs).
 */
export const LINE_MIN_S2 = 6;
/**
 * Most outputs of a plane the unrolled small kernel takes (its code grows with them: about 0.5
 * KB for a 3x3 plane): VWW's 3x3 plane 6.08 cycles/MAC against 8.80 for the line kernel, its
 * 6x6 -> 3x3 layer 6.66 against 9.59 for the tap kernel.
 */
export const SMALL_MAX = 9;

/**
 * The packed stride-2 sweep's constants for one channel (weights wq[3·across + along]), or
 * undefined when its outer columns are too large: an even position's three bytes (0..255)
 * times each across row's (along 0, along 2) weights sum to L and H, which the sweep reads as
 * the two halves of L + H·2^16 + k; k's offsets (L's from 1, so that k is never 0, the
 * unpacked sweep's mark) put both in [0, 2^16). Every output gets one L and one H, so its
 * accumulator carries `offset`, which its bias takes back.
 */
export function packedStride2(wq: ArrayLike<number>): { k: number; offset: number } | undefined {
  const rows = [0, 3, 6];
  const span = (along: number) => rows.reduce((t, a) => t + Math.abs(wq[a + along]!), 0);
  const low = (along: number) => rows.reduce((t, a) => t + Math.min(wq[a + along]!, 0), 0);
  if (255 * span(0) + 1 > 0xffff || 255 * span(2) > 0xffff) return undefined;
  const oL = 1 - 255 * low(0);
  const oH = -255 * low(2);
  return { k: oH * 65536 + oL, offset: oL + oH };
}

/** Whether the line kernel requantises the plane in one call (see LINE_BATCH_MAX). */
function lineBatched(lp: ReturnType<typeof linePlan>): boolean {
  return lp.alongX && 4 * lp.n * lp.lines <= LINE_BATCH_MAX;
}

/**
 * Picks the specialised kernel from a layer's geometry (as CMSIS-NN's arm_convolve_wrapper_s8
 * does); every kernel computes the same values, bit for bit.
 */
export function chooseConvKernel(c: ConvGeometry): ConvKernel {
  const taps = c.kH * c.kW;
  const direct = taps === 1 && c.sH === 1 && c.sW === 1 && c.perOut % 2 === 0;
  if (c.twoPixel && c.packable && c.outC % 8 === 0 && c.kind !== 'depthwiseConv2d') {
    if (c.kind === 'conv2d') return direct ? 'gemm-direct-8p' : 'gemm-patch-8p';
    if (direct) return 'gemm-direct-8p';
  }
  if (c.twoPixel && c.outC % 4 === 0 && c.kind === 'conv2d' && c.rows >= 2) {
    if (!direct) return 'gemm-patch-2px';
    if (c.perOut % 4 === 0) return 'gemm-direct-2px';
  }
  if (c.outC % 4 === 0 && c.kind === 'conv2d') return direct ? 'gemm-direct' : 'gemm-patch';
  if (c.outC % 4 === 0 && c.kind === 'fullyConnected' && direct) return 'gemm-direct';
  if (c.kind === 'depthwiseConv2d' && c.twoPixel && c.small) return 'depthwise-3x3-small';
  if (c.kind === 'depthwiseConv2d' && c.twoPixel && c.line)
    return c.sH === 2 ? 'depthwise-3x3-line-s2' : 'depthwise-3x3-line';
  if (c.kind === 'depthwiseConv2d' && c.mult === 1)
    return c.outC % 4 === 0 && taps <= 63 ? 'depthwise-4ch' : 'depthwise-taps';
  return 'loop';
}

/**
 * The depthwise line kernel's plane for an H x W output: lines run along the longer side (x
 * when W >= H); X bytes per position (the input rows the lines read: lines + 2 at stride 1,
 * 2·lines + 1 at stride 2), n outputs per line, and the plane's bytes (n + 2 positions at
 * stride 1, 2n + 1 at stride 2).
 */
export function linePlan(H: number, W: number, stride: 1 | 2 = 1) {
  const alongX = W >= H;
  const n = alongX ? W : H;
  const lines = alongX ? H : W;
  const X = stride * (lines - 1) + 3;
  return { alongX, n, lines, X, span: X * (stride * (n - 1) + 3) };
}

export function emitConv(ctx: EmitContext): LayerCode {
  const { g, op, fn, x, y, qx, qy, zu, lo, hi, clampLo, clampHi } = ctx;
  const a = op.attrs;
  const consts: string[] = [];
  const helpers: Record<string, string> = {};
  let body = '';
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
  const macs = outH * outW * outC * perOut;
  // Weights rearranged as [outC][taps(, inC)] and the folded bias: b − zu·Σw.
  const wr = new Int8Array(outC * perOut);
  const bFold = new Int32Array(outC);
  const bRaw = new Int32Array(outC);
  const wSum = new Int32Array(outC);
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
    wSum[o] = s;
    // Every tap reads an offset-binary value in [0, 255] (padding reads zu).
    accMin.push(bFold[o]! + 255 * neg);
    accMax.push(bFold[o]! + 255 * pos);
  }
  const wScales = wt.quant?.scale ?? [1];
  // Each output channel's requantisation scale (input × weight / output).
  const scales = Array.from(
    { length: outC },
    (_, c) => (qx.scale * (wScales.length === 1 ? wScales[0]! : wScales[c]!)) / qy.scale,
  );
  const plan = planRequant(scales, qy.zp, lo, hi, accMin, accMax);
  // The line kernels' plane (stride 1 or 2; H x W the output).
  const ls: 1 | 2 = sH === 2 ? 2 : 1;
  const lp = linePlan(outH, outW, ls);
  // The plane's extent along x and y (positions, padding included) must hold the whole input.
  const [planeX, planeY] = lp.alongX ? [lp.span / lp.X, lp.X] : [lp.X, lp.span / lp.X];
  const planeHolds =
    ls === 1
      ? padT === 1 && padL === 1 && outH === inH && outW === inW
      : sW === 2 && inW + padL <= planeX && inH + padT <= planeY;
  const longLines =
    lp.n >= (ls === 2 ? LINE_MIN_S2 : lineBatched(lp) ? LINE_MIN_BATCHED : LINE_MIN);
  const dw3 =
    op.kind === 'depthwiseConv2d' &&
    mult === 1 &&
    kH === 3 &&
    kW === 3 &&
    (sH === 1 || sH === 2) &&
    sW === sH &&
    dH === 1 &&
    dW === 1 &&
    planeHolds &&
    plan.path !== 'general' &&
    !plan.slow &&
    lp.span <= LINE_PLANE_MAX;
  const kernel = chooseConvKernel({
    kind: op.kind as ConvGeometry['kind'],
    kH,
    kW,
    sH,
    sW,
    outC,
    mult,
    perOut,
    rows: outH * outW,
    twoPixel: ctx.kernels === 'speed',
    packable: !w.includes(-128),
    line: dw3 && longLines,
    small: dw3 && lp.alongX && lp.n <= 3 && lp.n * lp.lines <= SMALL_MAX,
  });
  const packed = kernel === 'gemm-direct-8p' || kernel === 'gemm-patch-8p';
  const pairs = kernel === 'gemm-direct-2px' || kernel === 'gemm-patch-2px';
  const direct =
    kernel === 'gemm-direct' || kernel === 'gemm-direct-2px' || kernel === 'gemm-direct-8p';
  const gemm = direct || kernel === 'gemm-patch' || kernel === 'gemm-patch-2px' || packed;
  const depthwise4 = kernel === 'depthwise-4ch';
  // Layers outside the shared drivers (odd channel counts, depth multipliers) are small:
  // they requantise with the general routine.
  const small = kernel === 'depthwise-3x3-small';
  const line = kernel === 'depthwise-3x3-line' || kernel === 'depthwise-3x3-line-s2' || small;
  const shared = gemm || depthwise4 || line;
  const slow = shared ? (plan.slow?.flatMap((v, c) => (v ? [c] : [])) ?? []) : [];
  const fast = shared && plan.path !== 'general';
  const requant = fast ? plan.path : 'general';
  // The packed kernel multiplies centred inputs (u - 128): its bias folds zu - 128 instead.
  const bEmit = packed ? bRaw.map((v, o) => v - (zu - 128) * wSum[o]!) : bFold;
  consts.push(`TP_CONST int32_t ${fn}_b[${outC}] = {\n${cArray(bEmit)}\n};`);
  if (!fast || slow.length)
    consts.push(
      `TP_CONST int32_t ${fn}_m[${outC}] = {\n${cArray(plan.mult)}\n};`,
      `TP_CONST int8_t ${fn}_s[${outC}] = {\n${cArray(plan.shift)}\n};`,
    );
  if (fast) {
    const tb = plan.table;
    const rows = Array.from(
      { length: outC },
      (_, c) => `{${tb[3 * c]! >>> 0}u, ${tb[3 * c + 1]! >>> 0}u, ${tb[3 * c + 2]}}`,
    );
    consts.push(`TP_CONST tp_rq_t ${fn}_rq[${outC}] = {\n  ${rows.join(',\n  ')}\n};`);
  }
  if (slow.length)
    consts.push(`TP_CONST uint16_t ${fn}_slow[${slow.length}] = {\n${cArray(slow)}\n};`);
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
        sh16: 16 + plan.sh,
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
    consts.push(`TP_CONST tp_layer_t ${fn}_L = {${init}};`);
  };
  if (gemm) {
    // GEMM over pixels: 4 output channels per pass share each loaded input; weights
    // interleaved [outC/4][K][4] (K even, a zero weight pads an odd K) so the inner loop
    // walks them sequentially. A kernel larger than 1x1 first gathers each pixel's patch
    // (padding reads zu) into a small stack buffer: no im2col of the whole image.
    const K = perOut;
    // K padded with zero weights: to even (a zero byte ends the patch), or to a multiple of 4.
    const Kp = pairs ? (K + 3) & ~3 : K + (K & 1);
    if (packed) {
      helpers.tp_dot8p = DOT8P_C;
      // Words w[o][k] + w[o + 1][k]·2^16, laid out [outC/8][Kp/2][4 pairs][k, k + 1].
      const wp = new Int32Array((outC * Kp) / 2);
      let i = 0;
      for (let g8 = 0; g8 < outC; g8 += 8)
        for (let k2 = 0; k2 < Kp; k2 += 2)
          for (let p = 0; p < 8; p += 2)
            for (const k of [k2, k2 + 1]) {
              const at = (o: number) => (k < K ? wr[o * K + k]! : 0);
              wp[i++] = at(g8 + p) + at(g8 + p + 1) * 65536;
            }
      consts.push(`TP_CONST int32_t ${fn}_wi[${wp.length}] = {\n${cArray(wp)}\n};`);
    } else {
      // int16 for the two-pixel kernel (one SXTH/ASRS per weight), int8 otherwise.
      const wi = pairs ? new Int16Array(outC * Kp) : new Int8Array(outC * Kp);
      for (let o = 0; o < outC; o++)
        for (let k = 0; k < K; k++) wi[((o >> 2) * Kp + k) * 4 + (o & 3)] = wr[o * K + k]!;
      consts.push(
        `TP_CONST int${pairs ? 16 : 8}_t ${fn}_wi[${wi.length}] __attribute__((aligned(4))) = {\n${cArray(wi)}\n};`,
      );
    }
    if (!direct) {
      // The patch of a window inside the image, copied unrolled (tap offsets are constants).
      // (The 2-pixel kernel interleaves two patches: every other byte.)
      const copies = Array.from({ length: kH * kW * inC }, (_, k) => {
        return `d[${pairs ? 2 * k : k}] = s[${tapOffset(Math.floor(k / inC)) + (k % inC)}];`;
      });
      consts.push(
        `static void ${fn}_gather(const uint8_t *s, uint8_t *d) {
  ${copies.join(' ')}
}`,
      );
    }
    descriptor({
      w: pairs || packed ? `(const int8_t *)${fn}_wi` : `${fn}_wi`,
      K: Kp,
      ...(packed && { dot8: 'tp_dot8p' }),
      ...(!direct && { gather: `${fn}_gather` }),
    });
    const rows = op.kind === 'fullyConnected' ? outH : outH * outW;
    body = direct
      ? `  tp_conv_direct${pairs ? '2' : ''}(&${fn}_L, in, out, ${rows});\n`
      : `  tp_conv_patch${pairs ? '2' : ''}(&${fn}_L, in, out);\n`;
  } else if (line) {
    // Channel blocks {w[5] (int16 pairs), b, M, rnd, t}: weight q = 3·across + along, where
    // "along" is the direction of the line the kernel sweeps (the longer side).
    const blocks: number[] = [];
    const extra: number[] = [];
    const tb = plan.table;
    // Each channel's weights in plane order, wq[3·across + along].
    const wqs = Array.from({ length: outC }, (_, o) =>
      Array.from({ length: 9 }, (_, q) => {
        const across = Math.floor(q / 3);
        const along = q % 3;
        const [ky, kx] = lp.alongX ? [across, along] : [along, across];
        return wr[o * 9 + ky * 3 + kx]!;
      }),
    );
    // The packed stride-2 sweep (kernels.ts) for the channels whose outer columns allow it;
    // their accumulators carry an offset that their bias takes back (the shifted form's term
    // depends on the accumulator itself, so it is fitted to that bias).
    const packs = wqs.map((wq) =>
      kernel === 'depthwise-3x3-line-s2' ? packedStride2(wq) : undefined,
    );
    const bKernel = bFold.map((b, o) => b - (packs[o]?.offset ?? 0));
    const one = planOneMul(scales, qy.zp, lo, hi, accMin, accMax);
    const shifted = planOneMulShift(scales, qy.zp, lo, hi, accMin, accMax, bKernel);
    const kinds: DwRq[] = [];
    const int32 = (v: number) => v >= -(2 ** 31) && v < 2 ** 31;
    // Four channels' planes per gather (one word load per pixel) when they fit the buffer.
    const lanes: 1 | 4 = inC % 4 === 0 && 4 * lp.span <= LINE_LANES4_MAX ? 4 : 1;
    const e = lanes === 4 ? 4 : 1;
    // The small kernel: from a gathered plane (stride 1), or reading the input itself (stride
    // 2: each pixel loaded once for the four outputs it may feed; a channel per lane).
    const direct = small && ls === 2;
    const sm = small
      ? depthwiseSmall({
          stride: ls,
          n: lp.n,
          lines: lp.lines,
          pb: direct ? inC : e,
          direct,
          inH,
          inW,
          padT,
          padL,
        })
      : undefined;
    // Per channel, the small kernel's corrections: zu times the padded taps' weights.
    const corr: number[][] = [];
    for (let o = 0; o < outC; o++) {
      const wq = wqs[o]!;
      const pk = packs[o];
      const pair = (lo: number, hi: number) => ((lo & 0xffff) | (hi << 16)) >>> 0;
      // Stride 1: int16 pairs in q order. Stride 2: the pairs (along 0, along 2) of each
      // across row, then the middle column's weights whole (an odd position's byte is
      // multiplied in place); the third of those follows the block (extra[]).
      // (packed: each row's pair as one int32, w2·2^16 + w0)
      if (ls === 1) for (let i = 0; i < 5; i++) blocks.push(pair(wq[2 * i]!, wq[2 * i + 1] ?? 0));
      else
        blocks.push(
          ...[0, 3, 6].map((a) =>
            pk ? (wq[a + 2]! * 65536 + wq[a]!) >>> 0 : pair(wq[a]!, wq[a + 2]!),
          ),
          wq[1]! >>> 0,
          wq[4]! >>> 0,
        );
      extra.push(wq[7]!);
      if (sm) corr.push(sm.border.map((qs) => zu * qs.reduce((t, q) => t + wq[q]!, 0)));
      // The kernel's accumulators leave out the bias: rq1 folds it into its constants.
      const e = one[o];
      const b = bKernel[o]!;
      if (e && int32(e.t - b)) {
        // (t beyond the accumulators' bound: the upper clamp is never reached)
        kinds.push(e.t > accMax[o]! ? 'rq1n' : 'rq1');
        blocks.push(-b, e.m >>> 0, (e.r + Math.imul(b, e.m)) >>> 0, e.t - b, e.n);
      } else if (shifted[o]) {
        // else one multiply and a shifted term (two cycles more), before the 2-multiply form
        const f = shifted[o]!;
        kinds.push(f.sub ? 'rq3s' : 'rq3a');
        blocks.push(-b, f.m, f.r >>> 0, f.t - b, f.k);
      } else {
        kinds.push(tb[3 * o + 2]! <= 65536 ? 'rq2' : 'rq4');
        blocks.push(b, tb[3 * o]! >>> 0, tb[3 * o + 1]! >>> 0, tb[3 * o + 2]!, 0);
      }
    }
    // Stride 2: whether every line's last position (2n) is padding, its contribution the
    // constant hEnd (packed channels: zu times the along-2 weights, plus the high offset).
    const [alongIn, alongPad] = lp.alongX ? [inW, padL] : [inH, padT];
    const padEnd = ls === 2 && 2 * lp.n - alongPad >= alongIn;
    const hEnd = (o: number) => {
      const pk = padEnd ? packs[o] : undefined;
      if (!pk) return 0;
      const wq = wqs[o]!;
      return zu * (wq[2]! + wq[5]! + wq[8]!) + Math.floor(pk.k / 65536);
    };
    const lineFn = sm ?? depthwiseLine(lanes, ls, lp.n, padEnd);
    Object.assign(helpers, depthwiseLineHelpers(new Set(kinds), lineFn, !direct && lanes === 4));
    const batch = lineBatched(lp);
    const rows = Array.from({ length: outC }, (_, o) => {
      const [b, m, rnd, t, n] = blocks.slice(10 * o + 5, 10 * o + 10);
      const c = `{{${blocks.slice(10 * o, 10 * o + 5).join('u, ')}u}, ${b}, ${m}u, ${rnd}u, ${t}, ${n}, tp_dw${kinds[o]}}`;
      const c2 = ls === 1 ? c : `{${c}, ${extra[o]}, ${packs[o]?.k ?? 0}u, ${hEnd(o)}}`;
      return sm?.border.length ? `{${c2}, {${corr[o]!.join(', ')}}}` : c2;
    });
    const blockType = ls === 1 ? 'tp_dwc_t' : 'tp_dwc2_t';
    // The small kernel's blocks end with their corrections.
    const chType = sm?.border.length ? `${fn}_cht` : blockType;
    if (chType !== blockType)
      consts.push(
        `typedef struct { ${blockType} c; int32_t corr[${sm!.border.length}]; } ${chType};`,
        `_Static_assert(sizeof(${chType}) == ${sm!.chBytes}, "tp_dwsmall's channel step");`,
      );
    consts.push(`TP_CONST ${chType} ${fn}_ch[${outC}] = {\n  ${rows.join(',\n  ')}\n};`);
    const D = {
      ch: `(const tp_dwc_t *)${fn}_ch`,
      chBytes: `sizeof(${chType})`,
      line: lineFn.name,
      // The small kernel's plane: the input's pixels in order, one row of inH·inW (one gather
      // run, no padding).
      ...(sm
        ? { inH: 1, inW: inH * inW, C: inC, span: inH * inW, sx: 1, sy: inH * inW, org: 0 }
        : {
            inH,
            inW,
            C: inC,
            span: lp.span,
            sx: lp.alongX ? lp.X : 1,
            sy: lp.alongX ? 1 : lp.X,
            org: lp.alongX ? padL * lp.X + padT : padT * lp.X + padL,
          }),
      // X, outStride, the outputs per requantisation call, lohish, lines, lineStride, the
      // sweep's loop bytes (to position n, stride 2: 2n; the last positions follow), its entry
      // phase (stride 1), 1 for a call per line, and where the sweep pointer stops after the
      // plane's last line, from its start (0: a call per line), the interleaved channels one
      // call runs (four lanes: planes interleaved, every plane step four bytes). A plane
      // along x whose accumulators fit LINE_BATCH_MAX is requantised in one call (its outputs
      // lie outC apart across lines too).
      a: `{${[
        e * lp.X,
        lp.alongX ? outC : outW * outC,
        batch ? lp.n * lp.lines : lp.n,
        (clampLo | (clampHi << 8) | ((16 + plan.sh) << 16)) >>> 0,
        lp.lines,
        batch ? 0 : lp.alongX ? outW * outC : outC,
        e * lp.X * ls * lp.n,
        ls === 1 ? (3 - (lp.n % 3)) % 3 : 0,
        batch ? 0 : 1,
        batch ? (lp.lines - 1) * e * ls + (ls === 1 ? lp.n + 1 : 2 * lp.n) * e * lp.X : 0,
        direct ? inC : lanes,
      ].join(', ')}}`,
      zu,
      lanes,
      fill: 'tp_dwfill',
      ...(!direct && lanes === 4 && { gather4: 'tp_dwgather4' }),
    };
    const init = Object.entries(D)
      .map(([k, v]) => `.${k} = ${v}`)
      .join(', ');
    consts.push(`TP_CONST tp_dwl_t ${fn}_D = {${init}};`);
    // (direct: one call for all channels, on the input)
    body = direct
      ? `  ${fn}_D.line(in, ${fn}_D.ch, out + ${(outH * outW - 1) * outC}, ${fn}_D.a);\n`
      : `  tp_dwplane(&${fn}_D, in, out);\n`;
  } else if (depthwise4) {
    // Per output pixel, all channel groups through the tp_dwrow kernel; weights
    // interleaved int8 [C/4][taps][4]. Interior pixels use constant tap offsets; border
    // pixels point padding taps at a row of the input zero point (no per-tap checks).
    const wi = new Int8Array(outC * taps);
    for (let o = 0; o < outC; o++)
      for (let t = 0; t < taps; t++) wi[((o >> 2) * taps + t) * 4 + (o & 3)] = wr[o * taps + t]!;
    const ofs = Array.from({ length: taps }, (_, t) => tapOffset(t));
    helpers[`tp_dwrow_${taps}`] = depthwiseRowFunction(taps);
    consts.push(
      `TP_CONST int8_t ${fn}_wi[${wi.length}] __attribute__((aligned(4))) = {\n${cArray(wi)}\n};`,
      `TP_CONST uint8_t ${fn}_pad[${inC}] __attribute__((aligned(4))) = {\n${cArray(new Uint8Array(inC).fill(zu))}\n};`,
      `TP_CONST int32_t ${fn}_ofs[${taps}] = {\n${cArray(ofs)}\n};`,
    );
    descriptor({
      w: `${fn}_wi`,
      K: taps,
      ofs: `${fn}_ofs`,
      pad: `${fn}_pad`,
      dwrow: `tp_dwrow_${taps}`,
    });
    body = `  tp_depthwise(&${fn}_L, in, out);\n`;
  } else if (kernel === 'depthwise-taps') {
    // Per output pixel: one pointer per tap (the input pixel, or a row of zu for padding,
    // so borders need no per-tap checks), then all channels with the taps unrolled and the
    // weights pre-arranged as int32 [C][taps] (LDR with an immediate offset).
    const w32 = Int32Array.from(wr);
    consts.push(
      `TP_CONST int32_t ${fn}_w32[${w32.length}] = {\n${cArray(w32)}\n};`,
      `TP_CONST uint8_t ${fn}_pad[${inC}] = {\n${cArray(new Uint8Array(inC).fill(zu))}\n};`,
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
      `TP_CONST int8_t ${fn}_w[${wr.length}] = {\n${cArray(wr)}\n};`,
      `TP_CONST int32_t ${fn}_braw[${outC}] = {\n${cArray(bRaw)}\n};`,
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
  return { consts, body, macs, kernel, requant, helpers };
}
