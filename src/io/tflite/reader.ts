// TFLite flatbuffer → Graph. Float32, int8 (per-tensor and per-channel quantisation kept) and
// hybrid files (int8 weights with a scale feeding float ops) are read into the IR; hybrid weights
// and constant DEQUANTIZE inputs (float16 or int8) are folded into float32 constants.

import { basename, extname } from 'node:path';
import {
  bytesPerElement,
  numElements,
  pruneUnusedTensors,
  uniqueTensorName,
  validateGraph,
} from '../../graph/graph.js';
import { inferOpShape } from '../../graph/shapes.js';
import type {
  Activation,
  DType,
  Graph,
  Op,
  OpAttrs,
  OpKind,
  Padding,
  Quantization,
  Tensor,
  TensorData,
} from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';
import { assertNever } from '../../graph/ops.js';
import { FbReader, FbTable, FlatbufferError } from './flatbuffer.js';
import {
  ActivationFunction,
  Builtin,
  builtinName,
  dtypeOfTensorType,
  F,
  FILE_IDENTIFIER,
  Options,
  Padding as PaddingEnum,
  TensorType,
  tensorTypeName,
} from './schema.js';

/** Largest element count we accept for one tensor (a corrupt shape must not allocate gigabytes). */
const MAX_ELEMENTS = 1 << 30;

/** A problem with the file, reported as `<source>: <message>`. */
class FileProblem extends Error {}

interface RawTensor {
  index: number;
  name: string;
  shape: number[];
  type: number;
  /** Raw little-endian bytes for constants. */
  bytes?: Uint8Array;
  quant?: Quantization;
}

interface RawOp {
  index: number;
  code: number;
  inputs: number[];
  outputs: number[];
  options?: FbTable;
  optionsType: number;
}

const KIND_OF_BUILTIN: Record<number, OpKind> = {
  [Builtin.CONV_2D]: 'conv2d',
  [Builtin.DEPTHWISE_CONV_2D]: 'depthwiseConv2d',
  [Builtin.AVERAGE_POOL_2D]: 'averagePool2d',
  [Builtin.MAX_POOL_2D]: 'maxPool2d',
  [Builtin.FULLY_CONNECTED]: 'fullyConnected',
  [Builtin.RESHAPE]: 'reshape',
  [Builtin.SOFTMAX]: 'softmax',
  [Builtin.ADD]: 'add',
  [Builtin.MEAN]: 'mean',
  [Builtin.PAD]: 'pad',
  [Builtin.QUANTIZE]: 'quantize',
  [Builtin.DEQUANTIZE]: 'dequantize',
  [Builtin.RELU]: 'relu',
  [Builtin.RELU6]: 'relu6',
};

/** Readable op-name stems, Keras style: the first conv is `conv2d`, the next `conv2d_1`. */
const NAME_STEM: Record<OpKind, string> = {
  conv2d: 'conv2d',
  depthwiseConv2d: 'depthwise_conv2d',
  fullyConnected: 'fully_connected',
  averagePool2d: 'average_pool2d',
  maxPool2d: 'max_pool2d',
  mean: 'mean',
  reshape: 'reshape',
  softmax: 'softmax',
  add: 'add',
  pad: 'pad',
  relu: 'relu',
  relu6: 'relu6',
  batchNorm: 'batch_norm',
  quantize: 'quantize',
  dequantize: 'dequantize',
};

const SUPPORTED = Object.keys(KIND_OF_BUILTIN)
  .map((c) => builtinName(Number(c)))
  .join(', ');

/**
 * Reads a .tflite flatbuffer into a Graph. `source` names the file in error messages and
 * metadata. Throws TinypruneError (one line, naming the problem) for corrupt, truncated or
 * unsupported files.
 */
export function readTflite(bytes: Uint8Array, source: string): Graph {
  try {
    return parseModel(bytes, source);
  } catch (e) {
    if (e instanceof TinypruneError) throw e;
    if (e instanceof FileProblem) throw new TinypruneError(`${source}: ${e.message}`);
    if (e instanceof FlatbufferError)
      throw new TinypruneError(`${source}: corrupt or truncated TFLite file: ${e.message}`);
    // Safety net: anything else a damaged file provokes is still a one-line user error.
    throw new TinypruneError(
      `${source}: cannot read this TFLite file (${(e as Error).message ?? String(e)})`,
    );
  }
}

function parseModel(bytes: Uint8Array, source: string): Graph {
  if (bytes.length < 8)
    throw new FileProblem(`not a TFLite file: ${bytes.length} bytes is too short for a flatbuffer`);
  const ident = String.fromCharCode(...bytes.subarray(4, 8));
  if (ident !== FILE_IDENTIFIER)
    throw new FileProblem(
      `not a TFLite file: expected file identifier "${FILE_IDENTIFIER}" at byte 4, found ${JSON.stringify(ident)}`,
    );
  const r = new FbReader(bytes);
  const model = r.root('model');
  const version = model.u32(F.Model.version);
  if (version !== 3)
    throw new FileProblem(`unsupported TFLite schema version ${version} (expected 3)`);

  const subgraphs = model.tables(F.Model.subgraphs, 'subgraphs');
  if (subgraphs.length === 0) throw new FileProblem('the model has no subgraph');
  const sg = subgraphs.at(0);
  const buffers = model.tables(F.Model.buffers, 'buffers');
  const opcodes = model.tables(F.Model.operator_codes, 'operator_codes');
  // Parse every buffer table up front (bounded by the buffer count), so that damage anywhere in
  // the buffer list is reported, not only in the buffers tensors use.
  for (let i = 0; i < buffers.length; i++) buffers.at(i).bytes(F.Buffer.data, `buffer ${i}`);

  // Tensors.
  const tensorTables = sg.tables(F.SubGraph.tensors, 'tensors');
  const raw: RawTensor[] = [];
  for (let i = 0; i < tensorTables.length; i++)
    raw.push(readTensor(r, tensorTables.at(i), i, buffers));

  const checkIndex = (t: number, what: string, optional: boolean) => {
    if (optional && t === -1) return;
    if (!Number.isInteger(t) || t < 0 || t >= raw.length)
      throw new FileProblem(
        `${what} refers to tensor ${t}, but the model has ${raw.length} tensors`,
      );
  };
  const sgInputs = sg.int32s(F.SubGraph.inputs, 'subgraph inputs') ?? [];
  const sgOutputs = sg.int32s(F.SubGraph.outputs, 'subgraph outputs') ?? [];
  sgInputs.forEach((t) => checkIndex(t, 'a model input', false));
  sgOutputs.forEach((t) => checkIndex(t, 'a model output', false));
  if (sgOutputs.length === 0) throw new FileProblem('the model declares no outputs');

  // Operators.
  const opTables = sg.tables(F.SubGraph.operators, 'operators');
  const rawOps: RawOp[] = [];
  for (let i = 0; i < opTables.length; i++) {
    const t = opTables.at(i);
    const opcodeIndex = t.u32(F.Operator.opcode_index);
    if (opcodeIndex >= opcodes.length)
      throw new FileProblem(
        `operator ${i} uses operator code ${opcodeIndex}, but the model has ${opcodes.length}`,
      );
    const oc = opcodes.at(opcodeIndex);
    // The deprecated byte field holds codes < 127; newer files also set the int32 field.
    const code = Math.max(
      oc.i8(F.OperatorCode.deprecated_builtin_code),
      oc.i32(F.OperatorCode.builtin_code),
    );
    if (!(code in KIND_OF_BUILTIN)) {
      const what =
        code === Builtin.CUSTOM
          ? `custom operator "${oc.string(F.OperatorCode.custom_code, 'custom_code') ?? ''}"`
          : builtinName(code);
      throw new FileProblem(
        `operator ${i} is ${what}, which tinyprune does not support (supported: ${SUPPORTED})`,
      );
    }
    const inputs = t.int32s(F.Operator.inputs, `operator ${i} inputs`) ?? [];
    const outputs = t.int32s(F.Operator.outputs, `operator ${i} outputs`) ?? [];
    inputs.forEach((x) => checkIndex(x, `operator ${i} (${builtinName(code)}) input`, true));
    outputs.forEach((x) => checkIndex(x, `operator ${i} (${builtinName(code)}) output`, false));
    rawOps.push({
      index: i,
      code,
      inputs,
      outputs,
      optionsType: t.u8(F.Operator.builtin_options_type),
      options: t.table(F.Operator.builtin_options, `operator ${i} options`),
    });
  }

  return buildGraph(raw, rawOps, sgInputs, sgOutputs, {
    source,
    description: model.string(F.Model.description, 'description'),
  });
}

function readTensor(
  r: FbReader,
  t: FbTable,
  index: number,
  buffers: { length: number; at(i: number): FbTable },
): RawTensor {
  const name = t.string(F.Tensor.name, `tensor ${index} name`) ?? '';
  const label = `tensor ${index} "${name}"`;
  const shape = t.int32s(F.Tensor.shape, `${label} shape`) ?? [];
  if (shape.length > 8)
    throw new FileProblem(`${label} has ${shape.length} dimensions (at most 8)`);
  if (shape.some((d) => d < 0))
    throw new FileProblem(`${label} has a negative dimension in its shape [${shape.join(', ')}]`);
  if (numElements(shape) > MAX_ELEMENTS)
    throw new FileProblem(`${label} has an implausible shape [${shape.join(', ')}]`);
  const type = t.i8(F.Tensor.type);
  if (t.has(F.Tensor.sparsity))
    throw new FileProblem(`${label} is sparse, which tinyprune does not support`);

  const bufferIndex = t.u32(F.Tensor.buffer);
  if (bufferIndex >= buffers.length)
    throw new FileProblem(
      `${label} uses buffer ${bufferIndex}, but the model has ${buffers.length} buffers`,
    );
  let data: Uint8Array | undefined;
  if (bufferIndex > 0) {
    const b = buffers.at(bufferIndex);
    data = b.bytes(F.Buffer.data, `buffer ${bufferIndex}`);
    const offset = b.u64(F.Buffer.offset);
    if ((!data || data.length === 0) && offset > 1) {
      // Buffers of large models may live after the flatbuffer, addressed by offset and size.
      const size = b.u64(F.Buffer.size);
      r.check(offset, size, `buffer ${bufferIndex} data`);
      data = r.bytes.subarray(offset, offset + size);
    }
    if (data && data.length === 0) data = undefined;
  }

  let quant: Quantization | undefined;
  const q = t.table(F.Tensor.quantization, `${label} quantization`);
  if (q) {
    if (q.u8(F.QuantizationParameters.details_type) !== 0)
      throw new FileProblem(`${label} uses custom quantisation, which tinyprune does not support`);
    const scale = q.float32s(F.QuantizationParameters.scale, `${label} scales`);
    if (scale && scale.length > 0) {
      const zeroPoint =
        q.int64s(F.QuantizationParameters.zero_point, `${label} zero points`) ?? scale.map(() => 0);
      if (zeroPoint.length !== scale.length)
        throw new FileProblem(
          `${label} has ${scale.length} quantisation scales but ${zeroPoint.length} zero points`,
        );
      const axis = q.i32(F.QuantizationParameters.quantized_dimension);
      quant = { scale, zeroPoint };
      if (scale.length > 1 || axis !== 0) {
        if (axis < 0 || axis >= shape.length || shape[axis] !== scale.length)
          throw new FileProblem(
            `${label} has ${scale.length} per-channel scales along axis ${axis}, but its shape is [${shape.join(', ')}]`,
          );
        quant.axis = axis;
      }
    }
  }
  return { index, name, shape, type, bytes: data, quant };
}

/** Decodes a constant's little-endian bytes into the IR's typed array (copying, so aligned). */
function decodeData(t: RawTensor, dtype: DType): TensorData {
  const n = numElements(t.shape);
  const need = n * bytesPerElement(dtype);
  if (t.bytes!.length !== need)
    throw new FileProblem(
      `tensor ${t.index} "${t.name}" (${tensorTypeName(t.type)} [${t.shape.join(', ')}]) needs ${need} bytes of data, its buffer holds ${t.bytes!.length}`,
    );
  const copy = new Uint8Array(need);
  copy.set(t.bytes!);
  switch (dtype) {
    case 'float32':
      return new Float32Array(copy.buffer);
    case 'int8':
      return new Int8Array(copy.buffer);
    case 'uint8':
      return copy;
    case 'int16':
      return new Int16Array(copy.buffer);
    case 'int32':
      return new Int32Array(copy.buffer);
    case 'int64':
      return new BigInt64Array(copy.buffer);
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function decodeFloat16(t: RawTensor): Float32Array {
  const n = numElements(t.shape);
  if (t.bytes!.length !== 2 * n)
    throw new FileProblem(
      `tensor ${t.index} "${t.name}" (FLOAT16 [${t.shape.join(', ')}]) needs ${2 * n} bytes of data, its buffer holds ${t.bytes!.length}`,
    );
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfToFloat(t.bytes![2 * i]! | (t.bytes![2 * i + 1]! << 8));
  return out;
}

/** real = scale[c] * (q - zeroPoint[c]), c the index along the quantised axis. */
export function dequantizeData(data: TensorData, shape: number[], q: Quantization): Float32Array {
  const out = new Float32Array(data.length);
  const axis = q.axis ?? 0;
  const channels = q.scale.length;
  const inner = channels > 1 ? numElements(shape.slice(axis + 1)) : 1;
  for (let i = 0; i < data.length; i++) {
    const c = channels > 1 ? Math.floor(i / inner) % channels : 0;
    out[i] = q.scale[c]! * (Number(data[i]) - q.zeroPoint[c]!);
  }
  return out;
}

function padding(v: number, what: string): Padding {
  if (v === PaddingEnum.SAME) return 'same';
  if (v === PaddingEnum.VALID) return 'valid';
  throw new FileProblem(`${what} has unknown padding ${v}`);
}

function activation(v: number, what: string): Activation {
  switch (v) {
    case ActivationFunction.NONE:
      return 'none';
    case ActivationFunction.RELU:
      return 'relu';
    case ActivationFunction.RELU6:
      return 'relu6';
    default:
      throw new FileProblem(
        `${what} uses fused activation ${v}, which tinyprune does not support (only NONE, RELU, RELU6)`,
      );
  }
}

function positive(v: number, field: string, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new FileProblem(`${what} has ${field} ${v}`);
  return v;
}

interface Meta {
  source: string;
  description?: string;
}

function buildGraph(
  raw: RawTensor[],
  rawOps: RawOp[],
  sgInputs: number[],
  sgOutputs: number[],
  meta: Meta,
): Graph {
  const stem = basename(meta.source, extname(meta.source));
  const graph: Graph = {
    name: stem || 'model',
    tensors: new Map(),
    ops: [],
    inputs: [],
    outputs: [],
    metadata: { format: 'tflite', source: meta.source },
  };
  if (meta.description) graph.metadata.description = meta.description;

  // Unique tensor names (TFLite allows repeats and empty names).
  const names: string[] = [];
  for (const t of raw) {
    const name = uniqueTensorName(graph, t.name || `tensor_${t.index}`);
    names.push(name);
    graph.tensors.set(name, { name, shape: [...t.shape], dtype: 'float32' }); // placeholder
  }

  // float16 tensors have no IR dtype: keep their values aside for DEQUANTIZE folding.
  const float16 = new Map<number, Float32Array>();
  for (const t of raw) {
    const tensor = graph.tensors.get(names[t.index]!)!;
    if (t.type === TensorType.FLOAT16 && t.bytes) {
      float16.set(t.index, decodeFloat16(t));
      graph.tensors.delete(tensor.name);
      continue;
    }
    const dtype = dtypeOfTensorType(t.type);
    if (!dtype)
      throw new FileProblem(
        `tensor ${t.index} "${t.name}" has type ${tensorTypeName(t.type)}, which tinyprune does not support`,
      );
    tensor.dtype = dtype;
    if (t.bytes) tensor.data = decodeData(t, dtype);
    if (t.quant) tensor.quant = t.quant;
  }
  const nameOf = (i: number) => (i === -1 ? '' : names[i]!);
  const tensorOf = (i: number): Tensor | undefined => graph.tensors.get(names[i]!);

  // Fold DEQUANTIZE ops whose input is a constant (float16 or quantised weights).
  const folded = new Set<number>();
  for (const op of rawOps) {
    if (op.code !== Builtin.DEQUANTIZE || op.inputs.length !== 1 || op.outputs.length !== 1)
      continue;
    const src = op.inputs[0]!;
    const out = tensorOf(op.outputs[0]!);
    if (!out || src === -1) continue;
    let values = float16.get(src);
    if (!values) {
      const t = tensorOf(src);
      if (!t?.data || !t.quant) continue;
      values = dequantizeData(t.data, t.shape, t.quant);
    }
    if (values.length !== numElements(out.shape))
      throw new FileProblem(
        `operator ${op.index} (DEQUANTIZE) turns ${values.length} values into tensor "${out.name}" of shape [${out.shape.join(', ')}]`,
      );
    out.dtype = 'float32';
    out.data = values;
    delete out.quant;
    folded.add(op.index);
  }

  const counts = new Map<OpKind, number>();
  for (const rop of rawOps) {
    if (folded.has(rop.index)) continue;
    for (const i of rop.inputs)
      if (i !== -1 && float16.has(i))
        throw new FileProblem(
          `operator ${rop.index} (${builtinName(rop.code)}) reads FLOAT16 tensor ${i} directly; only DEQUANTIZE may`,
        );
    const kind = KIND_OF_BUILTIN[rop.code]!;
    const n = counts.get(kind) ?? 0;
    counts.set(kind, n + 1);
    const op: Op = {
      kind,
      name: n === 0 ? NAME_STEM[kind] : `${NAME_STEM[kind]}_${n}`,
      inputs: rop.inputs.map(nameOf),
      outputs: rop.outputs.map(nameOf),
      attrs: {},
    };
    op.attrs = readAttrs(rop, op, graph);
    graph.ops.push(op);
  }

  // Hybrid ops: int8 weights with a scale feeding a float op become float32 constants.
  for (const op of graph.ops) {
    if (op.kind !== 'conv2d' && op.kind !== 'depthwiseConv2d' && op.kind !== 'fullyConnected')
      continue;
    const x = graph.tensors.get(op.inputs[0]!);
    if (x?.dtype !== 'float32') continue;
    for (const name of op.inputs.slice(1)) {
      const w = graph.tensors.get(name);
      if (w?.data && w.quant && (w.dtype === 'int8' || w.dtype === 'uint8')) {
        w.stored = { dtype: w.dtype, data: w.data as Int8Array | Uint8Array, quant: w.quant };
        w.data = dequantizeData(w.data, w.shape, w.quant);
        w.dtype = 'float32';
        delete w.quant;
      }
    }
  }

  graph.inputs = sgInputs.map(nameOf);
  graph.outputs = sgOutputs.map(nameOf);
  pruneUnusedTensors(graph);
  validateGraph(graph);
  checkOps(graph);
  return graph;
}

function constInts(graph: Graph, name: string | undefined, what: string): number[] | undefined {
  if (!name) return undefined;
  const t = graph.tensors.get(name);
  if (!t?.data) return undefined;
  if (t.dtype !== 'int32' && t.dtype !== 'int64')
    throw new FileProblem(`${what} must be int32 or int64, found ${t.dtype}`);
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

function readAttrs(rop: RawOp, op: Op, graph: Graph): OpAttrs {
  const what = `operator ${rop.index} (${builtinName(rop.code)})`;
  const o = rop.options;
  const expect = (type: number, name: string) => {
    if (rop.optionsType !== type && rop.optionsType !== Options.NONE)
      throw new FileProblem(
        `${what} carries options of union type ${rop.optionsType}, expected ${name}`,
      );
    return rop.optionsType === type ? o : undefined;
  };
  // CONV_2D and DEPTHWISE_CONV_2D options share these fields (at their own field ids).
  type WindowFields = Record<
    | 'padding'
    | 'stride_w'
    | 'stride_h'
    | 'fused_activation_function'
    | 'dilation_w_factor'
    | 'dilation_h_factor',
    number
  >;
  const windowAttrs = (c: FbTable | undefined, f: WindowFields): OpAttrs => ({
    strides: [
      positive(c?.i32(f.stride_h) ?? 0, 'stride_h', what),
      positive(c?.i32(f.stride_w) ?? 0, 'stride_w', what),
    ],
    padding: padding(c?.i8(f.padding) ?? 0, what),
    dilations: [
      positive(c?.i32(f.dilation_h_factor, 1) ?? 1, 'dilation_h_factor', what),
      positive(c?.i32(f.dilation_w_factor, 1) ?? 1, 'dilation_w_factor', what),
    ],
    activation: activation(c?.i8(f.fused_activation_function) ?? 0, what),
  });
  switch (op.kind) {
    case 'conv2d': {
      const c = expect(Options.Conv2DOptions, 'Conv2DOptions');
      return windowAttrs(c, F.Conv2DOptions);
    }
    case 'depthwiseConv2d': {
      const c = expect(Options.DepthwiseConv2DOptions, 'DepthwiseConv2DOptions');
      const f = F.DepthwiseConv2DOptions;
      return {
        ...windowAttrs(c, f),
        depthMultiplier: positive(c?.i32(f.depth_multiplier) ?? 0, 'depth_multiplier', what),
      };
    }
    case 'averagePool2d':
    case 'maxPool2d': {
      const c = expect(Options.Pool2DOptions, 'Pool2DOptions');
      const f = F.Pool2DOptions;
      return {
        strides: [
          positive(c?.i32(f.stride_h) ?? 0, 'stride_h', what),
          positive(c?.i32(f.stride_w) ?? 0, 'stride_w', what),
        ],
        padding: padding(c?.i8(f.padding) ?? 0, what),
        poolSize: [
          positive(c?.i32(f.filter_height) ?? 0, 'filter_height', what),
          positive(c?.i32(f.filter_width) ?? 0, 'filter_width', what),
        ],
        activation: activation(c?.i8(f.fused_activation_function) ?? 0, what),
      };
    }
    case 'fullyConnected': {
      const c = expect(Options.FullyConnectedOptions, 'FullyConnectedOptions');
      const f = F.FullyConnectedOptions;
      const format = c?.i8(f.weights_format) ?? 0;
      if (format !== 0)
        throw new FileProblem(
          `${what} uses shuffled weights (format ${format}), which tinyprune does not support`,
        );
      return {
        activation: activation(c?.i8(f.fused_activation_function) ?? 0, what),
        keepNumDims: c?.bool(f.keep_num_dims) ?? false,
      };
    }
    case 'softmax': {
      const c = expect(Options.SoftmaxOptions, 'SoftmaxOptions');
      return { beta: c?.f32(F.SoftmaxOptions.beta) ?? 0 };
    }
    case 'add': {
      const c = expect(Options.AddOptions, 'AddOptions');
      return { activation: activation(c?.i8(F.AddOptions.fused_activation_function) ?? 0, what) };
    }
    case 'reshape': {
      const c = expect(Options.ReshapeOptions, 'ReshapeOptions');
      const fromInput = constInts(graph, op.inputs[1], `${what} shape input`);
      const fromOptions = c?.int32s(F.ReshapeOptions.new_shape, `${what} new_shape`);
      const out = graph.tensors.get(op.outputs[0] ?? '');
      return { newShape: fromInput ?? fromOptions ?? [...(out?.shape ?? [])] };
    }
    case 'mean': {
      const c = expect(Options.ReducerOptions, 'ReducerOptions');
      const axes = constInts(graph, op.inputs[1], `${what} axes input`);
      if (!axes) throw new FileProblem(`${what} needs a constant axes input`);
      return { axes, keepDims: c?.bool(F.ReducerOptions.keep_dims) ?? false };
    }
    case 'pad': {
      const p = constInts(graph, op.inputs[1], `${what} paddings input`);
      if (!p || p.length % 2 !== 0)
        throw new FileProblem(`${what} needs a constant [rank, 2] paddings input`);
      const paddings: [number, number][] = [];
      for (let i = 0; i < p.length; i += 2) paddings.push([p[i]!, p[i + 1]!]);
      return { paddings };
    }
    case 'relu':
    case 'relu6':
    case 'quantize':
    case 'dequantize':
    case 'batchNorm':
      return {};
    default:
      return assertNever(op.kind, 'op kind');
  }
}

/** Arity, constant weights and declared-vs-inferred output shapes: a damaged file fails here. */
function checkOps(graph: Graph): void {
  graph.ops.forEach((op, i) => {
    const what = `operator ${i} (${op.kind} "${op.name}")`;
    const [minIn, maxIn] = ARITY[op.kind];
    const given = op.inputs.filter((n) => n !== '').length;
    if (op.inputs[0] === '' || given < minIn || op.inputs.length > maxIn)
      throw new FileProblem(`${what} has ${op.inputs.length} inputs, expected ${minIn}..${maxIn}`);
    if (op.outputs.length !== 1)
      throw new FileProblem(`${what} has ${op.outputs.length} outputs, expected 1`);
    if (op.kind === 'conv2d' || op.kind === 'depthwiseConv2d' || op.kind === 'fullyConnected') {
      const w = graph.tensors.get(op.inputs[1]!)!;
      const rank = op.kind === 'fullyConnected' ? 2 : 4;
      if (!w.data) throw new FileProblem(`${what} has non-constant weights "${w.name}"`);
      if (w.shape.length !== rank)
        throw new FileProblem(
          `${what} weights "${w.name}" have shape [${w.shape.join(', ')}], expected rank ${rank}`,
        );
    }
    const declared = graph.tensors.get(op.outputs[0]!)!.shape;
    const inferred = inferOpShape(graph, op, i);
    if (declared.length !== inferred.length || declared.some((d, k) => d !== inferred[k]))
      throw new FileProblem(
        `${what} declares output shape [${declared.join(', ')}], but its inputs and options give [${inferred.join(', ')}]`,
      );
  });
}

const ARITY: Record<OpKind, [number, number]> = {
  conv2d: [2, 3],
  depthwiseConv2d: [2, 3],
  fullyConnected: [2, 3],
  averagePool2d: [1, 1],
  maxPool2d: [1, 1],
  mean: [2, 2],
  reshape: [1, 2],
  softmax: [1, 1],
  add: [2, 2],
  pad: [2, 2],
  relu: [1, 1],
  relu6: [1, 1],
  batchNorm: [5, 5],
  quantize: [1, 1],
  dequantize: [1, 1],
};
