// Gradient kernels the tfjs wasm backend lacks, composed from wasm's own fast kernels.
//
// Kernels run below the engine: they receive TensorInfos and must call other kernels' kernelFunc
// directly (not tf ops), disposing every intermediate through the backend themselves.
import * as tf from '@tensorflow/tfjs';
import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs';
import { heapMacc, heapOffset } from './simd.js';

/** The parts of the wasm backend our heap-level kernels use. */
interface HeapBackend extends KernelBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/**
 * [rows, cols] → [cols, rows] directly on the wasm heap. The wasm Transpose kernel and
 * BatchMatMul with transposeA are an order of magnitude slower than a plain XNNPACK matmul, so
 * gradient matmuls transpose their operand here first.
 */
function heapTranspose(
  backend: HeapBackend,
  x: TensorInfo,
  rows: number,
  cols: number,
): TensorInfo {
  const out = backend.makeOutput([cols, rows], 'float32');
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B)
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(r0 + B, rows);
      const c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++)
        for (let c = c0; c < c1; c++) dst[c * rows + r] = src[r * cols + c]!;
    }
  return out;
}

type ConvPad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

/** Runs kernels of one backend and frees every intermediate except the one kept as result. */
class KernelScope {
  private readonly temps: TensorInfo[] = [];
  constructor(
    private readonly backend: KernelBackend,
    private readonly backendName: string,
  ) {}

  run(name: string, inputs: NamedTensorInfoMap, attrs: object = {}): TensorInfo {
    const kernel = tf.getKernel(name, this.backendName);
    if (!kernel) throw new Error(`kernel ${name} is not registered for ${this.backendName}`);
    const out = kernel.kernelFunc({
      inputs,
      backend: this.backend,
      attrs: attrs as unknown as NamedAttrMap,
    });
    const info = Array.isArray(out) ? out[0]! : out;
    this.temps.push(info);
    return info;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }

  pad(x: TensorInfo, paddings: [number, number][]): TensorInfo {
    if (paddings.every(([a, b]) => a === 0 && b === 0)) return x;
    return this.run('PadV2', { x }, { paddings, constantValue: 0 });
  }

  stridedSlice(x: TensorInfo, begin: number[], end: number[], strides: number[]): TensorInfo {
    return this.run(
      'StridedSlice',
      { x },
      {
        begin,
        end,
        strides,
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      },
    );
  }

  /** Registers a TensorInfo made outside run() so finish() frees it too. */
  track(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }

  /** Frees every intermediate except `result`, which the engine takes over. */
  finish(result: TensorInfo): TensorInfo {
    for (const t of this.temps) if (t !== result) this.backend.disposeData(t.dataId);
    return result;
  }
}

function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  depthwise: boolean,
): tf.backend_util.Conv2DInfo {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC') throw new Error(`only NHWC is supported, got ${dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    (attrs.dilations as [number, number] | undefined) ?? [1, 1],
    attrs.pad as ConvPad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

/**
 * dW of a conv2d: colsᵀ · dy as one plain XNNPACK matmul, where colsᵀ [kH·kW·inC, N·outH·outW]
 * (the transposed im2col) is written directly on the wasm heap. The composed alternative (strided
 * slices, concat, transposeA matmul) runs an order of magnitude slower on the wasm backend.
 */
function conv2DBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs!;
  const filterShape = attrs.filterShape as number[];
  const backend = args.backend as HeapBackend;
  const s = new KernelScope(backend, 'wasm');
  const info = convInfo(x.shape, filterShape, attrs, false);
  const [kh, kw, cin, cout] = filterShape as [number, number, number, number];
  const { batchSize: n, inHeight: h, inWidth: w, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const rows = n * ho * wo;
  const k = kh * kw * cin;
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ho === h && wo === w) {
    // Pointwise: colsᵀ is xᵀ, which the wasm Transpose kernel writes far faster than a JS loop.
    const xT = s.run('Transpose', { x: s.reshape(x, [rows, cin]) }, { perm: [1, 0] });
    const a = s.reshape(xT, [1, cin, rows]);
    const bm = s.reshape(dy, [1, rows, cout]);
    const prod = s.run('BatchMatMul', { a, b: bm }, { transposeA: false, transposeB: false });
    return s.finish(s.reshape(prod, filterShape));
  }
  const colsT = s.track(backend.makeOutput([k, rows], 'float32'));
  const dst = backend.typedArrayFromHeap(colsT);
  const src = backend.typedArrayFromHeap(x);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < cin; c++) {
        let o = ((i * kw + j) * cin + c) * rows;
        for (let b = 0; b < n; b++)
          for (let oy = 0; oy < ho; oy++) {
            const iy = oy * sh - top + i * dh;
            if (iy < 0 || iy >= h) {
              dst.fill(0, o, o + wo);
              o += wo;
              continue;
            }
            const rowBase = (b * h + iy) * w;
            for (let ox = 0; ox < wo; ox++) {
              const ix = ox * sw - left + j * dw;
              dst[o++] = ix >= 0 && ix < w ? src[(rowBase + ix) * cin + c]! : 0;
            }
          }
      }
  const a = s.reshape(colsT, [1, k, rows]);
  const bm = s.reshape(dy, [1, rows, cout]);
  const prod = s.run('BatchMatMul', { a, b: bm }, { transposeA: false, transposeB: false });
  return s.finish(s.reshape(prod, filterShape));
}

/**
 * dW of a depthwise conv, computed in place on the wasm heap: a direct loop is far cheaper than
 * composing strided slices, broadcasts and reductions (which the wasm backend runs slowly).
 */
function depthwiseBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs!;
  const filterShape = attrs.filterShape as number[];
  const backend = args.backend as HeapBackend;
  const info = convInfo(x.shape, filterShape, attrs, true);
  const [kh, kw, c, m] = filterShape as [number, number, number, number];
  const { batchSize: n, inHeight: h, inWidth: w, outHeight: ho, outWidth: wo } = info;
  const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const macc = m === 1 && c % 4 === 0 ? heapMacc(backend) : undefined;
  if (macc) {
    // Per tap, one SIMD call sweeps the valid (batch, oy, ox) box; acc is the output itself.
    const out = backend.makeOutput(filterShape, 'float32');
    backend.typedArrayFromHeap(out).fill(0);
    const [xo, dyo, oo] = [
      heapOffset(backend, x),
      heapOffset(backend, dy),
      heapOffset(backend, out),
    ];
    const range = (size: number, outSize: number, stride: number, shift: number) => {
      const lo = Math.max(0, Math.ceil(-shift / stride));
      const hi = Math.min(outSize - 1, Math.floor((size - 1 - shift) / stride));
      return [lo, hi - lo + 1] as const;
    };
    const f = 4;
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) {
        const [oy0, ny] = range(h, ho, sh, i * dh - top);
        const [ox0, nx] = range(w, wo, sw, j * dw - left);
        if (ny <= 0 || nx <= 0) continue;
        const iy0 = oy0 * sh - top + i * dh;
        const ix0 = ox0 * sw - left + j * dw;
        macc(
          oo + (i * kw + j) * c * f,
          xo + (iy0 * w + ix0) * c * f,
          dyo + (oy0 * wo + ox0) * c * f,
          c / 4,
          nx,
          sw * c * f,
          c * f,
          ny,
          sh * w * c * f,
          wo * c * f,
          n,
          h * w * c * f,
          ho * wo * c * f,
        );
      }
    return out;
  }
  const cm = c * m;
  const acc = new Float64Array(kh * kw * cm);
  // Views are taken after every allocation (the heap may grow and detach older views).
  const out = backend.makeOutput(filterShape, 'float32');
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < ho; oy++)
      for (let ox = 0; ox < wo; ox++) {
        const dyBase = ((b * ho + oy) * wo + ox) * cm;
        for (let i = 0; i < kh; i++) {
          const iy = oy * sh - top + i * dh;
          if (iy < 0 || iy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = ox * sw - left + j * dw;
            if (ix < 0 || ix >= w) continue;
            const xBase = ((b * h + iy) * w + ix) * c;
            const aBase = (i * kw + j) * cm;
            if (m === 1) {
              for (let k = 0; k < c; k++) acc[aBase + k]! += xv[xBase + k]! * dyv[dyBase + k]!;
            } else {
              for (let k = 0; k < c; k++) {
                const xk = xv[xBase + k]!;
                for (let q = 0; q < m; q++)
                  acc[aBase + k * m + q]! += xk * dyv[dyBase + k * m + q]!;
              }
            }
          }
        }
      }
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

/**
 * dx of a depthwise conv: the transposed convolution, written as a stride-1 depthwise conv of the
 * zero-dilated, fully padded dy with the spatially flipped filter.
 */
function depthwiseBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs!;
  const inputShape = attrs.inputShape as [number, number, number, number];
  const [kh, kw, c, m] = filter.shape as [number, number, number, number];
  const s = new KernelScope(args.backend, 'wasm');
  const info = convInfo(inputShape, filter.shape, attrs, true);
  const { strideHeight: sh, strideWidth: sw, padInfo: p } = info;
  const [n, ho, wo, cm] = dy.shape as [number, number, number, number];
  let d = dy;
  if (sh > 1 || sw > 1) {
    // Interleave zeros: [N,Ho,1,Wo,1,CM] padded to [N,Ho,sh,Wo,sw,CM].
    const six = s.reshape(dy, [n, ho, 1, wo, 1, cm]);
    const padded = s.pad(six, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    d = s.reshape(padded, [n, ho * sh, wo * sw, cm]);
  }
  const fullPad = (inSize: number, effK: number, before: number, have: number) => {
    const b = effK - 1 - before;
    return [b, inSize + effK - 1 - b - have] as const;
  };
  const [pt, pb] = fullPad(info.inHeight, info.effectiveFilterHeight, p.top, d.shape[1]!);
  const [pl, pr] = fullPad(info.inWidth, info.effectiveFilterWidth, p.left, d.shape[2]!);
  if (pt < 0 || pl < 0) throw new Error('depthwise input gradient: padding exceeds the filter');
  // Negative "after" padding: the zero tail of the dilation overshoots; crop it.
  if (pb < 0 || pr < 0)
    d = s.stridedSlice(
      d,
      [0, 0, 0, 0],
      [n, d.shape[1]! + Math.min(pb, 0), d.shape[2]! + Math.min(pr, 0), cm],
      [1, 1, 1, 1],
    );
  d = s.pad(d, [
    [0, 0],
    [pt, Math.max(pb, 0)],
    [pl, Math.max(pr, 0)],
    [0, 0],
  ]);
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
  const f = s.reshape(flipped, [kh, kw, c * m, 1]);
  const conv = s.run(
    'DepthwiseConv2dNative',
    { x: d, filter: f },
    {
      strides: [1, 1],
      pad: 'valid',
      dilations: [info.dilationHeight, info.dilationWidth],
      dataFormat: 'NHWC',
    },
  );
  if (m === 1) return s.finish(conv);
  const split = s.reshape(conv, [n, info.inHeight, info.inWidth, c, m]);
  return s.finish(s.run('Sum', { x: split }, { axis: [4], keepDims: false }));
}

let wasmConv2DBackpropInput: tf.KernelConfig | undefined;

const wasmKernelsSetUp = new WeakSet<tf.KernelConfig>();

/**
 * Runs one of the wasm backend's own kernels that we replaced. Such a kernel binds its C function
 * in setupFunc, which the engine skips for a kernel unregistered before the backend started: run
 * it once ourselves.
 */
function runWasmKernel(
  config: tf.KernelConfig,
  args: { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap },
): TensorInfo {
  if (!wasmKernelsSetUp.has(config)) {
    config.setupFunc?.(args.backend);
    wasmKernelsSetUp.add(config);
  }
  return config.kernelFunc(args) as TensorInfo;
}

/**
 * dx of a conv2d. A 1x1 stride-1 conv (most of MobileNet's and DS-CNN's) is dy · Wᵀ, one plain
 * matmul; other shapes go to the wasm backend's own kernel.
 */
function conv2DBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs!;
  const inputShape = attrs.inputShape as [number, number, number, number];
  const info = convInfo(inputShape, filter.shape, attrs, false);
  const p = info.padInfo;
  const pointwise =
    info.filterHeight === 1 &&
    info.filterWidth === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    p.top + p.bottom + p.left + p.right === 0;
  if (!pointwise) return runWasmKernel(wasmConv2DBackpropInput!, args);
  const s = new KernelScope(args.backend, 'wasm');
  const [, , cin, cout] = filter.shape as [number, number, number, number];
  const rows = info.batchSize * info.inHeight * info.inWidth;
  const wT = s.track(heapTranspose(args.backend as HeapBackend, filter, cin, cout));
  const a = s.reshape(dy, [1, rows, cout]);
  const b = s.reshape(wT, [1, cout, cin]);
  const prod = s.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  return s.finish(s.reshape(prod, inputShape));
}

let wasmSum: tf.KernelConfig | undefined;

/**
 * Sum over every axis but the last (bias and BatchNorm gradients, batch statistics): one SIMD
 * sweep accumulating rows into the output. The wasm backend's own Sum transposes the reduced
 * axes inward first, several times slower. Other reductions go to the wasm kernel.
 */
function sumKernel(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  const backend = args.backend as HeapBackend;
  const rank = x.shape.length;
  const axes = tf.util
    .parseAxisParam(args.attrs!.axis as number | number[], x.shape)
    .sort((a, b) => a - b);
  const c = x.shape[rank - 1] ?? 1;
  const leading = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  const macc = leading && x.dtype === 'float32' && c % 4 === 0 ? heapMacc(backend) : undefined;
  if (!macc) return runWasmKernel(wasmSum!, args);
  const rows = tf.util.sizeFromShape(x.shape) / c;
  const shape = args.attrs!.keepDims ? [...new Array<number>(rank - 1).fill(1), c] : [c];
  const ones = backend.makeOutput([c], 'float32');
  const out = backend.makeOutput(shape, 'float32');
  backend.typedArrayFromHeap(ones).fill(1);
  backend.typedArrayFromHeap(out).fill(0);
  if (rows > 0) {
    const f = 4;
    macc(
      heapOffset(backend, out),
      heapOffset(backend, ones),
      heapOffset(backend, x),
      c / 4,
      rows,
      0,
      c * f,
      1,
      0,
      0,
      1,
      0,
      0,
    );
  }
  backend.disposeData(ones.dataId);
  return out;
}

let registered = false;

/** Registers our gradient kernels for the wasm backend (idempotent). */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  registered = true;
  wasmConv2DBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  wasmSum = tf.getKernel('Sum', 'wasm');
  const kernels: [string, tf.KernelFunc][] = [
    ['Conv2DBackpropInput', conv2DBackpropInput as tf.KernelFunc],
    ['Conv2DBackpropFilter', conv2DBackpropFilter as tf.KernelFunc],
    ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter as tf.KernelFunc],
    ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput as tf.KernelFunc],
    ['Sum', sumKernel as tf.KernelFunc],
  ];
  for (const [kernelName, kernelFunc] of kernels) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
}
