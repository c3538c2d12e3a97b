// The subset of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto) that an importer of CNN exports needs, decoded with the bounds-checked reader.
// Field numbers are those of onnx/onnx.proto (the same the exporter in src/engine/onnx.ts writes).
import {
  decodeMessage,
  getBytes,
  getDoubles,
  getFloat,
  getFloats,
  getInt,
  getInts,
  getMessages,
  getString,
  getStrings,
  ProtoError,
} from './proto.js';

const MODEL = { irVersion: 1, graph: 7, opsetImport: 8, producerName: 2, producerVersion: 3 };
const OPSET = { domain: 1, version: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12, sparseInitializer: 15 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 };
const ATTR = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, type: 20 };
const TENSOR = {
  dims: 1,
  dataType: 2,
  floatData: 4,
  int32Data: 5,
  int64Data: 7,
  name: 8,
  rawData: 9,
  doubleData: 10,
  dataLocation: 14,
};
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensorType: 1 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const DIM = { value: 1, param: 2 };

/** TensorProto.DataType values we read. */
export const ONNX_DTYPE = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11,
} as const;

/** Elements of any one constant we accept (a corrupt dims field must not allocate gigabytes). */
export const MAX_CONST_ELEMENTS = 1 << 26;

/** A constant: values as doubles (exact for every int ONNX CNN exports store), with its type. */
export interface OnnxConst {
  dtype: number;
  dims: number[];
  data: Float64Array;
}

export interface OnnxAttr {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxConst;
  floats?: number[];
  ints?: number[];
  /** AttributeProto.type; subgraphs (If, Loop) are not read. */
  type: number;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, OnnxAttr>;
}

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  /** Numbers for fixed dims, strings for symbolic ones (or '?' when unnamed). */
  shape?: (number | string)[];
}

export interface OnnxModel {
  irVersion: number;
  producer: string;
  /** Opset version per domain ('' is the default ONNX domain). */
  opsets: Map<string, number>;
  graphName: string;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxConst>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

/** Elements of a constant computed at import (pad amounts, shapes: small in every real model). */
export const MAX_COMPUTED_ELEMENTS = 1 << 20;

/** `[a, b, …]` with long lists shortened (messages stay short for damaged files). */
export function fmt(v: readonly (number | string)[]): string {
  return `[${v.slice(0, 8).join(', ')}${v.length > 8 ? `, … (${v.length} values)` : ''}]`;
}

export function numElementsChecked(
  dims: number[],
  what: string,
  limit = MAX_CONST_ELEMENTS,
): number {
  let n = 1;
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ProtoError(`${what}: invalid dimension ${d}`);
    n *= d;
    if (n > limit) throw new ProtoError(`${what}: shape ${fmt(dims)} is implausibly large`);
  }
  return n;
}

const RAW_SIZE: Record<number, number> = {
  [ONNX_DTYPE.FLOAT]: 4,
  [ONNX_DTYPE.UINT8]: 1,
  [ONNX_DTYPE.INT8]: 1,
  [ONNX_DTYPE.INT16]: 2,
  [ONNX_DTYPE.INT32]: 4,
  [ONNX_DTYPE.INT64]: 8,
  [ONNX_DTYPE.BOOL]: 1,
  [ONNX_DTYPE.DOUBLE]: 8,
};

export function dtypeName(t: number): string {
  const e = Object.entries(ONNX_DTYPE).find(([, v]) => v === t);
  return e ? e[0].toLowerCase() : `data type ${t}`;
}

export function decodeTensor(buf: Uint8Array, what: string): OnnxConst & { name: string } {
  const m = decodeMessage(buf, what);
  const name = getString(m, TENSOR.name, what) ?? '';
  const w = name ? `${what} "${name}"` : what;
  const dims = getInts(m, TENSOR.dims, `${w} dims`);
  const dtype = getInt(m, TENSOR.dataType, `${w} data_type`) ?? 0;
  if ((getInt(m, TENSOR.dataLocation, w) ?? 0) === 1)
    throw new ProtoError(
      `${w}: external data files are not supported (save the model as one file)`,
    );
  const n = numElementsChecked(dims, w);
  const size = RAW_SIZE[dtype];
  if (size === undefined) throw new ProtoError(`${w}: unsupported tensor type ${dtypeName(dtype)}`);
  const raw = getBytes(m, TENSOR.rawData, w);
  if (raw !== undefined && raw.length !== n * size)
    throw new ProtoError(
      `${w}: raw_data has ${raw.length} bytes, shape ${fmt(dims)} of ${dtypeName(dtype)} needs ${n * size}`,
    );
  const data = new Float64Array(n);
  if (raw !== undefined) {
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      switch (dtype) {
        case ONNX_DTYPE.FLOAT:
          data[i] = v.getFloat32(i * 4, true);
          break;
        case ONNX_DTYPE.DOUBLE:
          data[i] = v.getFloat64(i * 8, true);
          break;
        case ONNX_DTYPE.UINT8:
        case ONNX_DTYPE.BOOL:
          data[i] = v.getUint8(i);
          break;
        case ONNX_DTYPE.INT8:
          data[i] = v.getInt8(i);
          break;
        case ONNX_DTYPE.INT16:
          data[i] = v.getInt16(i * 2, true);
          break;
        case ONNX_DTYPE.INT32:
          data[i] = v.getInt32(i * 4, true);
          break;
        case ONNX_DTYPE.INT64:
          data[i] = Number(v.getBigInt64(i * 8, true));
          break;
      }
    }
  } else {
    // Typed fields: floats in float_data, doubles in double_data, int64 in int64_data, every
    // smaller integer type (and bool) in int32_data.
    const values =
      dtype === ONNX_DTYPE.FLOAT
        ? getFloats(m, TENSOR.floatData, w)
        : dtype === ONNX_DTYPE.DOUBLE
          ? getDoubles(m, TENSOR.doubleData, w)
          : dtype === ONNX_DTYPE.INT64
            ? getInts(m, TENSOR.int64Data, w)
            : getInts(m, TENSOR.int32Data, w);
    if (values.length !== n)
      throw new ProtoError(`${w}: holds ${values.length} values, shape ${fmt(dims)} needs ${n}`);
    data.set(values);
  }
  return { name, dtype, dims, data };
}

function decodeAttr(buf: Uint8Array, what: string): OnnxAttr {
  const m = decodeMessage(buf, what);
  const name = getString(m, ATTR.name, what) ?? '';
  const w = `${what} "${name}"`;
  const a: OnnxAttr = { name, type: getInt(m, ATTR.type, w) ?? 0 };
  const f = getFloat(m, ATTR.f, w);
  if (f !== undefined) a.f = f;
  const i = getInt(m, ATTR.i, w);
  if (i !== undefined) a.i = i;
  const s = getString(m, ATTR.s, w);
  if (s !== undefined) a.s = s;
  const t = getBytes(m, ATTR.t, w);
  if (t !== undefined) a.t = decodeTensor(t, `${w} tensor`);
  if (m.has(ATTR.floats)) a.floats = getFloats(m, ATTR.floats, w);
  if (m.has(ATTR.ints)) a.ints = getInts(m, ATTR.ints, w);
  return a;
}

function decodeNode(buf: Uint8Array, index: number): OnnxNode {
  const what = `node ${index}`;
  const m = decodeMessage(buf, what);
  const name = getString(m, NODE.name, what) ?? '';
  const w = name ? `node ${index} "${name}"` : what;
  const attrs = new Map<string, OnnxAttr>();
  for (const ab of getMessages(m, NODE.attribute, `${w} attribute`)) {
    const a = decodeAttr(ab, `${w} attribute`);
    attrs.set(a.name, a);
  }
  return {
    name,
    opType: getString(m, NODE.opType, w) ?? '',
    domain: getString(m, NODE.domain, w) ?? '',
    inputs: getStrings(m, NODE.input, `${w} inputs`),
    outputs: getStrings(m, NODE.output, `${w} outputs`),
    attrs,
  };
}

function decodeValueInfo(buf: Uint8Array, what: string): OnnxValueInfo {
  const m = decodeMessage(buf, what);
  const name = getString(m, VALUE_INFO.name, what) ?? '';
  const w = `${what} "${name}"`;
  const info: OnnxValueInfo = { name, elemType: 0 };
  const type = getBytes(m, VALUE_INFO.type, w);
  if (!type) return info;
  const tt = getBytes(decodeMessage(type, w), TYPE.tensorType, w);
  if (!tt) return info;
  const tm = decodeMessage(tt, w);
  info.elemType = getInt(tm, TENSOR_TYPE.elemType, w) ?? 0;
  const shape = getBytes(tm, TENSOR_TYPE.shape, w);
  if (shape) {
    info.shape = getMessages(decodeMessage(shape, w), 1, w).map((d) => {
      const dm = decodeMessage(d, w);
      return getInt(dm, DIM.value, w) ?? getString(dm, DIM.param, w) ?? '?';
    });
  }
  return info;
}

export function decodeModel(bytes: Uint8Array): OnnxModel {
  const m = decodeMessage(bytes, 'model');
  const graphBytes = getBytes(m, MODEL.graph, 'model graph');
  if (!graphBytes) throw new ProtoError('not an ONNX model: no graph (ModelProto field 7)');
  const opsets = new Map<string, number>();
  for (const o of getMessages(m, MODEL.opsetImport, 'opset_import')) {
    const om = decodeMessage(o, 'opset_import');
    opsets.set(
      getString(om, OPSET.domain, 'opset_import domain') ?? '',
      getInt(om, OPSET.version, 'opset_import version') ?? 0,
    );
  }
  const g = decodeMessage(graphBytes, 'graph');
  if (g.has(GRAPH.sparseInitializer)) throw new ProtoError('sparse initializers are not supported');
  const initializers = new Map<string, OnnxConst>();
  for (const t of getMessages(g, GRAPH.initializer, 'initializer')) {
    const { name, ...c } = decodeTensor(t, 'initializer');
    initializers.set(name, c);
  }
  const producer = [
    getString(m, MODEL.producerName, 'producer_name'),
    getString(m, MODEL.producerVersion, 'producer_version'),
  ]
    .filter(Boolean)
    .join(' ');
  return {
    irVersion: getInt(m, MODEL.irVersion, 'ir_version') ?? 0,
    producer,
    opsets,
    graphName: getString(g, GRAPH.name, 'graph name') ?? '',
    nodes: getMessages(g, GRAPH.node, 'node').map((n, i) => decodeNode(n, i)),
    initializers,
    inputs: getMessages(g, GRAPH.input, 'graph input').map((v) =>
      decodeValueInfo(v, 'graph input'),
    ),
    outputs: getMessages(g, GRAPH.output, 'graph output').map((v) =>
      decodeValueInfo(v, 'graph output'),
    ),
  };
}
