// ONNX operators one by one, on small models written here with our protobuf writer (weights as
// typed float_data fields, not raw_data, so that path is read too): the imported Graph's float
// forward pass must equal onnxruntime on the same file. Unsupported input gives one clear line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { ProtoWriter } from '../src/engine/protobuf.js';
import { TinypruneError } from '../src/graph/types.js';
import { readOnnx } from '../src/io/onnx/reader.js';
import { runFloat } from '../src/quant/floatRef.js';

type Attr = number | number[] | string | { f: number };
interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attr>;
}

function attr(name: string, v: Attr): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (typeof v === 'number') return a.int(3, v).int(20, 2);
  if (typeof v === 'string') return a.string(4, v).int(20, 3);
  if (Array.isArray(v)) return a.repeatedInts(8, v).int(20, 7);
  return a.float(2, v.f).int(20, 1);
}

/** A float initializer written with float_data (field 4), or int64_data (field 7) for ints. */
function tensor(name: string, dims: number[], values: number[], int64 = false): ProtoWriter {
  const t = new ProtoWriter()
    .repeatedInts(1, dims)
    .int(2, int64 ? 7 : 1)
    .string(8, name);
  if (int64) return t.packedInts(7, values);
  for (const v of values) t.float(4, v);
  return t;
}

function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims)
    shape.message(
      1,
      typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d),
    );
  const tt = new ProtoWriter().int(1, 1).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tt));
}

function model(
  nodes: NodeSpec[],
  inits: ProtoWriter[],
  inShape: (number | string)[],
  opset = 13,
): Uint8Array {
  const g = new ProtoWriter();
  nodes.forEach((n, i) => {
    const w = new ProtoWriter();
    for (const x of n.inputs) w.string(1, x);
    for (const y of n.outputs) w.string(2, y);
    w.string(3, `n${i}`).string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, attr(k, v));
    g.message(1, w);
  });
  g.string(2, 'test');
  for (const t of inits) g.message(5, t);
  g.message(11, valueInfo('x', inShape));
  g.message(12, valueInfo('y', []));
  return new ProtoWriter()
    .int(1, 7)
    .message(7, g)
    .message(8, new ProtoWriter().string(1, '').int(2, opset))
    .finish();
}

function seededValues(n: number, seed: number): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/** NCHW → NHWC of one example. */
function toNhwc(x: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let k = 0; k < c; k++)
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) out[(i * w + j) * c + k] = x[(k * h + i) * w + j]!;
  return out;
}

/** Max |Δ| between onnxruntime on the file and our float reference on the imported Graph. */
async function maxDiff(bytes: Uint8Array, inShape: number[], nchw: boolean): Promise<number> {
  const x = Float32Array.from(
    seededValues(
      inShape.reduce((a, b) => a * b, 1),
      3,
    ),
  );
  const session = await ort.InferenceSession.create(bytes);
  const ref = (await session.run({ x: new ort.Tensor('float32', x, inShape) })).y!
    .data as Float32Array;
  await session.release();
  const g = readOnnx(bytes, 'test.onnx');
  const feed = nchw ? toNhwc(x, inShape[1]!, inShape[2]!, inShape[3]!) : x;
  const ours = runFloat(g, [feed])[0]!;
  assert.equal(ours.length, ref.length);
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  return worst;
}

const C = 3;
const H = 7;
const W = 6;
const conv = (name: string, o: number, i: number, k: number) =>
  tensor(name, [o, i, k, k], seededValues(o * i * k * k, o + k));

/**
 * 7x6 → Pad (top 1, bottom 2, right 1: not TensorFlow's SAME, so a pad op stays) 10x7 → Conv 3x3
 * s(2,1) 4x5 → BatchNormalization → Clip(0, hi) → depthwise Conv SAME 4x5 → Relu → MaxPool 2x2
 * s(1,2) 3x2 → Flatten 24 in NCHW order (Gemm's columns are reordered for NHWC) → Gemm.
 */
function convNet(hi: number): Uint8Array {
  return model(
    [
      { op: 'Pad', inputs: ['x', 'pads'], outputs: ['p'] },
      {
        op: 'Conv',
        inputs: ['p', 'w1', 'b1'],
        outputs: ['c1'],
        attrs: { kernel_shape: [3, 3], strides: [2, 1] },
      },
      {
        op: 'BatchNormalization',
        inputs: ['c1', 'g', 'be', 'm', 'v'],
        outputs: ['bn'],
        attrs: { epsilon: { f: 1e-3 } },
      },
      { op: 'Clip', inputs: ['bn', 'lo', 'hi'], outputs: ['r1'] },
      {
        op: 'Conv',
        inputs: ['r1', 'dw'],
        outputs: ['c2'],
        attrs: { group: 4, pads: [1, 1, 1, 1], kernel_shape: [3, 3] },
      },
      { op: 'Relu', inputs: ['c2'], outputs: ['r2'] },
      {
        op: 'MaxPool',
        inputs: ['r2'],
        outputs: ['mp'],
        attrs: { kernel_shape: [2, 2], strides: [1, 2] },
      },
      { op: 'Flatten', inputs: ['mp'], outputs: ['f'] },
      {
        op: 'Gemm',
        inputs: ['f', 'fc', 'fb'],
        outputs: ['y'],
        attrs: { transB: 1, alpha: { f: 0.5 } },
      },
    ],
    [
      tensor('pads', [8], [0, 0, 1, 0, 0, 0, 2, 1], true),
      conv('w1', 4, C, 3),
      tensor('b1', [4], [0.1, -0.2, 0.3, 0]),
      tensor('g', [4], [1, 0.5, 2, 1.5]),
      tensor('be', [4], [0, 0.1, -0.1, 0.2]),
      tensor('m', [4], [0.1, 0, -0.1, 0.2]),
      tensor('v', [4], [1, 2, 0.5, 1]),
      tensor('lo', [], [0]),
      tensor('hi', [], [hi]),
      conv('dw', 4, 1, 3),
      tensor('fc', [5, 24], seededValues(120, 9)),
      tensor('fb', [5], [0, 1, 2, 3, 4]),
    ],
    ['N', C, H, W],
  );
}

/** An NHWC input transposed to NCHW (as tinyprune's own export does), MatMul + Add, Softmax. */
function denseNet(): Uint8Array {
  return model(
    [
      { op: 'Transpose', inputs: ['x'], outputs: ['t'], attrs: { perm: [0, 3, 1, 2] } },
      { op: 'Conv', inputs: ['t', 'w'], outputs: ['c'], attrs: { auto_pad: 'SAME_UPPER' } },
      { op: 'GlobalAveragePool', inputs: ['c'], outputs: ['gap'] },
      { op: 'Reshape', inputs: ['gap', 'shape'], outputs: ['flat'] },
      { op: 'MatMul', inputs: ['flat', 'mm'], outputs: ['mmo'] },
      { op: 'Add', inputs: ['mmo', 'bias'], outputs: ['logits'] },
      { op: 'Softmax', inputs: ['logits'], outputs: ['y'], attrs: { axis: 1 } },
    ],
    [
      tensor('w', [8, C, 3, 3], seededValues(8 * C * 9, 4)),
      tensor('shape', [2], [-1, 8], true),
      tensor('mm', [8, 4], seededValues(32, 5)),
      tensor('bias', [4], [0.5, -0.5, 0.25, 0]),
    ],
    [1, H, W, C],
  );
}

describe('ONNX operators against onnxruntime', () => {
  it('pads, strides, BatchNormalization, Clip, depthwise, MaxPool, Flatten → Gemm', async () => {
    const bytes = convNet(6);
    const g = readOnnx(bytes, 'test.onnx');
    assert.deepEqual(
      g.ops.map((o) => o.kind),
      ['pad', 'conv2d', 'batchNorm', 'relu6', 'depthwiseConv2d', 'maxPool2d', 'reshape'].concat(
        'fullyConnected',
      ),
    );
    assert.equal(g.ops[4]!.attrs.padding, 'same');
    assert.equal(g.ops[4]!.attrs.activation, 'relu');
    assert.deepEqual(g.tensors.get(g.ops[7]!.inputs[1]!)!.shape, [5, 24]);
    const d = await maxDiff(bytes, [1, C, H, W], true);
    assert.ok(d < 1e-5, `max |Δ| ${d}`);
  });

  it('Transpose of an NHWC input, SAME_UPPER, GlobalAveragePool, Reshape, MatMul + Add, Softmax', async () => {
    const bytes = denseNet();
    const g = readOnnx(bytes, 'dense.onnx');
    // The Transpose costs nothing; the Add becomes the dense layer's bias.
    assert.deepEqual(
      g.ops.map((o) => o.kind),
      ['conv2d', 'mean', 'reshape', 'fullyConnected', 'softmax'],
    );
    assert.equal(g.ops[3]!.inputs.length, 3);
    const d = await maxDiff(bytes, [1, H, W, C], false);
    assert.ok(d < 1e-6, `max |Δ| ${d}`);
  });

  it('unsupported operators, attributes and opsets: one line naming node, op and opset', () => {
    const cases: [Uint8Array, RegExp][] = [
      [
        convNet(0.5),
        /^m\.onnx: node 3 \(Clip "n3", opset 13\): Clip to \[0, 0\.5\] is not supported/,
      ],
      [
        model([{ op: 'Relu', inputs: ['x'], outputs: ['y'] }], [], [1, 4], 9),
        /^m\.onnx: opset 9 is not supported \(opsets 11–17 are\)$/,
      ],
      [
        model([{ op: 'LSTM', inputs: ['x'], outputs: ['y'] }], [], [1, 4]),
        /^m\.onnx: node 0 \(LSTM "n0", opset 13\): operator LSTM is not supported \(supported: .*Conv.*\)$/,
      ],
      [
        model(
          [{ op: 'Conv', inputs: ['x', 'w'], outputs: ['y'], attrs: { group: 2 } }],
          [tensor('w', [4, 2, 1, 1], seededValues(8, 1))],
          [1, 4, 3, 3],
        ),
        /grouped convolution with 2 groups of 2 channels is not supported/,
      ],
    ];
    for (const [bytes, re] of cases)
      assert.throws(
        () => readOnnx(bytes, 'm.onnx'),
        (e: Error) => e instanceof TinypruneError && re.test(e.message),
      );
  });
});
