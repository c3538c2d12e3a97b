import { addTensor, getTensor, uniqueTensorName } from '../graph/graph.js';
import { inferOpShape } from '../graph/shapes.js';
import type { Activation, Graph, Op, OpAttrs } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import type { Rng } from '../data/random.js';
import { glorotUniform } from '../engine/init.js';

/**
 * The head language: comma-separated layers applied to the cut tensor.
 *   dw3 / dw5s2     depthwise conv k×k (stride s, SAME) + BatchNorm + ReLU
 *   pw32            1x1 conv with 32 filters + BatchNorm + ReLU
 *   conv3x32[s2]    k×k conv with 32 filters (stride s) + BatchNorm + ReLU
 *   gap             global average pooling
 *   fc64            dense 64 + ReLU (needs gap first)
 *   fc              the classifier: dense(classes) + softmax; must be last
 */
export const HEAD_PRESETS: Record<string, string> = {
  /** The paper's auxiliary network ("dscnn32_16"). */
  aux: 'dw3,pw32,dw3,pw16,gap,fc',
  /** The plain depth-pruning baseline. */
  dense: 'gap,fc64,fc32,fc',
};

export type HeadLayer =
  | { kind: 'dw'; kernel: number; stride: number }
  | { kind: 'conv'; kernel: number; filters: number; stride: number }
  | { kind: 'gap' }
  | { kind: 'fc'; units?: number };

/**
 * Bounds on head specs: a head is a few small layers on a microcontroller, and without bounds a
 * spec such as pw100000000 or dw999 allocates gigabytes or trains for hours.
 */
export const HEAD_LIMITS = { kernel: 15, stride: 8, width: 4096, layers: 32 } as const;

const TOKEN = /^(?:dw(\d+)(?:s(\d+))?|pw(\d+)|conv(\d+)x(\d+)(?:s(\d+))?|gap|fc(\d+)?)$/;

/**
 * Splits a comma-separated list of heads for sweep and run: preset names stand alone, and a
 * head spec runs up to its classifier "fc" (which must be last), so "aux,dw3,pw44,gap,fc" is
 * two heads. Every head is checked with parseHead.
 */
export function parseHeadList(list: string): string[] {
  const heads: string[] = [];
  let spec: string[] = [];
  for (const tok of list.split(',').map((s) => s.trim())) {
    if (tok === '') continue;
    if (spec.length === 0 && HEAD_PRESETS[tok] !== undefined) heads.push(tok);
    else if (tok === 'fc') {
      heads.push([...spec, tok].join(','));
      spec = [];
    } else spec.push(tok);
  }
  if (spec.length > 0) heads.push(spec.join(','));
  heads.forEach((h) => parseHead(h));
  return heads;
}

/** Parses a preset name or a head spec; errors name the bad token. */
export function parseHead(spec: string): HeadLayer[] {
  const text = HEAD_PRESETS[spec] ?? spec;
  const tokens = text.split(',').map((s) => s.trim());
  if (tokens.length > HEAD_LIMITS.layers)
    throw new TinypruneError(
      `head "${spec.slice(0, 60)}…": ${tokens.length} layers, above the limit of ${HEAD_LIMITS.layers}`,
    );
  const layers = tokens.map((tok): HeadLayer => {
    const m = TOKEN.exec(tok);
    if (!m)
      throw new TinypruneError(
        `head "${spec}": unknown layer "${tok}" (expected one of ${Object.keys(HEAD_PRESETS).join(', ')}, or a spec like dw3,pw32,gap,fc — see docs/guide.md)`,
      );
    const positive = (v: string | undefined, dflt: number, what: keyof typeof HEAD_LIMITS) => {
      const n = v === undefined ? dflt : Number(v);
      if (!(n > 0)) throw new TinypruneError(`head "${spec}": "${tok}" needs sizes above 0`);
      if (n > HEAD_LIMITS[what])
        throw new TinypruneError(
          `head "${spec}": "${tok}" has ${what} ${n}, above the limit of ${HEAD_LIMITS[what]}`,
        );
      return n;
    };
    if (tok.startsWith('dw'))
      return {
        kind: 'dw',
        kernel: positive(m[1], 3, 'kernel'),
        stride: positive(m[2], 1, 'stride'),
      };
    if (tok.startsWith('pw'))
      return { kind: 'conv', kernel: 1, filters: positive(m[3], 1, 'width'), stride: 1 };
    if (tok.startsWith('conv'))
      return {
        kind: 'conv',
        kernel: positive(m[4], 3, 'kernel'),
        filters: positive(m[5], 1, 'width'),
        stride: positive(m[6], 1, 'stride'),
      };
    if (tok === 'gap') return { kind: 'gap' };
    return m[7] === undefined ? { kind: 'fc' } : { kind: 'fc', units: positive(m[7], 1, 'width') };
  });
  const last = layers[layers.length - 1];
  if (!last || last.kind !== 'fc' || last.units !== undefined)
    throw new TinypruneError(`head "${spec}": must end with the classifier "fc"`);
  layers.forEach((l, i) => {
    if (l.kind === 'fc' && l.units === undefined && i !== layers.length - 1)
      throw new TinypruneError(`head "${spec}": the classifier "fc" must be the last layer`);
  });
  return layers;
}

/**
 * Appends a freshly initialised head to `g`, reading `from` (the cut tensor), and makes its
 * softmax output the graph's output. Op and tensor names start with `head/`.
 */
export function attachHead(
  g: Graph,
  from: string,
  layers: HeadLayer[],
  classes: number,
  rng: Rng,
): void {
  let x = from;
  let n = 0;
  const constant = (name: string, shape: number[], data: Float32Array) =>
    addTensor(g, { name: uniqueTensorName(g, name), shape, dtype: 'float32', data }).name;
  const emit = (kind: Op['kind'], base: string, inputs: string[], attrs: OpAttrs = {}) => {
    const name = `head/${base}_${n++}`;
    const out = addTensor(g, { name: uniqueTensorName(g, name), shape: [], dtype: 'float32' }).name;
    const op: Op = { kind, name, inputs: [x, ...inputs], outputs: [out], attrs };
    g.ops.push(op);
    getTensor(g, out).shape = inferOpShape(g, op, g.ops.length - 1);
    x = out;
  };
  const channels = () => getTensor(g, x).shape[getTensor(g, x).shape.length - 1]!;
  const batchNormRelu = (activation: Activation) => {
    const c = channels();
    const p = `head/bn_${n}`;
    emit(
      'batchNorm',
      'bn',
      [
        constant(`${p}/gamma`, [c], new Float32Array(c).fill(1)),
        constant(`${p}/beta`, [c], new Float32Array(c)),
        constant(`${p}/mean`, [c], new Float32Array(c)),
        constant(`${p}/variance`, [c], new Float32Array(c).fill(1)),
      ],
      { epsilon: 1e-3 },
    );
    if (activation !== 'none') emit(activation, activation, []);
  };

  for (const layer of layers) {
    const c = channels();
    const p = `head/l${n}`;
    if (layer.kind === 'dw') {
      const k = layer.kernel;
      emit(
        'depthwiseConv2d',
        'dw',
        [
          // Keras's fans for a depthwise kernel [k, k, c, 1] (the paper's code): c·k² in, k² out.
          constant(`${p}/depthwise`, [1, k, k, c], glorotUniform(rng, k * k * c, k * k * c, k * k)),
          constant(`${p}/bias`, [c], new Float32Array(c)),
        ],
        {
          strides: [layer.stride, layer.stride],
          padding: 'same',
          depthMultiplier: 1,
          activation: 'none',
        },
      );
      batchNormRelu('relu');
    } else if (layer.kind === 'conv') {
      const { kernel: k, filters: f } = layer;
      emit(
        'conv2d',
        k === 1 ? 'pw' : 'conv',
        [
          constant(
            `${p}/kernel`,
            [f, k, k, c],
            glorotUniform(rng, f * k * k * c, k * k * c, k * k * f),
          ),
          constant(`${p}/bias`, [f], new Float32Array(f)),
        ],
        { strides: [layer.stride, layer.stride], padding: 'same', activation: 'none' },
      );
      batchNormRelu('relu');
    } else if (layer.kind === 'gap') {
      emit('mean', 'gap', [], { axes: [1, 2], keepDims: false });
    } else {
      if (getTensor(g, x).shape.length !== 2)
        throw new TinypruneError(`head: "fc" needs a flat input; put "gap" before it`);
      const units = layer.units ?? classes;
      const final = layer.units === undefined;
      emit(
        'fullyConnected',
        final ? 'classifier' : 'fc',
        [
          constant(`${p}/kernel`, [units, c], glorotUniform(rng, units * c, c, units)),
          constant(`${p}/bias`, [units], new Float32Array(units)),
        ],
        { activation: final ? 'none' : 'relu' },
      );
      if (final) emit('softmax', 'softmax', [], { beta: 1 });
    }
  }
  g.outputs = [x];
}
