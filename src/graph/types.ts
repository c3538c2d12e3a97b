// The one model representation that flows through every tinyprune stage.
//
// Conventions (the TFLite ones, so import/export need no transposes):
// - activations are NHWC with a leading batch dimension of 1 in `shape`;
// - CONV_2D filters are [outC, kH, kW, inC]; DEPTHWISE_CONV_2D filters are [1, kH, kW, inC*mult];
//   FULLY_CONNECTED weights are [outUnits, inUnits]; biases are [outC].
// - per-channel quantisation names its axis (0 for conv/FC weights, 3 for depthwise).

export type DType = 'float32' | 'int8' | 'uint8' | 'int16' | 'int32' | 'int64';

export type TensorData =
  Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | BigInt64Array;

export interface Quantization {
  /** One entry for per-tensor quantisation, one per channel of `axis` otherwise. */
  scale: number[];
  zeroPoint: number[];
  axis?: number;
}

export interface Tensor {
  name: string;
  shape: number[];
  dtype: DType;
  /** Present for constants (weights, biases, shape vectors). */
  data?: TensorData;
  quant?: Quantization;
  /**
   * How the source file stored this constant when that differs from `data`: hybrid TFLite
   * weights (int8 with a scale, feeding float ops) are dequantised on import; writers store them
   * as int8 again while `data` is still exactly their dequantisation (i.e. not retrained).
   */
  stored?: { dtype: 'int8' | 'uint8'; data: Int8Array | Uint8Array; quant: Quantization };
}

export type OpKind =
  | 'conv2d'
  | 'depthwiseConv2d'
  | 'fullyConnected'
  | 'averagePool2d'
  | 'maxPool2d'
  /** Mean over the spatial axes (TFLite MEAN with axes [1,2]; Keras GlobalAveragePooling2D). */
  | 'mean'
  | 'reshape'
  | 'softmax'
  | 'add'
  | 'pad'
  | 'relu'
  | 'relu6'
  | 'batchNorm'
  | 'quantize'
  | 'dequantize';

export type Activation = 'none' | 'relu' | 'relu6';
export type Padding = 'same' | 'valid';

export interface OpAttrs {
  /** conv2d, depthwiseConv2d, pools */
  strides?: [number, number];
  padding?: Padding;
  dilations?: [number, number];
  /** pools: [kH, kW] */
  poolSize?: [number, number];
  depthMultiplier?: number;
  /** Fused activation applied to the output (conv, depthwise, FC, add, pools). */
  activation?: Activation;
  /** mean: the reduced axes; keepDims keeps them as size 1. */
  axes?: number[];
  keepDims?: boolean;
  /** reshape: the target shape (also given as the optional second input in TFLite). */
  newShape?: number[];
  /** pad: [[before, after] per dim] */
  paddings?: [number, number][];
  /** softmax */
  beta?: number;
  /** batchNorm */
  epsilon?: number;
  /** fullyConnected: keep the input's leading dims (TFLite keep_num_dims). */
  keepNumDims?: boolean;
}

export interface Op {
  kind: OpKind;
  /** Stable, human-readable name (Keras layer name or `<kind>_<index>`). */
  name: string;
  /**
   * Tensor names. Conventional order:
   * conv2d/depthwiseConv2d/fullyConnected: [input, weights, bias?]
   * batchNorm: [input, gamma, beta, movingMean, movingVariance]
   * add: [a, b]; reshape: [input, shape?]; pad: [input, paddings?]; mean: [input, axes?]
   */
  inputs: string[];
  outputs: string[];
  attrs: OpAttrs;
}

export interface Graph {
  name: string;
  tensors: Map<string, Tensor>;
  /** Topological order. */
  ops: Op[];
  inputs: string[];
  outputs: string[];
  /** Free-form provenance: source file, format, class names… */
  metadata: Record<string, string>;
}

/** A user-facing error: the CLI prints its message on one line and exits with `exitCode`. */
export class TinypruneError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'TinypruneError';
  }
}
