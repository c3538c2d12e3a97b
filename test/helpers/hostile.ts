// Model files whose names are attacks: a Keras .h5 (model and layer names) and a TFLite file
// (tensor names, description, file name). Written with h5wasm and the project's TFLite writer.

import h5wasm from 'h5wasm';
import { baseGraph, seeded } from './crafted.js';
import { writeTflite } from '../../src/io/tflite/writer.js';

/** Names that would be code or markup if pasted unescaped into C, HTML, SVG, Markdown or a terminal. */
export const HOSTILE = {
  model: 'm */ extern int x; /* <script>alert(1)</script>',
  conv: '<img src=x onerror=alert(1)>',
  gap: 'g */ #error pwned\n/* \u001b[2J\u001b[31mFAKE LINE\u202Eevil',
  dense: '[pwn](javascript:alert(1))|`code`|**bold** ??/',
};

/** Fragments that must never reach HTML, SVG or Markdown verbatim (they would be markup). */
export const FORBIDDEN_IN_MARKUP: (string | RegExp)[] = ['<script', '<img', '\u001b'];
/** …and in Markdown, also emphasis and code spans. */
export const FORBIDDEN_IN_MD = [
  ...FORBIDDEN_IN_MARKUP,
  /(?<!\\)\]\(javascript/, // a link: "](" with the bracket unescaped
  '**bold**',
  '|`code`|',
];

/** input 8x8x1 → Conv2D 3x3 (2, relu) → GlobalAveragePooling2D → Dense(2, softmax). */
export async function hostileKeras(opts: { unsupported?: boolean } = {}): Promise<Uint8Array> {
  const { FS } = await h5wasm.ready;
  const path = `/hostile-${process.pid}.h5`;
  const f = new h5wasm.File(path, 'w');
  const r = seeded(7);
  const w = (shape: number[]) => ({
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, r),
  });
  const layers = [
    { class_name: 'InputLayer', config: { name: 'input', batch_input_shape: [null, 8, 8, 1] } },
    {
      class_name: 'Conv2D',
      config: {
        name: HOSTILE.conv,
        filters: 2,
        kernel_size: [3, 3],
        strides: [1, 1],
        padding: 'same',
        activation: 'relu',
        use_bias: true,
      },
      weights: { kernel: w([3, 3, 1, 2]), bias: w([2]) },
    },
    // LSTM: a layer tinyprune refuses, so the error message carries the hostile name.
    {
      class_name: opts.unsupported ? 'LSTM' : 'GlobalAveragePooling2D',
      config: { name: HOSTILE.gap },
    },
    {
      class_name: 'Dense',
      config: { name: HOSTILE.dense, units: 2, activation: 'softmax', use_bias: true },
      weights: { kernel: w([2, 2]), bias: w([2]) },
    },
  ];
  const config = {
    class_name: 'Sequential',
    config: {
      name: HOSTILE.model,
      layers: layers.map((l) => ({
        class_name: l.class_name,
        config: l.config,
        name: l.config.name,
      })),
    },
  };
  f.create_attribute('model_config', JSON.stringify(config));
  f.create_attribute('keras_version', '2.4.0');
  const root = f.create_group('model_weights');
  root.create_attribute(
    'layer_names',
    layers.map((l) => l.config.name),
  );
  for (const l of layers) {
    if (!l.weights) continue;
    const name = l.config.name;
    const g = root.create_group(name);
    const entries = Object.entries(l.weights);
    g.create_attribute(
      'weight_names',
      entries.map(([k]) => `${name}/${k}:0`),
    );
    const inner = g.create_group(name);
    for (const [k, v] of entries)
      inner.create_dataset({ name: `${k}:0`, data: v.data, shape: v.shape });
  }
  f.close();
  const bytes = FS!.readFile(path) as Uint8Array;
  FS!.unlink(path);
  return bytes;
}

/** The crafted TFLite model with hostile tensor names and description. */
export function hostileTflite(): Uint8Array {
  const g = baseGraph();
  const rename = (from: string, to: string) => {
    const t = g.tensors.get(from)!;
    g.tensors.delete(from);
    t.name = to;
    g.tensors.set(to, t);
    for (const op of g.ops) {
      op.inputs = op.inputs.map((n) => (n === from ? to : n));
      op.outputs = op.outputs.map((n) => (n === from ? to : n));
    }
    g.inputs = g.inputs.map((n) => (n === from ? to : n));
    g.outputs = g.outputs.map((n) => (n === from ? to : n));
  };
  rename('conv', HOSTILE.conv);
  rename('gap', HOSTILE.gap);
  rename('w', HOSTILE.dense);
  return writeTflite(g, { description: HOSTILE.model });
}
