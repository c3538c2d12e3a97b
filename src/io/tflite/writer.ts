// Graph → TFLite flatbuffer, laid out as the TFLite converter does (schema version 3, buffer 0
// empty, one buffer per tensor, 16-byte aligned constant data, operator codes with the versions
// the converter assigns) so that TFLite and TFLite Micro accept the file. Deterministic: the same
// graph always gives the same bytes.

import { Builder } from 'flatbuffers';
import { dequantizeData } from './reader.js';
import { numElements, uniqueTensorName, validateGraph } from '../../graph/graph.js';
import type { DType, Graph, Op, OpKind, Tensor } from '../../graph/types.js';
import { assertNever } from '../../graph/ops.js';
import { TinypruneError } from '../../graph/types.js';
import {
  ActivationFunction,
  Builtin,
  F,
  FILE_IDENTIFIER,
  Options,
  Padding,
  PLACEHOLDER_FOR_GREATER_OP_CODES,
  SCHEMA_VERSION,
  tensorTypeOfDtype,
} from './schema.js';

export interface WriteTfliteOptions {
  /** Model.description; defaults to "tinyprune". */
  description?: string;
}

/** The TFLite builtin of each op kind (undefined: none; see OP_SUPPORT's tfliteWrite). */
const BUILTIN_OF_KIND: Record<OpKind, number | undefined> = {
  conv2d: Builtin.CONV_2D,
  depthwiseConv2d: Builtin.DEPTHWISE_CONV_2D,
  averagePool2d: Builtin.AVERAGE_POOL_2D,
  maxPool2d: Builtin.MAX_POOL_2D,
  fullyConnected: Builtin.FULLY_CONNECTED,
  reshape: Builtin.RESHAPE,
  softmax: Builtin.SOFTMAX,
  add: Builtin.ADD,
  mean: Builtin.MEAN,
  pad: Builtin.PAD,
  quantize: Builtin.QUANTIZE,
  dequantize: Builtin.DEQUANTIZE,
  relu: Builtin.RELU,
  relu6: Builtin.RELU6,
  batchNorm: undefined,
};

/** An op as written: TFLite tensor indices (-1 = optional input left out). */
interface OpPlan {
  op: Op;
  code: number;
  inputs: number[];
  outputs: number[];
}

/**
 * Serialises a float or int8 graph as a .tflite flatbuffer. Throws TinypruneError for graphs
 * TFLite cannot express (e.g. a batchNorm op: fold BatchNorm into the convolution first).
 */
export function writeTflite(graph: Graph, options: WriteTfliteOptions = {}): Uint8Array {
  validateGraph(graph);
  const fail = (msg: string): never => {
    throw new TinypruneError(`cannot export "${graph.name}" to TFLite: ${msg}`);
  };
  graph.ops.forEach((op, i) => {
    if (BUILTIN_OF_KIND[op.kind] === undefined)
      fail(
        op.kind === 'batchNorm'
          ? `op ${i} (batchNorm "${op.name}") has no TFLite builtin; fold BatchNorm into the preceding convolution first`
          : `op ${i} (${op.kind} "${op.name}") has no TFLite builtin`,
      );
    if (op.outputs.length !== 1) fail(`op ${i} (${op.kind} "${op.name}") must have one output`);
  });

  // Tensors: those the graph uses, in the graph's order, plus constants TFLite needs as inputs
  // (MEAN axes, PAD paddings) where the IR keeps them only as attributes.
  const used = new Set<string>([...graph.inputs, ...graph.outputs]);
  for (const op of graph.ops) for (const n of [...op.inputs, ...op.outputs]) if (n) used.add(n);
  const tensors: Tensor[] = [...graph.tensors.values()]
    .filter((t) => used.has(t.name))
    .map(storedForm);
  const index = new Map<string, number>(tensors.map((t, i) => [t.name, i]));
  const taken = { tensors: new Map(graph.tensors) } as Graph;
  const addConst = (base: string, values: number[], shape: number[]): number => {
    const name = uniqueTensorName(taken, base);
    const t: Tensor = { name, shape, dtype: 'int32', data: Int32Array.from(values) };
    taken.tensors.set(name, t);
    tensors.push(t);
    index.set(name, tensors.length - 1);
    return tensors.length - 1;
  };

  const plans: OpPlan[] = graph.ops.map((op, i) => {
    const inputs = op.inputs.map((n) => (n === '' ? -1 : index.get(n)!));
    const what = `op ${i} (${op.kind} "${op.name}")`;
    if (op.kind === 'mean' && inputs.length < 2) {
      const axes = op.attrs.axes ?? fail(`${what} has no axes`);
      inputs[1] = addConst(`${op.name}/axes`, axes, [axes.length]);
    }
    if (op.kind === 'pad' && inputs.length < 2) {
      const p = op.attrs.paddings ?? fail(`${what} has no paddings`);
      inputs[1] = addConst(`${op.name}/paddings`, p.flat(), [p.length, 2]);
    }
    return {
      op,
      code: BUILTIN_OF_KIND[op.kind]!,
      inputs,
      outputs: op.outputs.map((n) => index.get(n)!),
    };
  });

  tensors.forEach((t) => checkTensor(t, fail));

  // Operator codes in order of first use; each with the highest version its ops need.
  const codes: { code: number; version: number }[] = [];
  const opcodeIndex = plans.map((p) => {
    const version = opVersion(p, tensors);
    let k = codes.findIndex((c) => c.code === p.code);
    if (k < 0) k = codes.push({ code: p.code, version }) - 1;
    else codes[k]!.version = Math.max(codes[k]!.version, version);
    return k;
  });

  const b = new Builder(
    Math.ceil(1024 + 1.25 * tensors.reduce((s, t) => s + (t.data?.byteLength ?? 0), 0)),
  );

  // Buffers: 0 is the empty sentinel; tensor i owns buffer i + 1 (empty for activations).
  const bufferOffsets = [emptyBuffer(b)];
  for (const t of tensors) bufferOffsets.push(t.data ? dataBuffer(b, t) : emptyBuffer(b));

  const tensorOffsets = tensors.map((t, i) => writeTensor(b, t, i + 1));
  const opOffsets = plans.map((p, i) => writeOperator(b, p, opcodeIndex[i]!));

  const sgName = b.createString('main');
  const sgTensors = tableVector(b, tensorOffsets);
  const sgInputs = intVector(
    b,
    graph.inputs.map((n) => index.get(n)!),
  );
  const sgOutputs = intVector(
    b,
    graph.outputs.map((n) => index.get(n)!),
  );
  const sgOps = tableVector(b, opOffsets);
  b.startObject(5);
  b.addFieldOffset(F.SubGraph.tensors, sgTensors, 0);
  b.addFieldOffset(F.SubGraph.inputs, sgInputs, 0);
  b.addFieldOffset(F.SubGraph.outputs, sgOutputs, 0);
  b.addFieldOffset(F.SubGraph.operators, sgOps, 0);
  b.addFieldOffset(F.SubGraph.name, sgName, 0);
  const subgraph = b.endObject();

  const codeOffsets = codes.map(({ code, version }) => {
    b.startObject(4);
    b.addFieldInt8(
      F.OperatorCode.deprecated_builtin_code,
      Math.min(code, PLACEHOLDER_FOR_GREATER_OP_CODES),
      0,
    );
    b.addFieldInt32(F.OperatorCode.version, version, 1);
    b.addFieldInt32(F.OperatorCode.builtin_code, code, 0);
    return b.endObject();
  });

  const opcodesVec = tableVector(b, codeOffsets);
  const subgraphsVec = tableVector(b, [subgraph]);
  const description = b.createString(options.description ?? 'tinyprune');
  const buffersVec = tableVector(b, bufferOffsets);
  b.startObject(5);
  b.addFieldInt32(F.Model.version, SCHEMA_VERSION, 0);
  b.addFieldOffset(F.Model.operator_codes, opcodesVec, 0);
  b.addFieldOffset(F.Model.subgraphs, subgraphsVec, 0);
  b.addFieldOffset(F.Model.description, description, 0);
  b.addFieldOffset(F.Model.buffers, buffersVec, 0);
  const model = b.endObject();
  b.finish(model, FILE_IDENTIFIER);
  return b.asUint8Array().slice();
}

function checkTensor(t: Tensor, fail: (msg: string) => never): void {
  if (t.shape.some((d) => !Number.isInteger(d) || d < 0))
    fail(`tensor "${t.name}" has shape [${t.shape.join(', ')}]`);
  if (t.data && t.data.length !== numElements(t.shape))
    fail(
      `tensor "${t.name}" holds ${t.data.length} values but its shape [${t.shape.join(', ')}] needs ${numElements(t.shape)}`,
    );
  if (t.data && !sameDtype(t.data, t.dtype))
    fail(`tensor "${t.name}" is ${t.dtype} but holds a ${t.data.constructor.name}`);
  const q = t.quant;
  if (q) {
    if (q.scale.length === 0 || q.scale.length !== q.zeroPoint.length)
      fail(`tensor "${t.name}" has ${q.scale.length} scales and ${q.zeroPoint.length} zero points`);
    if (q.axis !== undefined && (q.axis < 0 || q.axis >= t.shape.length))
      fail(`tensor "${t.name}" is quantised along axis ${q.axis} of [${t.shape.join(', ')}]`);
    if (q.scale.length > 1 && t.shape[q.axis ?? 0] !== q.scale.length)
      fail(
        `tensor "${t.name}" has ${q.scale.length} scales for ${t.shape[q.axis ?? 0]} channels along axis ${q.axis ?? 0}`,
      );
  }
}

function sameDtype(data: Tensor['data'], dtype: DType): boolean {
  switch (dtype) {
    case 'float32':
      return data instanceof Float32Array;
    case 'int8':
      return data instanceof Int8Array;
    case 'uint8':
      return data instanceof Uint8Array;
    case 'int16':
      return data instanceof Int16Array;
    case 'int32':
      return data instanceof Int32Array;
    case 'int64':
      return data instanceof BigInt64Array;
  }
}

/** Operator versions as TFLite's op_version.cc assigns them for the types an op sees. */
function opVersion(p: OpPlan, tensors: Tensor[]): number {
  const a = p.op.attrs;
  const type = (i: number) => (i >= 0 ? tensors[i]!.dtype : undefined);
  const input = type(p.inputs[0]!);
  const weights = type(p.inputs[1] ?? -1);
  const output = type(p.outputs[0]!);
  const int8 = input === 'int8';
  const int16 = input === 'int16';
  switch (p.code) {
    case Builtin.CONV_2D:
      if (int16 && weights === 'int8' && output === 'int16') return 4;
      if (int8 && weights === 'int8' && output === 'int8') return 3;
      if (input === 'float32' && weights === 'int8') return 2;
      return 1;
    case Builtin.DEPTHWISE_CONV_2D:
      if (int16 && weights === 'int8' && output === 'int16') return 5;
      if (input === 'float32' && weights === 'int8') return 4;
      if (int8 && weights === 'int8' && output === 'int8') return 3;
      if ((a.dilations?.[0] ?? 1) !== 1 || (a.dilations?.[1] ?? 1) !== 1) return 2;
      return 1;
    case Builtin.FULLY_CONNECTED:
      if (int16 && weights === 'int16' && output === 'int16') return 7;
      if (p.inputs.length === 2 || p.inputs[2] === -1) return 6;
      if (a.keepNumDims) return 5;
      if (int8 && weights === 'int8' && output === 'int8') return 4;
      if (input === 'float32' && weights === 'int8') return 3;
      return 1;
    case Builtin.AVERAGE_POOL_2D:
    case Builtin.MAX_POOL_2D:
      if (int16 && output === 'int16') return 3;
      return int8 ? 2 : 1;
    case Builtin.ADD:
      if (input === 'int64') return 4;
      return int8 ? 2 : 1;
    case Builtin.PAD: {
      const rank = p.inputs[0]! >= 0 ? tensors[p.inputs[0]!]!.shape.length : 0;
      if (rank > 4) return 4;
      if (int16) return 3;
      return int8 ? 2 : 1;
    }
    case Builtin.SOFTMAX:
    case Builtin.MEAN:
    case Builtin.RELU6:
      if (int16) return 3;
      return int8 ? 2 : 1;
    case Builtin.RELU:
      if (int16) return 3;
      return int8 || input === 'uint8' ? 2 : 1;
    case Builtin.QUANTIZE:
      return output === 'int16' ? 2 : 1;
    case Builtin.DEQUANTIZE:
      if (int16) return 3;
      return int8 ? 2 : 1;
    default:
      return 1;
  }
}

function emptyBuffer(b: Builder): number {
  b.startObject(1);
  return b.endObject();
}

function dataBuffer(b: Builder, t: Tensor): number {
  const d = t.data!;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  // The converter aligns buffer data to 16 bytes (schema: force_align 16).
  b.prep(16, bytes.length);
  const data = b.createByteVector(bytes);
  b.startObject(1);
  b.addFieldOffset(F.Buffer.data, data, 0);
  return b.endObject();
}

function intVector(b: Builder, values: number[]): number {
  b.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) b.addInt32(values[i]!);
  return b.endVector();
}

function tableVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
  return b.endVector();
}

function writeTensor(b: Builder, t: Tensor, buffer: number): number {
  const shape = intVector(b, t.shape);
  const name = b.createString(t.name);
  let quant = 0;
  if (t.quant) {
    const q = t.quant;
    b.startVector(4, q.scale.length, 4);
    for (let i = q.scale.length - 1; i >= 0; i--) b.addFloat32(q.scale[i]!);
    const scale = b.endVector();
    b.startVector(8, q.zeroPoint.length, 8);
    for (let i = q.zeroPoint.length - 1; i >= 0; i--) b.addInt64(BigInt(q.zeroPoint[i]!));
    const zeroPoint = b.endVector();
    b.startObject(7);
    b.addFieldOffset(F.QuantizationParameters.scale, scale, 0);
    b.addFieldOffset(F.QuantizationParameters.zero_point, zeroPoint, 0);
    b.addFieldInt32(F.QuantizationParameters.quantized_dimension, q.axis ?? 0, 0);
    quant = b.endObject();
  }
  b.startObject(5);
  b.addFieldOffset(F.Tensor.shape, shape, 0);
  b.addFieldInt8(F.Tensor.type, tensorTypeOfDtype(t.dtype), 0);
  b.addFieldInt32(F.Tensor.buffer, buffer, 0);
  b.addFieldOffset(F.Tensor.name, name, 0);
  if (quant) b.addFieldOffset(F.Tensor.quantization, quant, 0);
  return b.endObject();
}

/** A hybrid weight keeps its int8 storage while its float values are still its dequantisation. */
function storedForm(t: Tensor): Tensor {
  const s = t.stored;
  if (!s || t.dtype !== 'float32' || !(t.data instanceof Float32Array)) return t;
  const expected = dequantizeData(s.data, t.shape, s.quant);
  for (let i = 0; i < expected.length; i++) if (expected[i] !== t.data[i]) return t;
  return { name: t.name, shape: t.shape, dtype: s.dtype, data: s.data, quant: s.quant };
}

function activationCode(op: Op): number {
  switch (op.attrs.activation ?? 'none') {
    case 'none':
      return ActivationFunction.NONE;
    case 'relu':
      return ActivationFunction.RELU;
    case 'relu6':
      return ActivationFunction.RELU6;
  }
}

function paddingCode(op: Op): number {
  return (op.attrs.padding ?? 'valid') === 'same' ? Padding.SAME : Padding.VALID;
}

/** Writes the op's options table; returns [union type, offset]. */
function writeOptions(b: Builder, p: OpPlan): [number, number] {
  const a = p.op.attrs;
  const [sh, sw] = a.strides ?? [1, 1];
  const [dh, dw] = a.dilations ?? [1, 1];
  switch (p.op.kind) {
    case 'conv2d': {
      const f = F.Conv2DOptions;
      b.startObject(6);
      b.addFieldInt8(f.padding, paddingCode(p.op), 0);
      b.addFieldInt32(f.stride_w, sw, 0);
      b.addFieldInt32(f.stride_h, sh, 0);
      b.addFieldInt8(f.fused_activation_function, activationCode(p.op), 0);
      b.addFieldInt32(f.dilation_w_factor, dw, 1);
      b.addFieldInt32(f.dilation_h_factor, dh, 1);
      return [Options.Conv2DOptions, b.endObject()];
    }
    case 'depthwiseConv2d': {
      const f = F.DepthwiseConv2DOptions;
      b.startObject(7);
      b.addFieldInt8(f.padding, paddingCode(p.op), 0);
      b.addFieldInt32(f.stride_w, sw, 0);
      b.addFieldInt32(f.stride_h, sh, 0);
      b.addFieldInt32(f.depth_multiplier, a.depthMultiplier ?? 1, 0);
      b.addFieldInt8(f.fused_activation_function, activationCode(p.op), 0);
      b.addFieldInt32(f.dilation_w_factor, dw, 1);
      b.addFieldInt32(f.dilation_h_factor, dh, 1);
      return [Options.DepthwiseConv2DOptions, b.endObject()];
    }
    case 'averagePool2d':
    case 'maxPool2d': {
      const f = F.Pool2DOptions;
      const [kh, kw] = a.poolSize ?? [1, 1];
      b.startObject(6);
      b.addFieldInt8(f.padding, paddingCode(p.op), 0);
      b.addFieldInt32(f.stride_w, sw, 0);
      b.addFieldInt32(f.stride_h, sh, 0);
      b.addFieldInt32(f.filter_width, kw, 0);
      b.addFieldInt32(f.filter_height, kh, 0);
      b.addFieldInt8(f.fused_activation_function, activationCode(p.op), 0);
      return [Options.Pool2DOptions, b.endObject()];
    }
    case 'fullyConnected': {
      const f = F.FullyConnectedOptions;
      b.startObject(4);
      b.addFieldInt8(f.fused_activation_function, activationCode(p.op), 0);
      b.addFieldInt8(f.keep_num_dims, a.keepNumDims ? 1 : 0, 0);
      return [Options.FullyConnectedOptions, b.endObject()];
    }
    case 'softmax': {
      b.startObject(1);
      b.addFieldFloat32(F.SoftmaxOptions.beta, a.beta ?? 1, 0);
      return [Options.SoftmaxOptions, b.endObject()];
    }
    case 'add': {
      b.startObject(1);
      b.addFieldInt8(F.AddOptions.fused_activation_function, activationCode(p.op), 0);
      return [Options.AddOptions, b.endObject()];
    }
    case 'mean': {
      b.startObject(1);
      b.addFieldInt8(F.ReducerOptions.keep_dims, a.keepDims ? 1 : 0, 0);
      return [Options.ReducerOptions, b.endObject()];
    }
    case 'reshape': {
      // With a shape tensor the converter writes no options; without one, new_shape carries it.
      if (p.inputs.length >= 2 && p.inputs[1] !== -1) return [Options.NONE, 0];
      const shape = intVector(b, a.newShape ?? []);
      b.startObject(1);
      b.addFieldOffset(F.ReshapeOptions.new_shape, shape, 0);
      return [Options.ReshapeOptions, b.endObject()];
    }
    // Builtins without options (or, for batchNorm, refused before writing).
    case 'relu':
    case 'relu6':
    case 'pad':
    case 'quantize':
    case 'dequantize':
    case 'batchNorm':
      return [Options.NONE, 0];
    default:
      return assertNever(p.op.kind, 'op kind');
  }
}

function writeOperator(b: Builder, p: OpPlan, opcodeIndex: number): number {
  const inputs = intVector(b, p.inputs);
  const outputs = intVector(b, p.outputs);
  const [optionsType, options] = writeOptions(b, p);
  b.startObject(5);
  b.addFieldInt32(F.Operator.opcode_index, opcodeIndex, 0);
  b.addFieldOffset(F.Operator.inputs, inputs, 0);
  b.addFieldOffset(F.Operator.outputs, outputs, 0);
  if (optionsType !== Options.NONE) {
    b.addFieldInt8(F.Operator.builtin_options_type, optionsType, 0);
    b.addFieldOffset(F.Operator.builtin_options, options, 0);
  }
  return b.endObject();
}
