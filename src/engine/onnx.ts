// Float Graph → ONNX (opset 13) for bulk inference with onnxruntime-node, which cannot train but
// runs forward passes several times faster than tfjs-wasm.
//
// Activations stay NHWC at the model boundary (like the Graph); inside, 4-D tensors run NCHW and
// Transposes are inserted only where an op needs NHWC semantics (reshape, FC, softmax).
import { getTensor, numElements, padAmounts } from '../graph/graph.js';
import { padBefore } from '../graph/shapes.js';
import type { Activation, Graph, Op } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { assertNever } from '../graph/ops.js';
import { floatValues } from './model.js';
import { ProtoWriter } from './protobuf.js';

// onnx.proto field numbers.
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8 };
const OPSET = { domain: 1, version: 2 };
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 };
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 };
const ATTR = { name: 1, f: 2, i: 3, s: 4, ints: 8, type: 20 };
const ATTR_TYPE = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 };
const TENSOR = { dims: 1, dataType: 2, name: 8, rawData: 9 };
const DATA_TYPE = { FLOAT: 1, INT64: 7 };
const VALUE_INFO = { name: 1, type: 2 };
const TYPE = { tensorType: 1 };
const TENSOR_TYPE = { elemType: 1, shape: 2 };
const SHAPE = { dim: 1 };
const DIM = { value: 1, param: 2 };

const IR_VERSION = 7; // the IR that shipped with opset 13
const OPSET_VERSION = 13;

type AttrValue = number | number[] | { float: number } | { string: string };

type Layout = 'nhwc' | 'nchw' | 'plain';

function attribute(name: string, value: AttrValue): ProtoWriter {
  const a = new ProtoWriter().string(ATTR.name, name);
  if (Array.isArray(value)) return a.repeatedInts(ATTR.ints, value).int(ATTR.type, ATTR_TYPE.INTS);
  if (typeof value === 'number') return a.int(ATTR.i, value).int(ATTR.type, ATTR_TYPE.INT);
  if ('string' in value) return a.string(ATTR.s, value.string).int(ATTR.type, ATTR_TYPE.STRING);
  return a.float(ATTR.f, value.float).int(ATTR.type, ATTR_TYPE.FLOAT);
}

function tensorProto(
  name: string,
  dims: number[],
  data: Float32Array | BigInt64Array,
): ProtoWriter {
  const isFloat = data instanceof Float32Array;
  return new ProtoWriter()
    .repeatedInts(TENSOR.dims, dims)
    .int(TENSOR.dataType, isFloat ? DATA_TYPE.FLOAT : DATA_TYPE.INT64)
    .string(TENSOR.name, name)
    .bytes(TENSOR.rawData, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

function valueInfo(name: string, shape: (number | string)[]): ProtoWriter {
  const shp = new ProtoWriter();
  for (const d of shape)
    shp.message(
      SHAPE.dim,
      typeof d === 'number'
        ? new ProtoWriter().int(DIM.value, d)
        : new ProtoWriter().string(DIM.param, d),
    );
  const tt = new ProtoWriter()
    .int(TENSOR_TYPE.elemType, DATA_TYPE.FLOAT)
    .message(TENSOR_TYPE.shape, shp);
  return new ProtoWriter()
    .string(VALUE_INFO.name, name)
    .message(VALUE_INFO.type, new ProtoWriter().message(TYPE.tensorType, tt));
}

/** Transposes a [d0,d1,d2,d3] array by `perm`. */
function transpose4(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const outShape = perm.map((p) => shape[p]!);
  const strides = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const idx = [0, 0, 0, 0];
  let o = 0;
  for (idx[0] = 0; idx[0] < outShape[0]!; idx[0]++)
    for (idx[1] = 0; idx[1] < outShape[1]!; idx[1]++)
      for (idx[2] = 0; idx[2] < outShape[2]!; idx[2]++)
        for (idx[3] = 0; idx[3] < outShape[3]!; idx[3]++) {
          let src = 0;
          for (let k = 0; k < 4; k++) src += idx[k]! * strides[perm[k]!]!;
          out[o++] = data[src]!;
        }
  return out;
}

class OnnxBuilder {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  private readonly layouts = new Map<string, Layout>();
  private readonly converted = new Map<string, string>();
  private n = 0;

  constructor(private readonly g: Graph) {}

  fresh(base: string): string {
    return `${base}__${this.n++}`;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}) {
    const w = new ProtoWriter();
    for (const i of inputs) w.string(NODE.input, i);
    for (const o of outputs) w.string(NODE.output, o);
    w.string(NODE.name, this.fresh(opType)).string(NODE.opType, opType);
    for (const [k, v] of Object.entries(attrs)) w.message(NODE.attribute, attribute(k, v));
    this.nodes.push(w);
  }

  initializer(base: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const name = this.fresh(base);
    this.initializers.push(tensorProto(name, dims, data));
    return name;
  }

  setLayout(name: string, l: Layout) {
    this.layouts.set(name, l);
  }

  layout(name: string): Layout {
    return this.layouts.get(name) ?? 'plain';
  }

  /** The tensor in the wanted 4-D layout, inserting (and caching) a Transpose when needed. */
  as(name: string, want: 'nhwc' | 'nchw'): string {
    const have = this.layout(name);
    if (have === want || have === 'plain') return name;
    const key = `${name}->${want}`;
    const cached = this.converted.get(key);
    if (cached) return cached;
    const out = this.fresh(`${name}_${want}`);
    this.node('Transpose', [name], [out], { perm: want === 'nchw' ? [0, 3, 1, 2] : [0, 2, 3, 1] });
    this.setLayout(out, want);
    this.converted.set(key, out);
    return out;
  }

  activation(x: string, act: Activation | undefined, out: string): void {
    if (act === 'relu') this.node('Relu', [x], [out]);
    else if (act === 'relu6') {
      const lo = this.initializer('zero', [], Float32Array.of(0));
      const hi = this.initializer('six', [], Float32Array.of(6));
      this.node('Clip', [x, lo, hi], [out]);
    } else this.node('Identity', [x], [out]);
    this.setLayout(out, this.layout(x));
  }

  /**
   * TensorFlow's SAME is ONNX's auto_pad SAME_UPPER (extra padding at the end); writing it so,
   * rather than as explicit pads, lets an importer tell 'same' from 'valid' when both pad 0.
   */
  padAttrs(op: Op, kernel: [number, number]): Record<string, AttrValue> {
    return (op.attrs.padding ?? 'valid') === 'same'
      ? { auto_pad: { string: 'SAME_UPPER' } }
      : { pads: this.pads(op, kernel) };
  }

  /** ONNX pads [top, left, bottom, right] for a windowed op on the op's NHWC input. */
  pads(op: Op, kernel: [number, number]): number[] {
    const x = getTensor(this.g, op.inputs[0]!).shape;
    const [sh, sw] = op.attrs.strides ?? [1, 1];
    const [dh, dw] = op.attrs.dilations ?? [1, 1];
    const padding = op.attrs.padding ?? 'valid';
    const y = getTensor(this.g, op.outputs[0]!).shape;
    const total = (inSize: number, outSize: number, k: number, s: number, d: number) =>
      Math.max(0, (outSize - 1) * s + (k - 1) * d + 1 - inSize);
    const top = padBefore(x[1]!, kernel[0], sh, padding, dh);
    const left = padBefore(x[2]!, kernel[1], sw, padding, dw);
    if (padding === 'valid') return [0, 0, 0, 0];
    return [
      top,
      left,
      total(x[1]!, y[1]!, kernel[0], sh, dh) - top,
      total(x[2]!, y[2]!, kernel[1], sw, dw) - left,
    ];
  }
}

function weightData(g: Graph, name: string): Float32Array {
  return floatValues(getTensor(g, name));
}

const GRAPH_OUTPUT = 'output';

/** A shallow copy of `g` with tensor `name` renamed to a free name. */
function renamed(g: Graph, name: string): Graph {
  let to = `${name}_`;
  while (g.tensors.has(to)) to += '_';
  const r = (n: string) => (n === name ? to : n);
  const tensors = new Map(g.tensors);
  tensors.delete(name);
  tensors.set(to, { ...g.tensors.get(name)!, name: to });
  return {
    ...g,
    tensors,
    ops: g.ops.map((op) => ({ ...op, inputs: op.inputs.map(r), outputs: op.outputs.map(r) })),
    inputs: g.inputs.map(r),
    outputs: g.outputs.map(r),
  };
}

/** Serialises a float Graph as an ONNX ModelProto (dynamic batch dimension "N"). */
export function graphToOnnx(model: Graph): Uint8Array {
  // The model's output is named "output"; a Graph tensor of that name (an imported ONNX file's)
  // would be defined twice.
  const g = model.tensors.has(GRAPH_OUTPUT) ? renamed(model, GRAPH_OUTPUT) : model;
  if (g.inputs.length !== 1 || g.outputs.length !== 1)
    throw new TinypruneError(`${g.name}: ONNX export needs one input and one output`);
  const b = new OnnxBuilder(g);
  const input = getTensor(g, g.inputs[0]!);
  if (input.dtype !== 'float32')
    throw new TinypruneError(
      `${g.name}: ONNX export needs a float32 model, input is ${input.dtype}`,
    );
  b.setLayout(input.name, input.shape.length === 4 ? 'nhwc' : 'plain');

  for (const op of g.ops) {
    const a = op.attrs;
    const out = op.outputs[0]!;
    const x = op.inputs[0]!;
    const mid = b.fresh(out);
    switch (op.kind) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        const wt = getTensor(g, op.inputs[1]!);
        const [o, kh, kw, i] = wt.shape as [number, number, number, number];
        let w: string;
        let group = 1;
        if (op.kind === 'conv2d') {
          w = b.initializer(
            'W',
            [o, i, kh, kw],
            transpose4(weightData(g, wt.name), wt.shape, [0, 3, 1, 2]),
          );
        } else {
          // [1,kH,kW,C·M] → [C·M,1,kH,kW] with one group per input channel.
          group = getTensor(g, x).shape[3]!;
          w = b.initializer(
            'W',
            [i, 1, kh, kw],
            transpose4(weightData(g, wt.name), wt.shape, [3, 0, 1, 2]),
          );
        }
        const inputs = [b.as(x, 'nchw'), w];
        if (op.inputs[2])
          inputs.push(
            b.initializer(
              'B',
              [wt.shape[op.kind === 'conv2d' ? 0 : 3]!],
              weightData(g, op.inputs[2]),
            ),
          );
        b.node('Conv', inputs, [mid], {
          kernel_shape: [kh, kw],
          strides: a.strides ?? [1, 1],
          dilations: a.dilations ?? [1, 1],
          ...b.padAttrs(op, [kh, kw]),
          group,
        });
        b.setLayout(mid, 'nchw');
        b.activation(mid, a.activation, out);
        break;
      }
      case 'fullyConnected': {
        const wt = getTensor(g, op.inputs[1]!);
        const flat = b.fresh('flat');
        const shape = b.initializer('shape', [2], BigInt64Array.of(-1n, BigInt(wt.shape[1]!)));
        b.node('Reshape', [b.as(x, 'nhwc'), shape], [flat]);
        const inputs = [flat, b.initializer('W', wt.shape, weightData(g, wt.name))];
        if (op.inputs[2])
          inputs.push(b.initializer('B', [wt.shape[0]!], weightData(g, op.inputs[2])));
        b.node('Gemm', inputs, [mid], { transB: 1 });
        let y = mid;
        if (a.keepNumDims) {
          const outShape = getTensor(g, out).shape;
          y = b.fresh('fc_keep');
          const s = b.initializer(
            'shape',
            [outShape.length],
            BigInt64Array.from([-1, ...outShape.slice(1)].map(BigInt)),
          );
          b.node('Reshape', [mid, s], [y]);
        }
        b.activation(y, a.activation, out);
        break;
      }
      case 'averagePool2d':
      case 'maxPool2d': {
        const k = a.poolSize ?? [1, 1];
        const attrs: Record<string, AttrValue> = {
          kernel_shape: k,
          strides: a.strides ?? [1, 1],
          ...b.padAttrs(op, k),
        };
        if (op.kind === 'averagePool2d') attrs.count_include_pad = 0;
        b.node(
          op.kind === 'averagePool2d' ? 'AveragePool' : 'MaxPool',
          [b.as(x, 'nchw')],
          [mid],
          attrs,
        );
        b.setLayout(mid, 'nchw');
        b.activation(mid, a.activation, out);
        break;
      }
      case 'mean': {
        const rank = getTensor(g, x).shape.length;
        const axes = (a.axes ?? [1, 2]).map((v) => (v < 0 ? v + rank : v));
        const keep = a.keepDims ? 1 : 0;
        if (rank === 4 && b.layout(x) !== 'plain') {
          const toNchw = [0, 2, 3, 1];
          const nchwAxes = axes.map((ax) => toNchw[ax]!).sort();
          b.node('ReduceMean', [b.as(x, 'nchw')], [out], { axes: nchwAxes, keepdims: keep });
          if (keep) b.setLayout(out, 'nchw');
          else if (axes.join() !== '1,2')
            throw new TinypruneError(
              `op "${op.name}": ONNX export supports mean over axes [1,2] only`,
            );
        } else b.node('ReduceMean', [x], [out], { axes, keepdims: keep });
        break;
      }
      case 'reshape': {
        const shape = getTensor(g, out).shape;
        const s = b.initializer(
          'shape',
          [shape.length],
          BigInt64Array.from([-1, ...shape.slice(1)].map(BigInt)),
        );
        b.node('Reshape', [b.as(x, 'nhwc'), s], [out]);
        b.setLayout(out, shape.length === 4 ? 'nhwc' : 'plain');
        break;
      }
      case 'softmax': {
        let xin = b.as(x, 'nhwc');
        if ((a.beta ?? 1) !== 1) {
          const scaled = b.fresh('scaled');
          b.node('Mul', [xin, b.initializer('beta', [], Float32Array.of(a.beta!))], [scaled]);
          b.setLayout(scaled, b.layout(xin));
          xin = scaled;
        }
        b.node('Softmax', [xin], [out], { axis: -1 });
        b.setLayout(out, b.layout(xin));
        break;
      }
      case 'add': {
        const y = op.inputs[1]!;
        const yt = getTensor(g, y);
        let lhs = x;
        let rhs = y;
        if (yt.data) {
          rhs = b.initializer('addend', yt.shape, weightData(g, y));
          lhs = b.as(x, 'nhwc');
        } else if (b.layout(x) !== b.layout(y)) {
          lhs = b.as(x, 'nhwc');
          rhs = b.as(y, 'nhwc');
        }
        b.node('Add', [lhs, rhs], [mid]);
        b.setLayout(mid, b.layout(lhs));
        b.activation(mid, a.activation, out);
        break;
      }
      case 'pad': {
        const p = padAmounts(g, op);
        const pads = p;
        const l = b.layout(x);
        const order = l === 'nchw' ? [0, 3, 1, 2] : pads.map((_, i) => i);
        const flat = [...order.map((d) => pads[d]![0]), ...order.map((d) => pads[d]![1])];
        const pt = b.initializer('pads', [flat.length], BigInt64Array.from(flat.map(BigInt)));
        b.node('Pad', [x, pt], [out], {});
        b.setLayout(out, l);
        break;
      }
      case 'relu':
      case 'relu6':
        b.activation(x, op.kind, out);
        break;
      case 'batchNorm': {
        const [gamma, beta, mean, variance] = op.inputs.slice(1).map((n) => {
          const t = getTensor(g, n);
          return b.initializer('bn', [numElements(t.shape)], weightData(g, n));
        }) as [string, string, string, string];
        const xin = getTensor(g, x).shape.length === 4 ? b.as(x, 'nchw') : x;
        b.node('BatchNormalization', [xin, gamma, beta, mean, variance], [out], {
          epsilon: { float: a.epsilon ?? 1e-3 },
        });
        b.setLayout(out, b.layout(xin));
        break;
      }
      case 'quantize':
      case 'dequantize':
        throw new TinypruneError(
          `op "${op.name}": ONNX export handles float graphs only (found ${op.kind})`,
        );
      default:
        assertNever(op.kind, 'op kind');
    }
  }

  const outName = g.outputs[0]!;
  const finalName = b.as(outName, 'nhwc');
  const outShape = getTensor(g, outName).shape;
  const graphOut = GRAPH_OUTPUT;
  b.node('Identity', [finalName], [graphOut]);
  const graph = new ProtoWriter();
  for (const nd of b.nodes) graph.message(GRAPH.node, nd);
  graph.string(GRAPH.name, g.name || 'tinyprune');
  for (const init of b.initializers) graph.message(GRAPH.initializer, init);
  graph.message(GRAPH.input, valueInfo(input.name, ['N', ...input.shape.slice(1)]));
  graph.message(GRAPH.output, valueInfo(graphOut, ['N', ...outShape.slice(1)]));
  return new ProtoWriter()
    .int(MODEL.irVersion, IR_VERSION)
    .string(MODEL.producerName, 'tinyprune')
    .string(MODEL.producerVersion, '0.1.0')
    .message(MODEL.graph, graph)
    .message(
      MODEL.opsetImport,
      new ProtoWriter().string(OPSET.domain, '').int(OPSET.version, OPSET_VERSION),
    )
    .finish();
}
