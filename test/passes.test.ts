import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { modelTotals } from '../src/graph/accounting.js';
import { addTensor, createGraph, getTensor, validateGraph } from '../src/graph/graph.js';
import { foldBatchNorm } from '../src/graph/passes/foldBatchNorm.js';
import { fuseActivations } from '../src/graph/passes/fuseActivations.js';
import { inferShapes } from '../src/graph/shapes.js';
import type { Graph, Op, OpAttrs, OpKind } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { model, needsShared } from './helpers/shared.js';

function rng(seed: number): () => number {
  // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- a tiny float64 reference evaluator (test-only; written from the op definitions) ----

function activate(v: number, a: OpAttrs['activation']): number {
  if (a === 'relu') return Math.max(0, v);
  if (a === 'relu6') return Math.min(6, Math.max(0, v));
  return v;
}

/** Output size and padding before, per TensorFlow's SAME/VALID definitions. */
function window(inSize: number, k: number, s: number, pad: 'same' | 'valid' | undefined) {
  if (pad === 'same') {
    const out = Math.ceil(inSize / s);
    return { out, before: Math.floor(Math.max(0, (out - 1) * s + k - inSize) / 2) };
  }
  return { out: Math.floor((inSize - k) / s) + 1, before: 0 };
}

function evaluate(g: Graph, input: Float64Array): Float64Array {
  const v = new Map<string, Float64Array>();
  for (const [name, t] of g.tensors)
    if (t.data) v.set(name, Float64Array.from(t.data as Float32Array));
  v.set(g.inputs[0]!, input);
  for (const op of g.ops) {
    const x = v.get(op.inputs[0]!)!;
    const xs = getTensor(g, op.inputs[0]!).shape;
    const outShape = getTensor(g, op.outputs[0]!).shape;
    const y = new Float64Array(outShape.reduce((a, b) => a * b, 1));
    const a = op.attrs;
    switch (op.kind) {
      case 'conv2d':
      case 'depthwiseConv2d': {
        const w = v.get(op.inputs[1]!)!;
        const ws = getTensor(g, op.inputs[1]!).shape;
        const b = op.inputs[2] ? v.get(op.inputs[2]) : undefined;
        const [, H, W, C] = xs as [number, number, number, number];
        const [kh, kw] = [ws[1]!, ws[2]!];
        const [sh, sw] = a.strides ?? [1, 1];
        const wy = window(H, kh, sh, a.padding);
        const wx = window(W, kw, sw, a.padding);
        const O = outShape[3]!;
        const mult = op.kind === 'depthwiseConv2d' ? O / C : 0;
        for (let oy = 0; oy < wy.out; oy++)
          for (let ox = 0; ox < wx.out; ox++)
            for (let o = 0; o < O; o++) {
              let s = b ? b[o]! : 0;
              for (let ky = 0; ky < kh; ky++) {
                const iy = oy * sh + ky - wy.before;
                if (iy < 0 || iy >= H) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = ox * sw + kx - wx.before;
                  if (ix < 0 || ix >= W) continue;
                  const base = (iy * W + ix) * C;
                  if (op.kind === 'conv2d')
                    for (let c = 0; c < C; c++)
                      s += x[base + c]! * w[((o * kh + ky) * kw + kx) * C + c]!;
                  else s += x[base + Math.floor(o / mult)]! * w[(ky * kw + kx) * O + o]!;
                }
              }
              y[(oy * wx.out + ox) * O + o] = activate(s, a.activation);
            }
        break;
      }
      case 'fullyConnected': {
        const w = v.get(op.inputs[1]!)!;
        const [units, inUnits] = getTensor(g, op.inputs[1]!).shape as [number, number];
        const b = op.inputs[2] ? v.get(op.inputs[2]) : undefined;
        for (let r = 0; r < x.length / inUnits; r++)
          for (let o = 0; o < units; o++) {
            let s = b ? b[o]! : 0;
            for (let i = 0; i < inUnits; i++) s += x[r * inUnits + i]! * w[o * inUnits + i]!;
            y[r * units + o] = activate(s, a.activation);
          }
        break;
      }
      case 'batchNorm': {
        const [gamma, beta, mean, variance] = op.inputs.slice(1).map((n) => v.get(n)!);
        const C = xs[xs.length - 1]!;
        for (let i = 0; i < x.length; i++) {
          const c = i % C;
          y[i] =
            ((x[i]! - mean![c]!) / Math.sqrt(variance![c]! + (a.epsilon ?? 1e-3))) * gamma![c]! +
            beta![c]!;
        }
        break;
      }
      case 'relu':
      case 'relu6':
        for (let i = 0; i < x.length; i++) y[i] = activate(x[i]!, op.kind);
        break;
      case 'add': {
        const z = v.get(op.inputs[1]!)!;
        for (let i = 0; i < x.length; i++) y[i] = activate(x[i]! + z[i]!, a.activation);
        break;
      }
      case 'averagePool2d': {
        const [, H, W, C] = xs as [number, number, number, number];
        const [kh, kw] = a.poolSize!;
        const [sh, sw] = a.strides ?? [1, 1];
        const wy = window(H, kh, sh, a.padding);
        const wx = window(W, kw, sw, a.padding);
        for (let oy = 0; oy < wy.out; oy++)
          for (let ox = 0; ox < wx.out; ox++)
            for (let c = 0; c < C; c++) {
              let s = 0;
              let n = 0;
              for (let ky = 0; ky < kh; ky++)
                for (let kx = 0; kx < kw; kx++) {
                  const iy = oy * sh + ky - wy.before;
                  const ix = ox * sw + kx - wx.before;
                  if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                  s += x[(iy * W + ix) * C + c]!;
                  n++;
                }
              y[(oy * wx.out + ox) * C + c] = activate(s / n, a.activation);
            }
        break;
      }
      case 'reshape':
        y.set(x);
        break;
      case 'softmax': {
        const C = xs[xs.length - 1]!;
        for (let r = 0; r < x.length / C; r++) {
          const row = x.subarray(r * C, r * C + C);
          const m = Math.max(...row);
          const e = row.map((q) => Math.exp(q - m));
          const sum = e.reduce((p, q) => p + q, 0);
          for (let c = 0; c < C; c++) y[r * C + c] = e[c]! / sum;
        }
        break;
      }
      default:
        throw new Error(`test evaluator lacks ${op.kind}`);
    }
    v.set(op.outputs[0]!, y);
  }
  return v.get(g.outputs[0]!)!;
}

function assertClose(actual: Float64Array, expected: Float64Array, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: lengths`);
  const scale = Math.max(1, ...expected.map(Math.abs));
  for (let i = 0; i < actual.length; i++)
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * scale,
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
}

// ---- hand-built graphs ----

class Builder {
  readonly g: Graph = createGraph('hand');
  private n = 0;
  constructor(private readonly r: () => number) {}
  input(shape: number[]): string {
    addTensor(this.g, { name: 'x', shape, dtype: 'float32' });
    this.g.inputs = ['x'];
    return 'x';
  }
  constant(shape: number[], positive = false): string {
    const name = `const${this.n++}`;
    const size = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: size }, () =>
      positive ? 0.2 + this.r() : this.r() * 2 - 1,
    );
    addTensor(this.g, { name, shape, dtype: 'float32', data });
    return name;
  }
  op(kind: OpKind, inputs: string[], attrs: OpAttrs = {}, name = `${kind}${this.n++}`): string {
    addTensor(this.g, { name, shape: [], dtype: 'float32' });
    this.g.ops.push({ kind, name, inputs, outputs: [name], attrs });
    return name;
  }
  bn(x: string, channels: number): string {
    return this.op(
      'batchNorm',
      [
        x,
        this.constant([channels]),
        this.constant([channels]),
        this.constant([channels]),
        this.constant([channels], true),
      ],
      { epsilon: 1e-3 },
    );
  }
  finish(output: string): Graph {
    this.g.outputs = [output];
    inferShapes(this.g);
    validateGraph(this.g);
    return this.g;
  }
}

function randomInput(g: Graph, seed: number): Float64Array {
  const r = rng(seed);
  const n = getTensor(g, g.inputs[0]!).shape.reduce((a, b) => a * b, 1);
  return Float64Array.from({ length: n }, () => r() * 2 - 1);
}

/** conv (no bias) → BN → relu → depthwise ×2 (bias) → BN → reshape → dense → BN → relu6. */
function foldableGraph(): Graph {
  const b = new Builder(rng(11));
  const x = b.input([1, 7, 7, 3]);
  let t = b.op('conv2d', [x, b.constant([4, 3, 3, 3])], { strides: [2, 2], padding: 'same' });
  t = b.op('relu', [b.bn(t, 4)]);
  t = b.op('depthwiseConv2d', [t, b.constant([1, 3, 3, 8]), b.constant([8])], {
    strides: [1, 1],
    padding: 'valid',
    depthMultiplier: 2,
  });
  t = b.bn(t, 8);
  t = b.op('reshape', [t], { newShape: [1, -1] });
  t = b.op('fullyConnected', [t, b.constant([5, 32]), b.constant([5])]);
  t = b.op('relu6', [b.bn(t, 5)]);
  return b.finish(t);
}

function snapshot(g: Graph): string {
  return JSON.stringify({
    ops: g.ops,
    inputs: g.inputs,
    outputs: g.outputs,
    tensors: [...g.tensors.values()].map((t) => ({
      ...t,
      data: t.data && [...t.data].map(Number),
    })),
  });
}

const kinds = (g: Graph) => g.ops.map((o: Op) => `${o.kind}:${o.attrs.activation ?? '-'}`);

describe('foldBatchNorm and fuseActivations on hand-built graphs', () => {
  test('conv, depthwise and dense BatchNorms fold; relus fuse; outputs agree', () => {
    const g = foldableGraph();
    const before = snapshot(g);
    const folded = foldBatchNorm(g);
    const fused = fuseActivations(folded);
    assert.equal(snapshot(g), before, 'passes must not change their input graph');
    assert.deepEqual(kinds(folded), [
      'conv2d:-',
      'relu:-',
      'depthwiseConv2d:-',
      'reshape:-',
      'fullyConnected:-',
      'relu6:-',
    ]);
    assert.deepEqual(kinds(fused), [
      'conv2d:relu',
      'depthwiseConv2d:-',
      'reshape:-',
      'fullyConnected:relu6',
    ]);
    validateGraph(fused);
    assert.deepEqual(fused.outputs, g.outputs, 'the graph output keeps its name');
    // A bias was created for the bias-less conv; weights keep their shapes.
    const conv = fused.ops[0]!;
    assert.equal(conv.inputs.length, 3);
    assert.deepEqual(getTensor(fused, conv.inputs[2]!).shape, [4]);
    assert.deepEqual(getTensor(fused, conv.inputs[1]!).shape, [4, 3, 3, 3]);
    // Only what the 4 ops read and write is left: BN vectors and pre-BN tensors are gone.
    const used = new Set(fused.ops.flatMap((o) => [...o.inputs, ...o.outputs]));
    assert.deepEqual([...fused.tensors.keys()].sort(), [...used].sort());
    assert.equal(fused.tensors.size, 11, 'x + 3 ops × (weights, bias, output) + reshape output');
    for (const seed of [1, 2, 3]) {
      const input = randomInput(g, seed);
      const expected = evaluate(g, input);
      assertClose(evaluate(folded, input), expected, 1e-5, 'folded');
      assertClose(evaluate(fused, input), expected, 1e-5, 'fused');
    }
  });

  test('BatchNorms that cannot fold stay, and the graph still computes the same', () => {
    const b = new Builder(rng(5));
    const x = b.input([1, 5, 5, 2]);
    const bnOnInput = b.bn(x, 2); // no producer
    const c1 = b.op('conv2d', [bnOnInput, b.constant([3, 1, 1, 2]), b.constant([3])], {
      padding: 'same',
    });
    const bnShared = b.bn(c1, 3); // c1 is also read by the add below
    const sum = b.op('add', [bnShared, c1]);
    const c2 = b.op('conv2d', [sum, b.constant([3, 3, 3, 3]), b.constant([3])], {
      padding: 'same',
      activation: 'relu', // BN after a fused activation cannot fold
    });
    const bnAfterRelu = b.bn(c2, 3);
    const g = b.finish(b.op('relu', [bnAfterRelu]));
    const folded = foldBatchNorm(g);
    assert.deepEqual(kinds(folded), kinds(g));
    assert.equal(folded.ops.filter((o) => o.kind === 'batchNorm').length, 3);
    const fused = fuseActivations(folded);
    assert.deepEqual(kinds(fused), kinds(g), 'a relu after a batchNorm has nothing to fuse into');
    const input = randomInput(g, 9);
    assertClose(evaluate(fused, input), evaluate(g, input), 1e-12, 'unchanged');
  });

  test('fuseActivations leaves a relu whose input has other readers or a non-fusable producer', () => {
    const b = new Builder(rng(8));
    const x = b.input([1, 4, 4, 2]);
    const c = b.op('conv2d', [x, b.constant([2, 1, 1, 2])], { padding: 'valid' });
    const r = b.op('relu', [c]); // c is also read by the add: stays
    const s = b.op('add', [r, c]);
    const r6 = b.op('relu6', [s]); // fuses into the add
    const flat = b.op('reshape', [r6], { newShape: [1, 32] });
    const g = b.finish(b.op('relu', [flat])); // reshape has no fused activation: stays
    const fused = fuseActivations(g);
    assert.deepEqual(kinds(fused), ['conv2d:-', 'relu:-', 'add:relu6', 'reshape:-', 'relu:-']);
    const input = randomInput(g, 4);
    assertClose(evaluate(fused, input), evaluate(g, input), 1e-12, 'fused');
  });
});

describe('folding the VWW Keras model', { skip: needsShared }, () => {
  test('matches the TFLite file: op structure, folded weights and outputs', async (t) => {
    const keras = await loadModel(model('vww_96.h5'));
    const folded = fuseActivations(foldBatchNorm(keras));
    assert.equal(folded.ops.length, 31);
    const counts = (g: Graph) =>
      g.ops.reduce<Record<string, number>>(
        (m, o) => ({ ...m, [o.kind]: (m[o.kind] ?? 0) + 1 }),
        {},
      );
    assert.deepEqual(counts(folded), {
      conv2d: 14,
      depthwiseConv2d: 13,
      averagePool2d: 1,
      reshape: 1,
      fullyConnected: 1,
      softmax: 1,
    });
    assert.ok(
      folded.ops.filter((o) => o.kind.includes('onv')).every((o) => o.attrs.activation === 'relu'),
      'every conv and depthwise has a fused relu',
    );
    // Folding removes exactly the BatchNorm vectors from the parameter count.
    const bnParams = keras.ops
      .filter((o) => o.kind === 'batchNorm')
      .reduce((s, o) => s + 4 * getTensor(keras, o.inputs[1]!).shape[0]!, 0);
    assert.equal(modelTotals(folded).params, 221_794 - bnParams);
    assert.equal(modelTotals(folded).macs, modelTotals(keras).macs);

    // Numerically the same network (float64 reference evaluation on a random image).
    const input = randomInput(keras, 1);
    assertClose(evaluate(folded, input), evaluate(keras, input), 1e-5, 'vww folded');

    // Against the converter's own folding in vww_96_float.tflite.
    let tfl: Graph;
    try {
      tfl = await loadModel(model('vww_96_float.tflite'));
    } catch (e) {
      t.skip(`TFLite reader not available yet: ${(e as Error).message}`);
      return;
    }
    assert.deepEqual(kinds(folded), kinds(tfl));
    assert.equal(modelTotals(folded).params, modelTotals(tfl).params);
    for (let i = 0; i < folded.ops.length; i++) {
      const a = folded.ops[i]!;
      const b = tfl.ops[i]!;
      if (!['conv2d', 'depthwiseConv2d', 'fullyConnected'].includes(a.kind)) continue;
      for (const j of [1, 2]) {
        const x = getTensor(folded, a.inputs[j]!);
        const y = getTensor(tfl, b.inputs[j]!);
        assert.deepEqual(x.shape, y.shape, `op ${i} (${a.name}) input ${j} shape`);
        const ref = Float64Array.from(y.data as Float32Array);
        assertClose(
          Float64Array.from(x.data as Float32Array),
          ref,
          1e-5,
          `op ${i} ${a.name} input ${j}`,
        );
      }
    }
  });
});
