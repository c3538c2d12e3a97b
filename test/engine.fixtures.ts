// Small hand-made graphs covering every op the float engine runs (shared by the engine tests).
import { addTensor, createGraph } from '../src/graph/graph.js';
import { inferShapes } from '../src/graph/shapes.js';
import type { Activation, Graph, OpAttrs, OpKind } from '../src/graph/types.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';

export class GraphBuilder {
  readonly g: Graph;
  private n = 0;
  constructor(
    name: string,
    inputShape: number[],
    private readonly rng: Rng,
  ) {
    this.g = createGraph(name, { format: 'test' });
    addTensor(this.g, { name: 'input', shape: [1, ...inputShape], dtype: 'float32' });
    this.g.inputs.push('input');
  }
  const(shape: number[], std = 0.3, offset = 0): string {
    const name = `c${this.n++}`;
    const data = randomNormalArray(
      this.rng,
      shape.reduce((a, b) => a * b, 1),
      std,
    );
    if (offset) for (let i = 0; i < data.length; i++) data[i] = Math.abs(data[i]!) + offset;
    addTensor(this.g, { name, shape, dtype: 'float32', data });
    return name;
  }
  op(kind: OpKind, inputs: string[], attrs: OpAttrs = {}): string {
    const out = `t${this.n++}`;
    addTensor(this.g, { name: out, shape: [], dtype: 'float32' });
    this.g.ops.push({ kind, name: `${kind}_${this.g.ops.length}`, inputs, outputs: [out], attrs });
    inferShapes(this.g);
    return out;
  }
  channels(t: string): number {
    const s = this.g.tensors.get(t)!.shape;
    return s[s.length - 1]!;
  }
  conv(
    x: string,
    outC: number,
    k: number,
    stride: number,
    activation: Activation = 'relu',
    bias = true,
  ) {
    const w = this.const([outC, k, k, this.channels(x)]);
    const inputs = bias ? [x, w, this.const([outC], 0.1)] : [x, w];
    return this.op('conv2d', inputs, { strides: [stride, stride], padding: 'same', activation });
  }
  dw(x: string, stride: number, activation: Activation = 'relu', bias = true, mult = 1) {
    const c = this.channels(x);
    const w = this.const([1, 3, 3, c * mult]);
    const inputs = bias ? [x, w, this.const([c * mult], 0.1)] : [x, w];
    return this.op('depthwiseConv2d', inputs, {
      strides: [stride, stride],
      padding: 'same',
      activation,
      depthMultiplier: mult,
    });
  }
  bn(x: string) {
    const c = this.channels(x);
    return this.op(
      'batchNorm',
      [
        x,
        this.const([c], 0.2, 0.8),
        this.const([c], 0.1),
        this.const([c], 0.1),
        this.const([c], 0.2, 0.5),
      ],
      { epsilon: 1e-3 },
    );
  }
  fc(x: string, out: number, activation: Activation = 'none') {
    const inUnits = this.g.tensors
      .get(x)!
      .shape.slice(1)
      .reduce((a, b) => a * b, 1);
    return this.op('fullyConnected', [x, this.const([out, inUnits]), this.const([out], 0.1)], {
      activation,
    });
  }
  finish(output: string): Graph {
    this.g.outputs.push(output);
    return this.g;
  }
}

/** A MobileNet-like net using conv, depthwise, BN, relu6, pad, add, pools, mean, reshape, FC, softmax. */
export function tinyNet(seed = 1, classes = 3): Graph {
  const b = new GraphBuilder('tiny', [12, 10, 3], new Rng(seed));
  let x = b.conv('input', 8, 3, 2, 'relu');
  x = b.dw(x, 1, 'none', false);
  x = b.bn(x);
  x = b.op('relu6', [x]);
  const y = b.conv(x, 8, 1, 1, 'none');
  x = b.op('add', [x, y], { activation: 'relu' });
  x = b.op('pad', [x], {
    paddings: [
      [0, 0],
      [1, 0],
      [0, 1],
      [0, 0],
    ],
  });
  x = b.dw(x, 2, 'relu6', true, 2);
  x = b.conv(x, 12, 1, 1, 'none', false);
  x = b.bn(x);
  x = b.op('relu', [x]);
  const p = b.op('maxPool2d', [x], { poolSize: [2, 2], strides: [1, 1], padding: 'same' });
  const a = b.op('averagePool2d', [p], { poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
  const m = b.op('mean', [a], { axes: [1, 2], keepDims: true });
  const r = b.op('reshape', [m], { newShape: [1, 12] });
  const h = b.fc(r, 6, 'relu');
  const o = b.fc(h, classes);
  return b.finish(b.op('softmax', [o], { beta: 1 }));
}
