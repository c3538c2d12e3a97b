// ONNX ModelProto → Graph. Reads what PyTorch's and tf2onnx's exports of CNNs use (opsets
// 11–17): constant subgraphs are evaluated at import, NCHW activations become the Graph's NHWC
// (weights transposed, Flatten → Gemm columns reordered), explicit pads become 'same'/'valid'
// or a pad op, the batch dimension becomes 1 (dynamic or not).
//
// Each ONNX value is either a constant or an activation held by a Graph tensor together with the
// permutation relating the two layouts: Graph axis k is ONNX axis perm[k]. Transposes of
// activations therefore cost nothing at import; an op that needs a particular layout checks it.
import { basename, extname } from 'node:path';
import {
  numElements,
  pruneUnusedTensors,
  uniqueTensorName,
  validateGraph,
} from '../../graph/graph.js';
import { padBefore } from '../../graph/shapes.js';
import { inferOpShape } from '../../graph/shapes.js';
import type { Graph, Op, OpAttrs, OpKind, Padding } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';
import { fuseActivations } from '../../graph/passes/fuseActivations.js';
import { broadcastConst, CONSTANT_OPS, reshapeDims, transposeConst } from './constants.js';
import { ProtoError } from './proto.js';
import type { OnnxConst, OnnxModel, OnnxNode } from './schema.js';
import { decodeModel, dtypeName, fmt, ONNX_DTYPE } from './schema.js';

export const MIN_OPSET = 11;
export const MAX_OPSET = 17;

/** A problem with the file, reported as `<source>: <message>`. */
class FileProblem extends Error {}

interface Act {
  kind: 'act';
  /** Graph tensor holding the value. */
  tensor: string;
  /** Graph axis k is ONNX axis perm[k]. */
  perm: number[];
  /**
   * Set on a flattened activation whose element order differs from ONNX's (a Flatten of an
   * NHWC tensor): Graph element i is ONNX element flat[i]. Only a Gemm/MatMul may read it.
   */
  flat?: Int32Array;
  /** A zero Pad not yet emitted, so that a following Conv or pool can absorb it. */
  pending?: { source: Act; pads: [number, number][] };
}
interface Const {
  kind: 'const';
  c: OnnxConst;
}
type Value = Act | Const;

const NCHW_TO_NHWC = [0, 2, 3, 1];

function isIdentity(perm: number[]): boolean {
  return perm.every((p, i) => p === i);
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

class Importer {
  readonly g: Graph;
  private readonly values = new Map<string, Value>();
  private readonly readers = new Map<string, number>();
  private opCount = 0;
  /** Pending pads already emitted, by their ONNX name. */
  private readonly emitted = new Map<string, Act>();

  constructor(
    private readonly model: OnnxModel,
    readonly opset: number,
    source: string,
  ) {
    this.g = {
      name: basename(source, extname(source)),
      tensors: new Map(),
      ops: [],
      inputs: [],
      outputs: [],
      metadata: {
        source,
        format: 'onnx',
        opset: String(opset),
        ...(model.producer ? { producer: model.producer } : {}),
      },
    };
    for (const [name, c] of model.initializers) this.values.set(name, { kind: 'const', c });
    for (const n of model.nodes)
      for (const i of n.inputs) this.readers.set(i, (this.readers.get(i) ?? 0) + 1);
  }

  // --- values -------------------------------------------------------------------------------

  value(name: string, what: string): Value {
    const v = this.values.get(name);
    if (!v)
      throw new FileProblem(
        `${what} reads "${name}", which is neither an input, an initializer nor an earlier node's output`,
      );
    return v;
  }

  act(name: string, what: string): Act {
    const v = this.value(name, what);
    if (v.kind !== 'act') throw new FileProblem(`${what}: input "${name}" must not be a constant`);
    return v;
  }

  /** An activation with any pending pad emitted and no flattened order. */
  plain(name: string, what: string): Act {
    return this.plainAct(this.act(name, what), what);
  }

  constant(name: string | undefined, what: string): OnnxConst | undefined {
    if (name === undefined || name === '') return undefined;
    const v = this.value(name, what);
    if (v.kind !== 'const') throw new FileProblem(`${what}: input "${name}" must be a constant`);
    return v.c;
  }

  shape(a: Act): number[] {
    return this.g.tensors.get(a.tensor)!.shape;
  }

  /** The activation's shape in ONNX order (batch 1). */
  onnxShape(a: Act): number[] {
    const s = this.shape(a);
    const out = new Array<number>(s.length);
    a.perm.forEach((p, k) => (out[p] = s[k]!));
    return out;
  }

  /** A 4-D activation laid out NCHW in ONNX (so NHWC in the Graph). */
  nchw(name: string, what: string): Act {
    const a = this.plain(name, what);
    this.requireNchw(a, what);
    return a;
  }

  addConst(base: string, shape: number[], data: Float32Array): string {
    const name = uniqueTensorName(this.g, base);
    this.g.tensors.set(name, { name, shape, dtype: 'float32', data });
    return name;
  }

  /** Emits one Graph op; its output tensor takes the ONNX value's name. */
  emit(
    kind: OpKind,
    node: OnnxNode | string,
    inputs: string[],
    attrs: OpAttrs,
    outName: string,
    perm: number[],
  ): Act {
    const out = uniqueTensorName(this.g, outName);
    this.g.tensors.set(out, { name: out, shape: [], dtype: 'float32' });
    const name = typeof node === 'string' ? node : node.name || `${kind}_${this.opCount}`;
    const op: Op = { kind, name, inputs, outputs: [out], attrs };
    this.g.ops.push(op);
    this.opCount++;
    this.g.tensors.get(out)!.shape = inferOpShape(this.g, op, this.g.ops.length - 1);
    return { kind: 'act', tensor: out, perm };
  }

  setOutput(node: OnnxNode, v: Value, index = 0): void {
    const name = node.outputs[index];
    if (name) this.values.set(name, v);
  }

  /** Emits a pending pad as a pad op. */
  materialise(a: Act, what: string): Act {
    if (!a.pending) return a;
    const done = this.emitted.get(a.tensor);
    if (done) return done;
    const src = this.materialise(a.pending.source, what);
    const out = this.emit(
      'pad',
      a.tensor,
      [src.tensor],
      { paddings: a.pending.pads },
      a.tensor,
      src.perm,
    );
    this.emitted.set(a.tensor, out);
    return out;
  }

  // --- layout helpers -----------------------------------------------------------------------

  /** A constant laid out like `a` in the Graph (broadcast to a's ONNX shape, then permuted). */
  constLike(c: OnnxConst, a: Act, base: string, what: string): string {
    const shape = this.onnxShape(a);
    const full = numElements(c.dims) === 1 ? c : broadcastConst(c, shape, what);
    const t = numElements(c.dims) === 1 ? full : transposeConst(full, a.perm, what);
    const gShape = numElements(c.dims) === 1 ? [] : this.shape(a);
    return this.addConst(base, gShape, Float32Array.from(t.data));
  }

  /** Graph [outC, inC-order] weight for an FC reading `a` from a [K, N] (ONNX) matrix. */
  fcWeights(a: Act, kn: OnnxConst, base: string): string {
    const [k, n] = kn.dims as [number, number];
    const w = new Float32Array(k * n);
    for (let o = 0; o < n; o++)
      for (let i = 0; i < k; i++) {
        const src = a.flat ? a.flat[i]! : i;
        w[o * k + i] = kn.data[src * n + o]!;
      }
    return this.addConst(base, [n, k], w);
  }

  /** 'same' / 'valid' for explicit pads [top, left, bottom, right], or undefined. */
  paddingFor(
    inHW: number[],
    kernel: number[],
    strides: number[],
    dil: number[],
    pads: number[],
  ): Padding | undefined {
    if (pads.every((p) => p === 0)) return 'valid';
    for (let ax = 0; ax < 2; ax++) {
      const before = padBefore(inHW[ax]!, kernel[ax]!, strides[ax]!, 'same', dil[ax]!);
      const out = Math.ceil(inHW[ax]! / strides[ax]!);
      const total = Math.max(
        0,
        (out - 1) * strides[ax]! + (kernel[ax]! - 1) * dil[ax]! + 1 - inHW[ax]!,
      );
      if (pads[ax] !== before || pads[ax + 2] !== total - before) return undefined;
    }
    return 'same';
  }

  /** Resolves a windowed op's padding: auto_pad, explicit pads, and a pending zero Pad before it. */
  windowInput(
    node: OnnxNode,
    what: string,
    kernel: number[],
    strides: number[],
    dil: number[],
    allowExplicit: boolean,
  ): { x: Act; padding: Padding } {
    let x = this.act(node.inputs[0]!, what);
    const autoPad = node.attrs.get('auto_pad')?.s ?? 'NOTSET';
    const own = [...(node.attrs.get('pads')?.ints ?? [0, 0, 0, 0])];
    if (own.length !== 4 || own.some((p) => !Number.isInteger(p) || p < 0 || p > 1 << 16))
      throw new FileProblem(`${what}: pads ${fmt(own)} is not four non-negative integers`);
    if (autoPad !== 'SAME_UPPER' && autoPad !== 'VALID' && autoPad !== 'NOTSET')
      throw new FileProblem(
        `${what}: auto_pad ${autoPad} is not supported (NOTSET, SAME_UPPER and VALID are)`,
      );
    if (autoPad !== 'NOTSET') {
      x = this.plainAct(x, what);
      this.requireNchw(x, what);
      return { x, padding: autoPad === 'SAME_UPPER' ? 'same' : 'valid' };
    }
    let pads = own;
    if (x.pending && allowExplicit) {
      // A zero Pad of the spatial axes only (PyTorch's ZeroPad2d) folds into the window's pads
      // when the sum is TensorFlow's SAME padding.
      const p = x.pending.pads;
      const src = x.pending.source;
      if (
        same(src.perm, NCHW_TO_NHWC) &&
        !src.flat &&
        p[0]!.every((v) => v === 0) &&
        p[3]!.every((v) => v === 0)
      ) {
        const sum = [
          own[0]! + p[1]![0],
          own[1]! + p[2]![0],
          own[2]! + p[1]![1],
          own[3]! + p[2]![1],
        ];
        if (this.paddingFor(this.shape(src).slice(1, 3), kernel, strides, dil, sum) === 'same') {
          x = src;
          pads = sum;
        }
      }
    }
    x = this.plainAct(x, what);
    this.requireNchw(x, what);
    const padding = this.paddingFor(this.shape(x).slice(1, 3), kernel, strides, dil, pads);
    if (padding) return { x, padding };
    if (!allowExplicit)
      throw new FileProblem(
        `${what}: pads ${fmt(pads)} match neither TensorFlow's SAME nor VALID padding`,
      );
    // Other explicit pads: a pad op, then a VALID window.
    const padded = this.emit(
      'pad',
      `${node.name || x.tensor}_pads`,
      [x.tensor],
      {
        paddings: [
          [0, 0],
          [pads[0]!, pads[2]!],
          [pads[1]!, pads[3]!],
          [0, 0],
        ],
      },
      `${x.tensor}_padded`,
      x.perm,
    );
    return { x: padded, padding: 'valid' };
  }

  requireNchw(x: Act, what: string): void {
    if (!same(x.perm, NCHW_TO_NHWC))
      throw new FileProblem(
        `${what} needs a 4-D NCHW input, got shape ${fmt(this.onnxShape(x))}${x.perm.length === 4 ? ' in another layout' : ''}`,
      );
  }

  /** `a` with any pending pad emitted; refuses a flattened NCHW order. */
  plainAct(a: Act, what: string): Act {
    const m = this.materialise(a, what);
    if (m.flat)
      throw new FileProblem(`${what} reads a flattened NCHW tensor; only Gemm/MatMul can read it`);
    return m;
  }

  readersOf(name: string): number {
    return this.readers.get(name) ?? 0;
  }

  // --- the conversion -----------------------------------------------------------------------

  run(): Graph {
    const m = this.model;
    const inputs = m.inputs.filter((i) => !m.initializers.has(i.name));
    if (inputs.length !== 1)
      throw new FileProblem(
        `expected one graph input, found ${inputs.length}${inputs.length ? ` (${inputs.map((i) => i.name).join(', ')})` : ''}`,
      );
    const input = inputs[0]!;
    if (input.elemType !== ONNX_DTYPE.FLOAT)
      throw new FileProblem(
        `input "${input.name}" is ${dtypeName(input.elemType)}, expected float`,
      );
    const dims = input.shape;
    if (!dims || dims.length < 2)
      throw new FileProblem(`input "${input.name}" needs a known shape of rank 2 or more`);
    const fixed = dims.slice(1).map((d) => {
      if (typeof d !== 'number' || d <= 0 || d > 1 << 20)
        throw new FileProblem(
          `input "${input.name}" has dimension ${JSON.stringify(d)}; only the batch dimension may be symbolic`,
        );
      return d;
    });
    // A 4-D input is NCHW unless only Transposes read it (then it already is NHWC, as in
    // tinyprune's own exports).
    const onlyTransposes = m.nodes
      .filter((n) => n.inputs.includes(input.name))
      .every((n) => n.opType === 'Transpose');
    const perm = dims.length === 4 && !onlyTransposes ? NCHW_TO_NHWC : dims.map((_, i) => i);
    const onnxShape = [1, ...fixed];
    const gShape = perm.map((p) => onnxShape[p]!);
    this.g.tensors.set(input.name, { name: input.name, shape: gShape, dtype: 'float32' });
    this.g.inputs = [input.name];
    this.g.metadata.onnxInputLayout = dims.length === 4 && !onlyTransposes ? 'NCHW' : 'as graph';
    this.values.set(input.name, { kind: 'act', tensor: input.name, perm });

    m.nodes.forEach((node, i) => this.node(node, i));

    if (m.outputs.length !== 1)
      throw new FileProblem(`expected one graph output, found ${m.outputs.length}`);
    const outName = m.outputs[0]!.name;
    const out = this.plain(outName, `graph output "${outName}"`);
    if (out.tensor === input.name)
      throw new FileProblem('the graph output is its input: no ops to import');
    this.g.outputs = [out.tensor];
    pruneUnusedTensors(this.g);
    validateGraph(this.g);
    return fuseActivations(this.g);
  }

  node(node: OnnxNode, index: number): void {
    const what = `node ${index} (${node.opType}${node.name ? ` "${node.name}"` : ''}, opset ${this.opset})`;
    if (node.domain !== '' && node.domain !== 'ai.onnx')
      throw new FileProblem(`${what}: operator domain "${node.domain}" is not supported`);
    if (node.outputs.length === 0 || node.outputs[0] === '')
      throw new FileProblem(`${what} has no output`);
    const ins = node.inputs.map((n) => (n === '' ? undefined : this.values.get(n)));
    node.inputs.forEach((n, k) => {
      if (n !== '' && !ins[k]) this.value(n, what);
    });
    const evalConst = Object.hasOwn(CONSTANT_OPS, node.opType)
      ? CONSTANT_OPS[node.opType]
      : undefined;
    const allConst = ins.every((v) => v === undefined || v.kind === 'const');
    if (evalConst && allConst && (node.opType !== 'Constant' || node.inputs.length === 0)) {
      const c = evalConst(
        node,
        ins.map((v) => (v?.kind === 'const' ? v.c : undefined)),
        what,
      );
      this.setOutput(node, { kind: 'const', c });
      return;
    }
    const convert = Object.hasOwn(CONVERTERS, node.opType) ? CONVERTERS[node.opType] : undefined;
    if (!convert)
      throw new FileProblem(
        `${what}: operator ${node.opType} is not supported${evalConst ? ' on non-constant inputs' : ''} (supported: ${SUPPORTED})`,
      );
    convert(this, node, what);
  }
}

type Converter = (im: Importer, node: OnnxNode, what: string) => void;

function ints(node: OnnxNode, name: string, dflt: number[]): number[] {
  return node.attrs.get(name)?.ints ?? dflt;
}

function int(node: OnnxNode, name: string, dflt: number): number {
  return node.attrs.get(name)?.i ?? dflt;
}

function float(node: OnnxNode, name: string, dflt: number): number {
  return node.attrs.get(name)?.f ?? dflt;
}

function pair(v: number[], what: string, name: string): [number, number] {
  if (v.length !== 2 || v.some((x) => !Number.isInteger(x) || x < 1 || x > 1 << 16))
    throw new FileProblem(`${what}: ${name} ${fmt(v)} is not two positive integers`);
  return [v[0]!, v[1]!];
}

function conv(im: Importer, node: OnnxNode, what: string): void {
  const w = im.constant(node.inputs[1], `${what} weights`);
  if (!w) throw new FileProblem(`${what} needs constant weights`);
  if (w.dims.length !== 4)
    throw new FileProblem(
      `${what}: weights of shape ${fmt(w.dims)}, expected 4-D (2-D convolution)`,
    );
  const [o, ipg, kh, kw] = w.dims as [number, number, number, number];
  const kernel = pair(ints(node, 'kernel_shape', [kh, kw]), what, 'kernel_shape');
  if (kernel[0] !== kh || kernel[1] !== kw)
    throw new FileProblem(
      `${what}: kernel_shape ${fmt(kernel)} differs from the weights' [${kh}, ${kw}]`,
    );
  const strides = pair(ints(node, 'strides', [1, 1]), what, 'strides');
  const dil = pair(ints(node, 'dilations', [1, 1]), what, 'dilations');
  const { x, padding } = im.windowInput(node, what, kernel, strides, dil, true);
  const c = im.shape(x)[3]!;
  const group = int(node, 'group', 1);
  const bias = im.constant(node.inputs[2], `${what} bias`);
  if (bias && numElements(bias.dims) !== o)
    throw new FileProblem(
      `${what}: bias of ${numElements(bias.dims)} values for ${o} output channels`,
    );
  const base = node.name || node.outputs[0]!;
  const attrs: OpAttrs = { strides, dilations: dil, padding, activation: 'none' };
  let kind: OpKind;
  let wName: string;
  if (group === 1) {
    if (ipg !== c)
      throw new FileProblem(`${what}: weights expect ${ipg} input channels, the input has ${c}`);
    kind = 'conv2d';
    wName = im.addConst(
      `${base}/weights`,
      [o, kh, kw, c],
      Float32Array.from(transposeConst(w, [0, 2, 3, 1], what).data),
    );
  } else if (group === c && ipg === 1 && o % c === 0) {
    kind = 'depthwiseConv2d';
    attrs.depthMultiplier = o / c;
    wName = im.addConst(
      `${base}/weights`,
      [1, kh, kw, o],
      Float32Array.from(transposeConst(w, [1, 2, 3, 0], what).data),
    );
  } else
    throw new FileProblem(
      `${what}: grouped convolution with ${group} groups of ${ipg} channels is not supported (only group 1 and depthwise, group = input channels)`,
    );
  const inputs = [x.tensor, wName];
  if (bias) inputs.push(im.addConst(`${base}/bias`, [o], Float32Array.from(bias.data)));
  im.setOutput(node, im.emit(kind, node, inputs, attrs, node.outputs[0]!, x.perm));
}

function pool(kind: 'averagePool2d' | 'maxPool2d'): Converter {
  return (im, node, what) => {
    const kernel = pair(ints(node, 'kernel_shape', []), what, 'kernel_shape');
    const strides = pair(ints(node, 'strides', [1, 1]), what, 'strides');
    if (int(node, 'ceil_mode', 0) !== 0)
      throw new FileProblem(`${what}: ceil_mode 1 is not supported`);
    if (ints(node, 'dilations', [1, 1]).some((d) => d !== 1))
      throw new FileProblem(`${what}: dilated pooling is not supported`);
    if (node.outputs.length > 1 && node.outputs[1])
      throw new FileProblem(`${what}: the Indices output is not supported`);
    const explicitPads = (node.attrs.get('pads')?.ints ?? []).some((p) => p !== 0);
    // TensorFlow's SAME average pool leaves padding out of the count: only that form maps.
    if (kind === 'averagePool2d' && explicitPads && int(node, 'count_include_pad', 0) !== 0)
      throw new FileProblem(
        `${what}: padded AveragePool with count_include_pad 1 is not supported`,
      );
    const { x, padding } = im.windowInput(node, what, kernel, strides, [1, 1], false);
    im.setOutput(
      node,
      im.emit(
        kind,
        node,
        [x.tensor],
        { poolSize: kernel, strides, padding, activation: 'none' },
        node.outputs[0]!,
        x.perm,
      ),
    );
  };
}

function unary(kind: 'relu' | 'relu6'): Converter {
  return (im, node, what) => {
    const x = im.plain(node.inputs[0]!, what);
    im.setOutput(node, im.emit(kind, node, [x.tensor], {}, node.outputs[0]!, x.perm));
  };
}

function scalarOf(im: Importer, name: string | undefined, what: string): number | undefined {
  const c = im.constant(name, what);
  if (!c) return undefined;
  if (c.data.length !== 1) throw new FileProblem(`${what} must be a scalar`);
  return c.data[0]!;
}

const clip: Converter = (im, node, what) => {
  const lo =
    im.opset >= 11 ? scalarOf(im, node.inputs[1], `${what} min`) : node.attrs.get('min')?.f;
  const hi =
    im.opset >= 11 ? scalarOf(im, node.inputs[2], `${what} max`) : node.attrs.get('max')?.f;
  const x = im.plain(node.inputs[0]!, what);
  let kind: 'relu' | 'relu6';
  if (lo === 0 && (hi === undefined || hi === Infinity)) kind = 'relu';
  else if (lo === 0 && hi === 6) kind = 'relu6';
  else
    throw new FileProblem(
      `${what}: Clip to [${lo ?? '-inf'}, ${hi ?? 'inf'}] is not supported (only [0, 6] and [0, inf])`,
    );
  im.setOutput(node, im.emit(kind, node, [x.tensor], {}, node.outputs[0]!, x.perm));
};

const add: Converter = (im, node, what) => {
  if (node.inputs.length !== 2) throw new FileProblem(`${what} needs two inputs`);
  let [a, b] = node.inputs.map((n) => im.value(n, what)) as [Value, Value];
  if (a.kind === 'const') [a, b] = [b, a];
  if (a.kind === 'const') throw new FileProblem(`${what}: unreachable constant Add`);
  const x = im.plainAct(a, what);
  if (b.kind === 'const') {
    // MatMul + Add (tf2onnx's dense layer): the addend becomes the FC's bias.
    const prod = im.g.ops[im.g.ops.length - 1];
    const n = im.shape(x)[im.shape(x).length - 1]!;
    if (
      prod?.kind === 'fullyConnected' &&
      prod.outputs[0] === x.tensor &&
      prod.inputs.length === 2 &&
      numElements(b.c.dims) === n &&
      b.c.dims.length <= 2
    ) {
      prod.inputs.push(im.addConst(`${prod.name}/bias`, [n], Float32Array.from(b.c.data)));
      im.setOutput(node, x);
      return;
    }
    const k = im.constLike(b.c, x, `${node.name || node.outputs[0]}/addend`, what);
    im.setOutput(
      node,
      im.emit('add', node, [x.tensor, k], { activation: 'none' }, node.outputs[0]!, x.perm),
    );
    return;
  }
  const y = im.plainAct(b, what);
  if (!same(x.perm, y.perm) || !same(im.shape(x), im.shape(y)))
    throw new FileProblem(
      `${what}: adds ${fmt(im.onnxShape(x))} and ${fmt(im.onnxShape(y))}; only equal shapes in the same layout are supported`,
    );
  im.setOutput(
    node,
    im.emit('add', node, [x.tensor, y.tensor], { activation: 'none' }, node.outputs[0]!, x.perm),
  );
};

const batchNorm: Converter = (im, node, what) => {
  const x = im.plain(node.inputs[0]!, what);
  const rank = x.perm.length;
  // The Graph normalises the last axis: ONNX's channel axis 1 must be the Graph's last.
  if (x.perm[rank - 1] !== 1)
    throw new FileProblem(`${what}: the channel axis is not innermost in this layout`);
  const c = im.shape(x)[rank - 1]!;
  const names = ['scale', 'B', 'mean', 'var'].map((label, k) => {
    const v = im.constant(node.inputs[k + 1], `${what} ${label}`);
    if (!v || numElements(v.dims) !== c)
      throw new FileProblem(`${what}: ${label} must be a constant of ${c} values`);
    return im.addConst(`${node.name || node.outputs[0]}/${label}`, [c], Float32Array.from(v.data));
  });
  const epsilon = float(node, 'epsilon', 1e-5);
  im.setOutput(
    node,
    im.emit('batchNorm', node, [x.tensor, ...names], { epsilon }, node.outputs[0]!, x.perm),
  );
};

const globalAveragePool: Converter = (im, node, what) => {
  const x = im.nchw(node.inputs[0]!, what);
  im.setOutput(
    node,
    im.emit('mean', node, [x.tensor], { axes: [1, 2], keepDims: true }, node.outputs[0]!, x.perm),
  );
};

const reduceMean: Converter = (im, node, what) => {
  const x = im.plain(node.inputs[0]!, what);
  const rank = x.perm.length;
  const axesIn =
    im.opset >= 18
      ? Array.from(im.constant(node.inputs[1], what)?.data ?? [])
      : ints(node, 'axes', []);
  const onnxAxes = (axesIn.length ? axesIn : x.perm.map((_, i) => i)).map((a) =>
    a < 0 ? a + rank : a,
  );
  const keep = int(node, 'keepdims', 1) === 1;
  const gAxes = x.perm.flatMap((p, k) => (onnxAxes.includes(p) ? [k] : [])).sort();
  if (gAxes.length !== onnxAxes.length)
    throw new FileProblem(`${what}: axes ${fmt(axesIn)} out of range`);
  let perm = x.perm;
  if (!keep) {
    const kept = x.perm.filter((p) => !onnxAxes.includes(p));
    const rankOf = [...kept].sort((a, b) => a - b);
    perm = kept.map((p) => rankOf.indexOf(p));
  }
  im.setOutput(
    node,
    im.emit('mean', node, [x.tensor], { axes: gAxes, keepDims: keep }, node.outputs[0]!, perm),
  );
};

/**
 * Flatten/Reshape of an activation. When the Graph holds the value in another order than ONNX
 * (NCHW → NHWC), a flatten to [N, K] keeps the Graph order and records the permutation for the
 * Gemm/MatMul that reads it; other reshapes need the orders to agree.
 */
function reshapeAct(im: Importer, node: OnnxNode, x: Act, target: number[], what: string): void {
  const onnxIn = im.onnxShape(x);
  const outDims = reshapeDims(onnxIn, target, false, what);
  outDims[0] = 1; // the batch stays 1
  if (numElements(outDims) !== numElements(onnxIn))
    throw new FileProblem(
      `${what}: cannot reshape ${fmt(onnxIn)} into ${fmt(target)} with a batch of 1`,
    );
  // Same element order if the permutation keeps the non-unit axes in order.
  const nonUnit = x.perm.filter((p) => onnxIn[p]! !== 1);
  const inOrder = nonUnit.every((p, i) => i === 0 || p > nonUnit[i - 1]!);
  const identity = outDims.map((_, i) => i);
  if (inOrder && !x.flat) {
    // A reshape to the shape the Graph already holds (an exporter's flatten before Gemm) is none.
    if (same(im.shape(x), outDims)) {
      im.setOutput(node, { kind: 'act', tensor: x.tensor, perm: identity });
      return;
    }
    im.setOutput(
      node,
      im.emit('reshape', node, [x.tensor], { newShape: outDims }, node.outputs[0]!, identity),
    );
    return;
  }
  if (outDims.length !== 2 || x.flat)
    throw new FileProblem(
      `${what}: reshaping ${fmt(onnxIn)} to ${fmt(outDims)} would reorder elements across the NCHW → NHWC layout change`,
    );
  // Graph element i (in Graph order) is ONNX element flat[i].
  const gShape = im.shape(x);
  const onnxStrides = onnxIn.map((_, k) => numElements(onnxIn.slice(k + 1)));
  const flat = new Int32Array(numElements(gShape));
  const idx = gShape.map(() => 0);
  for (let i = 0; i < flat.length; i++) {
    let src = 0;
    for (let k = 0; k < idx.length; k++) src += idx[k]! * onnxStrides[x.perm[k]!]!;
    flat[i] = src;
    for (let k = idx.length - 1; k >= 0; k--) {
      if (++idx[k]! < gShape[k]!) break;
      idx[k] = 0;
    }
  }
  const out = im.emit(
    'reshape',
    node,
    [x.tensor],
    { newShape: outDims },
    node.outputs[0]!,
    identity,
  );
  im.setOutput(node, { ...out, flat });
}

const flatten: Converter = (im, node, what) => {
  const x = im.materialise(im.act(node.inputs[0]!, what), what);
  const s = im.onnxShape(x);
  const axis = int(node, 'axis', 1);
  if (axis !== 1)
    throw new FileProblem(`${what}: Flatten axis ${axis} is not supported (axis 1 is)`);
  reshapeAct(im, node, x, [1, numElements(s.slice(1))], what);
};

const reshape: Converter = (im, node, what) => {
  const x = im.materialise(im.act(node.inputs[0]!, what), what);
  const t = im.constant(node.inputs[1], `${what} shape`);
  if (!t) throw new FileProblem(`${what} needs a constant shape`);
  if (int(node, 'allowzero', 0) !== 0)
    throw new FileProblem(`${what}: allowzero 1 is not supported`);
  reshapeAct(im, node, x, Array.from(t.data), what);
};

function gemmLike(
  im: Importer,
  node: OnnxNode,
  what: string,
  kn: OnnxConst,
  bias: OnnxConst | undefined,
  alpha: number,
  beta: number,
): void {
  const x = im.materialise(im.act(node.inputs[0]!, what), what);
  const s = im.onnxShape(x);
  if (s.length !== 2 || (!x.flat && !isIdentity(x.perm)))
    throw new FileProblem(
      `${what}: input of shape ${fmt(s)}; a 2-D [batch, features] input is expected`,
    );
  const [k, n] = kn.dims as [number, number];
  if (s[1] !== k)
    throw new FileProblem(`${what}: weights expect ${k} inputs, the input has ${s[1]}`);
  const base = node.name || node.outputs[0]!;
  const scaled: OnnxConst = alpha === 1 ? kn : { ...kn, data: kn.data.map((v) => v * alpha) };
  const inputs = [x.tensor, im.fcWeights(x, scaled, `${base}/weights`)];
  if (bias) {
    if (numElements(bias.dims) !== n && numElements(bias.dims) !== 1)
      throw new FileProblem(`${what}: bias of shape ${fmt(bias.dims)} for ${n} outputs`);
    const b =
      numElements(bias.dims) === 1
        ? new Float32Array(n).fill(bias.data[0]!)
        : Float32Array.from(bias.data);
    if (beta !== 1) for (let i = 0; i < n; i++) b[i] = b[i]! * beta;
    inputs.push(im.addConst(`${base}/bias`, [n], b));
  }
  im.setOutput(
    node,
    im.emit('fullyConnected', node, inputs, { activation: 'none' }, node.outputs[0]!, [0, 1]),
  );
}

const gemm: Converter = (im, node, what) => {
  if (int(node, 'transA', 0) !== 0) throw new FileProblem(`${what}: transA 1 is not supported`);
  const b = im.constant(node.inputs[1], `${what} B`);
  if (!b || b.dims.length !== 2) throw new FileProblem(`${what} needs a constant 2-D B`);
  const kn = int(node, 'transB', 0) === 1 ? transposeConst(b, [1, 0], what) : b;
  gemmLike(
    im,
    node,
    what,
    kn,
    im.constant(node.inputs[2], `${what} C`),
    float(node, 'alpha', 1),
    float(node, 'beta', 1),
  );
};

const matMul: Converter = (im, node, what) => {
  const b = im.constant(node.inputs[1], `${what} B`);
  if (!b || b.dims.length !== 2) throw new FileProblem(`${what} needs a constant 2-D second input`);
  gemmLike(im, node, what, b, undefined, 1, 1);
};

const softmax: Converter = (im, node, what) => {
  const x = im.plain(node.inputs[0]!, what);
  const rank = x.perm.length;
  const dflt = im.opset >= 13 ? -1 : 1;
  let axis = int(node, 'axis', dflt);
  if (axis < 0) axis += rank;
  // Before opset 13 Softmax flattens from `axis` on; for [N, K] both readings agree.
  if (im.opset < 13 && !(rank === 2 && axis === 1))
    throw new FileProblem(`${what}: Softmax before opset 13 is supported on 2-D inputs only`);
  if (x.perm[rank - 1] !== axis)
    throw new FileProblem(
      `${what}: Softmax over axis ${axis} is not the innermost axis in this layout`,
    );
  im.setOutput(node, im.emit('softmax', node, [x.tensor], { beta: 1 }, node.outputs[0]!, x.perm));
};

const pad: Converter = (im, node, what) => {
  const x = im.act(node.inputs[0]!, what);
  const mode = node.attrs.get('mode')?.s ?? 'constant';
  if (mode !== 'constant')
    throw new FileProblem(`${what}: Pad mode "${mode}" is not supported (constant is)`);
  const p =
    im.opset >= 11
      ? Array.from(im.constant(node.inputs[1], `${what} pads`)?.data ?? [])
      : ints(node, 'pads', []);
  const value =
    im.opset >= 11
      ? (scalarOf(im, node.inputs[2], `${what} constant_value`) ?? 0)
      : float(node, 'value', 0);
  if (value !== 0)
    throw new FileProblem(`${what}: padding with ${value} is not supported (zero padding is)`);
  if (node.inputs[3]) throw new FileProblem(`${what}: the axes input is not supported`);
  const rank = x.perm.length;
  if (p.length !== 2 * rank || p.some((v) => !Number.isInteger(v) || v < 0 || v > 1 << 16))
    throw new FileProblem(`${what}: pads ${fmt(p)} must be ${2 * rank} non-negative integers`);
  const pads = x.perm.map((ax) => [p[ax]!, p[ax + rank]!] as [number, number]);
  if (pads.every(([a, b]) => a === 0 && b === 0)) {
    im.setOutput(node, x);
    return;
  }
  if (pads[0]![0] !== 0 || pads[0]![1] !== 0)
    throw new FileProblem(`${what}: padding the batch axis is not supported`);
  const src = im.materialise(x, what);
  if (src.flat) throw new FileProblem(`${what} reads a flattened NCHW tensor`);
  const name = node.outputs[0]!;
  // Deferred: a following Conv may absorb it into 'same' padding (PyTorch's ZeroPad2d + Conv).
  if (im.readersOf(name) === 1) {
    const placeholder: Act = {
      kind: 'act',
      tensor: name,
      perm: src.perm,
      pending: { source: src, pads },
    };
    im.setOutput(node, placeholder);
    return;
  }
  im.setOutput(node, im.emit('pad', node, [src.tensor], { paddings: pads }, name, src.perm));
};

const transpose: Converter = (im, node, what) => {
  const x = im.materialise(im.act(node.inputs[0]!, what), what);
  if (x.flat) throw new FileProblem(`${what} reads a flattened NCHW tensor`);
  const rank = x.perm.length;
  const q = ints(
    node,
    'perm',
    x.perm.map((_, i) => rank - 1 - i),
  );
  if (q.length !== rank || [...q].sort().some((v, i) => v !== i))
    throw new FileProblem(`${what}: perm ${fmt(q)} does not fit rank ${rank}`);
  const qinv = new Array<number>(rank);
  q.forEach((v, i) => (qinv[v] = i));
  // Graph axis k was ONNX axis perm[k] of the input, which is axis qinv[perm[k]] of the output.
  im.setOutput(node, { kind: 'act', tensor: x.tensor, perm: x.perm.map((p) => qinv[p]!) });
};

const identity: Converter = (im, node, what) => {
  im.setOutput(node, im.value(node.inputs[0]!, what));
};

const shapeOf: Converter = (im, node, what) => {
  const x = im.act(node.inputs[0]!, what);
  const s = im.onnxShape(im.materialise(x, what));
  im.setOutput(node, {
    kind: 'const',
    c: { dtype: ONNX_DTYPE.INT64, dims: [s.length], data: Float64Array.from(s) },
  });
};

/** ONNX operator → converter for non-constant inputs (constants go through CONSTANT_OPS). */
const CONVERTERS: Record<string, Converter> = {
  Conv: conv,
  BatchNormalization: batchNorm,
  Relu: unary('relu'),
  Clip: clip,
  Add: add,
  GlobalAveragePool: globalAveragePool,
  ReduceMean: reduceMean,
  AveragePool: pool('averagePool2d'),
  MaxPool: pool('maxPool2d'),
  Flatten: flatten,
  Reshape: reshape,
  Gemm: gemm,
  MatMul: matMul,
  Softmax: softmax,
  Pad: pad,
  Transpose: transpose,
  Identity: identity,
  Dropout: identity,
  Shape: shapeOf,
};

const SUPPORTED = [...new Set([...Object.keys(CONVERTERS), ...Object.keys(CONSTANT_OPS)])]
  .sort()
  .join(', ');

/**
 * Reads an .onnx ModelProto into a Graph. `source` names the file in error messages and
 * metadata. Throws TinypruneError (one line, naming the problem) for corrupt, truncated or
 * unsupported files.
 */
export function readOnnx(bytes: Uint8Array, source: string): Graph {
  try {
    const model = decodeModel(bytes);
    const opset = model.opsets.get('') ?? model.opsets.get('ai.onnx');
    if (opset === undefined) throw new FileProblem('no opset_import for the default ONNX domain');
    if (opset < MIN_OPSET || opset > MAX_OPSET)
      throw new FileProblem(
        `opset ${opset} is not supported (opsets ${MIN_OPSET}–${MAX_OPSET} are)`,
      );
    return new Importer(model, opset, source).run();
  } catch (e) {
    // Names come from the file: control characters are escaped to keep the message one line.
    const fail = (msg: string, code = 2) => new TinypruneError(oneLine(`${source}: ${msg}`), code);
    if (e instanceof TinypruneError) throw fail(e.message, e.exitCode);
    if (e instanceof FileProblem) throw fail(e.message);
    if (e instanceof ProtoError) throw fail(`corrupt or truncated ONNX file: ${e.message}`);
    // Safety net: anything else a damaged file provokes is still a one-line user error.
    throw fail(`cannot read this ONNX file (${(e as Error)?.message ?? String(e)})`);
  }
}

function oneLine(s: string): string {
  return s.replace(
    /[\u0000-\u001f\u007f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
