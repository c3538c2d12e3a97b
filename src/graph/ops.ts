// Which stage supports which op: the one capability table (see docs/adding-an-op.md). Stages
// that dispatch on `op.kind` do so with an exhaustive switch ending in `assertNever` or a
// `Record<OpKind, …>` table, so a new OpKind is a compile error until every stage has decided
// what to do with it; this table records the decision for the stages that may refuse an op.
import type { OpKind } from './types.js';

/** Stages that can refuse an op (shapes, accounting and cut points handle every kind). */
export type Stage =
  /** .tflite reader / writer (src/io/tflite). */
  | 'tfliteRead'
  | 'tfliteWrite'
  /** Keras .h5 reader (src/io/keras). */
  | 'kerasRead'
  /** .onnx reader (src/io/onnx) and the float ONNX export for onnxruntime (src/engine/onnx.ts). */
  | 'onnxRead'
  | 'onnxExport'
  /** tfjs training/inference (src/engine/model.ts). */
  | 'tfjs'
  /** float reference interpreter (src/quant/floatRef.ts). */
  | 'floatRef'
  /** int8 post-training quantiser (src/quant/quantize.ts). */
  | 'quantize'
  /** int8 interpreter (src/quant/interpreter.ts). */
  | 'int8'
  /** C generator for the Cortex-M0/M0+ (src/mcu). */
  | 'mcu';

export const STAGES: readonly Stage[] = [
  'tfliteRead',
  'tfliteWrite',
  'kerasRead',
  'onnxRead',
  'onnxExport',
  'tfjs',
  'floatRef',
  'quantize',
  'int8',
  'mcu',
];

type Support = Record<Stage, boolean>;

/** Every stage except the ones named. */
function allBut(...not: Stage[]): Support {
  return Object.fromEntries(STAGES.map((s) => [s, !not.includes(s)])) as Support;
}

/**
 * The capability table. Float-only ops (batchNorm) are folded before int8; quantize/dequantize
 * exist only at the edges of int8 graphs; standalone relu/relu6 are fused into the op before
 * them by the quantiser, so the MCU never sees them.
 */
export const OP_SUPPORT: Record<OpKind, Support> = {
  conv2d: allBut(),
  depthwiseConv2d: allBut(),
  fullyConnected: allBut(),
  averagePool2d: allBut(),
  maxPool2d: allBut(),
  mean: allBut(),
  reshape: allBut(),
  softmax: allBut(),
  add: allBut(),
  pad: allBut(),
  relu: allBut('mcu'),
  relu6: allBut('mcu'),
  batchNorm: allBut('tfliteRead', 'tfliteWrite', 'quantize', 'int8', 'mcu'),
  quantize: allBut('kerasRead', 'onnxRead', 'onnxExport', 'tfjs', 'floatRef', 'quantize', 'mcu'),
  dequantize: allBut('kerasRead', 'onnxRead', 'onnxExport', 'tfjs', 'floatRef', 'quantize', 'mcu'),
};

export function supports(kind: OpKind, stage: Stage): boolean {
  return OP_SUPPORT[kind][stage];
}

/** The op kinds a stage supports, for error messages. */
export function supportedKinds(stage: Stage): OpKind[] {
  return (Object.keys(OP_SUPPORT) as OpKind[]).filter((k) => OP_SUPPORT[k][stage]);
}

/**
 * Ends an exhaustive switch: the call only type-checks when every case is handled, so a new
 * OpKind (or a deleted case) is a compile error at each dispatch site.
 */
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}
