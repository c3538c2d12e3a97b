// The C emitter of each op kind. Keyed by the Graph's OpKind, so a new op kind does not compile
// until it has an entry here: an emitter, or null for kinds the MCU does not run (float-only ops
// that quantisation folds away).
import type { OpKind } from '../../graph/types.js';
import { emitConv } from './conv.js';
import { emitAdd, emitMean, emitPad, emitPool, emitReshape, emitSoftmax } from './simple.js';
import type { Emitter } from './types.js';

export const EMITTERS: Record<OpKind, Emitter | null> = {
  conv2d: emitConv,
  depthwiseConv2d: emitConv,
  fullyConnected: emitConv,
  averagePool2d: emitPool,
  maxPool2d: emitPool,
  mean: emitMean,
  reshape: emitReshape,
  softmax: emitSoftmax,
  add: emitAdd,
  pad: emitPad,
  relu: null,
  relu6: null,
  batchNorm: null,
  quantize: null,
  dequantize: null,
};

/** Op kinds the generator supports, in table order (for error messages). */
export const SUPPORTED_KINDS = (Object.keys(EMITTERS) as OpKind[]).filter((k) => EMITTERS[k]);

export type { EmitContext, Emitter, KernelMode, LayerCode } from './types.js';
export { chooseConvKernel, TWO_PIXEL_KERNELS, type ConvKernel, type ConvGeometry } from './conv.js';
