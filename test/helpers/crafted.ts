// Crafted TFLite models, one per graph-validator rule: a small valid graph is built in the IR,
// broken in one place, and written with the project's TFLite writer (which checks only
// references, as a hostile file would not be checked at all). Loading each must fail with the
// rule's one-line error.

import { addTensor, createGraph } from '../../src/graph/graph.js';
import { inferShapes } from '../../src/graph/shapes.js';
import type { Graph, Tensor } from '../../src/graph/types.js';
import { writeTflite } from '../../src/io/tflite/writer.js';

/** A seeded stream of numbers in [-0.5, 0.5) (mulberry32). */
export function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

/**
 * input [1,8,8,2] → quantize (int8) → dequantize → conv 3x3 (4) → avg pool 2x2/2 → pad 1
 * → mean [1,2] → fc (3) → softmax. Weights from a seed.
 */
export function baseGraph(name = 'crafted', seed = 1): Graph {
  const rnd = seeded(seed);
  const g = createGraph(name, { format: 'test' });
  const t = (name: string, shape: number[], extra: Partial<Tensor> = {}) =>
    addTensor(g, { name, shape, dtype: 'float32', ...extra }).name;
  const c = (name: string, shape: number[]) =>
    t(name, shape, { data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, rnd) });
  g.inputs = [t('input', [1, 8, 8, 2])];
  t('q8', [], { dtype: 'int8', quant: { scale: [0.02], zeroPoint: [3] } });
  const ops: [Graph['ops'][number]['kind'], string[], string, Graph['ops'][number]['attrs']][] = [
    ['quantize', ['input'], 'q8', {}],
    ['dequantize', ['q8'], t('dq', []), {}],
    [
      'conv2d',
      ['dq', c('w', [4, 3, 3, 2]), c('b', [4])],
      t('conv', []),
      { strides: [1, 1], padding: 'same', dilations: [1, 1], activation: 'relu' },
    ],
    [
      'averagePool2d',
      ['conv'],
      t('pool', []),
      { poolSize: [2, 2], strides: [2, 2], padding: 'valid', activation: 'none' },
    ],
    [
      'pad',
      ['pool'],
      t('padded', []),
      {
        paddings: [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ],
      },
    ],
    ['mean', ['padded'], t('gap', []), { axes: [1, 2], keepDims: false }],
    ['fullyConnected', ['gap', c('fw', [3, 4]), c('fb', [3])], t('logits', []), {}],
    ['softmax', ['logits'], t('probs', []), { beta: 1 }],
  ];
  for (const [kind, inputs, out, attrs] of ops)
    g.ops.push({ kind, name: `${kind}_${g.ops.length}`, inputs, outputs: [out], attrs });
  g.outputs = ['probs'];
  inferShapes(g);
  return g;
}

export interface CraftedCase {
  rule: string;
  /** Breaks the base graph in one place (shapes are re-inferred afterwards unless `keepShapes`). */
  mutate(g: Graph): void;
  keepShapes?: boolean;
  /** What the one-line error must say. */
  expect: RegExp;
}

const op = (g: Graph, kind: string) => g.ops.find((o) => o.kind === kind)!;

export const CRAFTED: CraftedCase[] = [
  {
    rule: 'mean over an axis out of range',
    mutate: (g) => (op(g, 'mean').attrs.axes = [1, 7]),
    expect: /reduces over axis 7 of a 4-D input/,
  },
  {
    rule: 'negative padding',
    mutate: (g) => (op(g, 'pad').attrs.paddings![1] = [-1, 2]),
    expect: /padding \[-1, 2\]/,
  },
  {
    rule: 'pool to zero size',
    mutate: (g) => (op(g, 'averagePool2d').attrs.poolSize = [9, 9]),
    expect: /output shape \[1, 0, 0, 4\]/,
  },
  {
    rule: 'quantisation scale 0',
    mutate: (g) => (g.tensors.get('q8')!.quant!.scale = [0]),
    expect: /quantisation scale 0: scales must be finite and > 0/,
  },
  {
    rule: 'quantisation scale NaN',
    mutate: (g) => (g.tensors.get('q8')!.quant!.scale = [NaN]),
    expect: /quantisation scale NaN/,
  },
  {
    rule: 'quantisation scale Infinity',
    mutate: (g) => (g.tensors.get('q8')!.quant!.scale = [-Infinity]),
    expect: /quantisation scale -Infinity/,
  },
  {
    rule: 'zero point outside int8',
    mutate: (g) => (g.tensors.get('q8')!.quant!.zeroPoint = [200]),
    expect: /zero point 200, outside -128\.\.127/,
  },
  {
    rule: 'two ops writing one tensor',
    mutate: (g) => {
      addTensor(g, { name: 'r', shape: [1, 8, 8, 4], dtype: 'float32' });
      for (const name of ['relu_a', 'relu_b'])
        g.ops.splice(3, 0, { kind: 'relu', name, inputs: ['conv'], outputs: ['r'], attrs: {} });
    },
    keepShapes: true,
    expect:
      /op 4 \(relu "relu(_1|_a)"\) writes tensor "r", which op 3 \(relu "relu(_b)?"\) also writes/,
  },
  {
    rule: 'op writing the graph input',
    mutate: (g) =>
      g.ops.splice(1, 0, {
        kind: 'relu',
        name: 'loop',
        inputs: ['input'],
        outputs: ['input'],
        attrs: {},
      }),
    keepShapes: true,
    expect: /writes the graph input "input" \(a cycle\)/,
  },
  {
    rule: 'op writing a constant',
    mutate: (g) => {
      addTensor(g, {
        name: 'k',
        shape: [1, 8, 8, 2],
        dtype: 'float32',
        data: new Float32Array(128),
      });
      g.ops.splice(1, 0, {
        kind: 'relu',
        name: 'wk',
        inputs: ['input'],
        outputs: ['k'],
        attrs: {},
      });
    },
    keepShapes: true,
    expect: /writes constant tensor "k"/,
  },
  {
    rule: 'one tensor over the int32 range',
    mutate: (g) => (g.tensors.get('input')!.shape = [1, 16384, 16384, 2]),
    expect: /takes 2147483648 bytes/,
  },
  {
    rule: 'activations together over the int32 range',
    mutate: (g) => {
      g.tensors.get('input')!.shape = [1, 8192, 8192, 2];
      // Five tensors of 2^29 bytes each (the pooled ones smaller): over 2^31 together.
      for (let i = 0; i < 3; i++) {
        addTensor(g, { name: `r${i}`, shape: [], dtype: 'float32' });
        g.ops.splice(2 + i, 0, {
          kind: 'relu',
          name: `relu_${i}`,
          inputs: [i === 0 ? 'dq' : `r${i - 1}`],
          outputs: [`r${i}`],
          attrs: {},
        });
      }
      op(g, 'conv2d').inputs[0] = 'r2';
    },
    expect: /activations take \d+ bytes together/,
  },
  {
    rule: 'NaN weight',
    mutate: (g) => ((g.tensors.get('w')!.data as Float32Array)[5] = NaN),
    expect: /tensor "w" holds NaN at index 5/,
  },
];

/** The TFLite bytes of the base graph with `c` applied. */
export function craftedTflite(c: CraftedCase | undefined): Uint8Array {
  return writeTflite(craftedGraph(c));
}

/** The base graph with `c` applied, shapes re-inferred unless the case keeps them. */
export function craftedGraph(c: CraftedCase | undefined): Graph {
  const g = baseGraph();
  if (c) {
    c.mutate(g);
    if (!c.keepShapes) inferShapes(g);
  }
  return g;
}
