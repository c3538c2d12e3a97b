// Keras layers → Graph IR ops, with weights converted into the IR's TFLite layouts.
import { addTensor, getTensor, uniqueTensorName } from '../../graph/graph.js';
import { inferOpShape } from '../../graph/shapes.js';
import type { Activation, Graph, Op, OpAttrs, OpKind, Padding } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';
import type { KerasLayer, LayerConfig } from './config.js';

export interface KerasWeight {
  shape: number[];
  data: Float32Array;
}

/** Fetches a layer's weights by short name (`kernel`, `bias`, `gamma`…); absent names are absent. */
export type WeightSource = (layer: KerasLayer) => Map<string, KerasWeight>;

export interface BuildContext {
  g: Graph;
  source: string;
  weights: WeightSource;
  /** Keras layer name → the IR tensor holding its output. */
  outputOf: Map<string, string>;
}

function fail(ctx: BuildContext, layer: KerasLayer, msg: string): never {
  throw new TinypruneError(`${ctx.source}: layer "${layer.name}" (${layer.className}): ${msg}`);
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

function pair(
  ctx: BuildContext,
  layer: KerasLayer,
  key: string,
  fallback?: number,
): [number, number] {
  const v = layer.config[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return [fallback, fallback];
    fail(ctx, layer, `config lacks ${key}`);
  }
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0))
    return [v[0] as number, v[1] as number];
  fail(ctx, layer, `${key} must be two positive integers, found ${JSON.stringify(v)}`);
}

function padding(ctx: BuildContext, layer: KerasLayer): Padding {
  const p = layer.config.padding ?? 'valid';
  if (p === 'same' || p === 'valid') return p;
  fail(ctx, layer, `padding "${String(p)}" is not supported (expected "same" or "valid")`);
}

function channelsLast(ctx: BuildContext, layer: KerasLayer): void {
  const f = layer.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last')
    fail(ctx, layer, `data_format "${String(f)}" is not supported (expected channels_last)`);
}

type LayerActivation = Activation | 'softmax';

function activationOf(ctx: BuildContext, layer: KerasLayer, value: unknown): LayerActivation {
  // Keras 3 may serialise the activation as {"class_name": "function", "config": "relu"}.
  const a =
    typeof value === 'object' && value !== null && 'config' in value
      ? (value as { config: unknown }).config
      : value;
  switch (a ?? 'linear') {
    case 'linear':
      return 'none';
    case 'relu':
      return 'relu';
    case 'relu6':
      return 'relu6';
    case 'softmax':
      return 'softmax';
    default:
      fail(
        ctx,
        layer,
        `activation "${String(a)}" is not supported (expected linear, relu, relu6 or softmax)`,
      );
  }
}

function inputTensor(ctx: BuildContext, layer: KerasLayer, index = 0): string {
  const from = layer.inbound[index];
  if (from === undefined) fail(ctx, layer, `expects an input, the model gives it none`);
  return ctx.outputOf.get(from)!;
}

function inputShape(ctx: BuildContext, layer: KerasLayer, index = 0): number[] {
  return getTensor(ctx.g, inputTensor(ctx, layer, index)).shape;
}

function addConstant(ctx: BuildContext, base: string, shape: number[], data: Float32Array): string {
  const name = uniqueTensorName(ctx.g, base);
  addTensor(ctx.g, { name, shape, dtype: 'float32', data });
  return name;
}

/** Appends an op writing a new float tensor and sets that tensor's shape. */
function emit(
  ctx: BuildContext,
  layer: KerasLayer,
  kind: OpKind,
  opName: string,
  inputs: string[],
  attrs: OpAttrs,
  outputBase: string,
): string {
  const out = uniqueTensorName(ctx.g, outputBase);
  addTensor(ctx.g, { name: out, shape: [], dtype: 'float32' });
  const op: Op = { kind, name: opName, inputs, outputs: [out], attrs };
  ctx.g.ops.push(op);
  try {
    getTensor(ctx.g, out).shape = inferOpShape(ctx.g, op, ctx.g.ops.length - 1);
  } catch (e) {
    if (e instanceof TinypruneError) fail(ctx, layer, e.message);
    throw e;
  }
  return out;
}

/** Emits an op whose Keras activation is fused, or followed by a softmax op. */
function emitActivated(
  ctx: BuildContext,
  layer: KerasLayer,
  kind: OpKind,
  inputs: string[],
  attrs: OpAttrs,
  activation: LayerActivation,
): string {
  if (activation !== 'softmax')
    return emit(ctx, layer, kind, layer.name, inputs, { ...attrs, activation }, layer.name);
  const logits = emit(
    ctx,
    layer,
    kind,
    layer.name,
    inputs,
    { ...attrs, activation: 'none' },
    `${layer.name}/logits`,
  );
  return emit(ctx, layer, 'softmax', `${layer.name}/softmax`, [logits], { beta: 1 }, layer.name);
}

/** The named weight, checked against the expected shape. */
function weight(
  ctx: BuildContext,
  layer: KerasLayer,
  all: Map<string, KerasWeight>,
  name: string,
  expected: number[],
): KerasWeight {
  const w = all.get(name);
  if (!w)
    fail(
      ctx,
      layer,
      `missing weight "${name}" in model_weights (found ${all.size ? [...all.keys()].join(', ') : 'none'})`,
    );
  if (w.shape.length !== expected.length || w.shape.some((d, i) => d !== expected[i]))
    fail(
      ctx,
      layer,
      `weight "${name}" has shape ${shapeText(w.shape)}, expected ${shapeText(expected)}`,
    );
  return w;
}

/** [kH, kW, in, out] (Keras HWIO) → [out, kH, kW, in] (TFLite OHWI). */
export function hwioToOhwi(src: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, cin, cout] = shape as [number, number, number, number];
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++)
          dst[((o * kh + y) * kw + x) * cin + i] = src[((y * kw + x) * cin + i) * cout + o]!;
  return dst;
}

function channels(ctx: BuildContext, layer: KerasLayer): number {
  const s = inputShape(ctx, layer);
  if (s.length !== 4) fail(ctx, layer, `expects a 4-D NHWC input, found ${shapeText(s)}`);
  return s[3]!;
}

function convolution(ctx: BuildContext, layer: KerasLayer): string {
  channelsLast(ctx, layer);
  const c = layer.config;
  if (c.groups !== undefined && c.groups !== 1)
    fail(ctx, layer, `groups=${String(c.groups)} is not supported (expected 1)`);
  const cin = channels(ctx, layer);
  const filters = c.filters;
  if (!Number.isInteger(filters) || (filters as number) <= 0)
    fail(ctx, layer, `filters must be a positive integer, found ${JSON.stringify(filters)}`);
  const [kh, kw] = pair(ctx, layer, 'kernel_size');
  const all = ctx.weights(layer);
  const kShape = [kh, kw, cin, filters as number];
  const kernel = weight(ctx, layer, all, 'kernel', kShape);
  const inputs = [
    inputTensor(ctx, layer),
    addConstant(
      ctx,
      `${layer.name}/kernel`,
      [filters as number, kh, kw, cin],
      hwioToOhwi(kernel.data, kShape),
    ),
  ];
  if (c.use_bias !== false) {
    const bias = weight(ctx, layer, all, 'bias', [filters as number]);
    inputs.push(addConstant(ctx, `${layer.name}/bias`, [filters as number], bias.data));
  }
  return emitActivated(
    ctx,
    layer,
    'conv2d',
    inputs,
    {
      strides: pair(ctx, layer, 'strides', 1),
      padding: padding(ctx, layer),
      dilations: pair(ctx, layer, 'dilation_rate', 1),
    },
    activationOf(ctx, layer, c.activation),
  );
}

/** Depthwise part of DepthwiseConv2D / SeparableConv2D; returns its output tensor. */
function depthwise(
  ctx: BuildContext,
  layer: KerasLayer,
  all: Map<string, KerasWeight>,
  withBias: boolean,
  opName: string,
  activation: LayerActivation,
): string {
  channelsLast(ctx, layer);
  const c = layer.config;
  const cin = channels(ctx, layer);
  const mult = c.depth_multiplier ?? 1;
  if (!Number.isInteger(mult) || (mult as number) <= 0)
    fail(ctx, layer, `depth_multiplier must be a positive integer, found ${JSON.stringify(mult)}`);
  const m = mult as number;
  const [kh, kw] = pair(ctx, layer, 'kernel_size');
  const kernel = weight(ctx, layer, all, 'depthwise_kernel', [kh, kw, cin, m]);
  // [kH, kW, in, mult] and [1, kH, kW, in*mult] share one memory order (channel c*mult + m).
  const inputs = [
    inputTensor(ctx, layer),
    addConstant(ctx, `${opName}/depthwise_kernel`, [1, kh, kw, cin * m], kernel.data.slice()),
  ];
  if (withBias) {
    const bias = weight(ctx, layer, all, 'bias', [cin * m]);
    inputs.push(addConstant(ctx, `${opName}/bias`, [cin * m], bias.data));
  }
  const attrs: OpAttrs = {
    strides: pair(ctx, layer, 'strides', 1),
    padding: padding(ctx, layer),
    dilations: pair(ctx, layer, 'dilation_rate', 1),
    depthMultiplier: m,
  };
  if (opName === layer.name)
    return emitActivated(ctx, layer, 'depthwiseConv2d', inputs, attrs, activation);
  return emit(
    ctx,
    layer,
    'depthwiseConv2d',
    opName,
    inputs,
    { ...attrs, activation: 'none' },
    opName,
  );
}

function separable(ctx: BuildContext, layer: KerasLayer): string {
  const c = layer.config;
  const all = ctx.weights(layer);
  const activation = activationOf(ctx, layer, c.activation);
  const mid = depthwise(ctx, layer, all, false, `${layer.name}/depthwise`, 'none');
  const cmid = getTensor(ctx.g, mid).shape[3]!;
  const filters = c.filters;
  if (!Number.isInteger(filters) || (filters as number) <= 0)
    fail(ctx, layer, `filters must be a positive integer, found ${JSON.stringify(filters)}`);
  const f = filters as number;
  const pShape = [1, 1, cmid, f];
  const pointwise = weight(ctx, layer, all, 'pointwise_kernel', pShape);
  const inputs = [
    mid,
    addConstant(
      ctx,
      `${layer.name}/pointwise_kernel`,
      [f, 1, 1, cmid],
      hwioToOhwi(pointwise.data, pShape),
    ),
  ];
  if (c.use_bias !== false) {
    const bias = weight(ctx, layer, all, 'bias', [f]);
    inputs.push(addConstant(ctx, `${layer.name}/bias`, [f], bias.data));
  }
  return emitActivated(
    ctx,
    layer,
    'conv2d',
    inputs,
    { strides: [1, 1], padding: 'valid' },
    activation,
  );
}

function dense(ctx: BuildContext, layer: KerasLayer): string {
  const c = layer.config;
  const x = inputShape(ctx, layer);
  const units = c.units;
  if (!Number.isInteger(units) || (units as number) <= 0)
    fail(ctx, layer, `units must be a positive integer, found ${JSON.stringify(units)}`);
  const u = units as number;
  const inUnits = x[x.length - 1]!;
  const all = ctx.weights(layer);
  const kShape = [inUnits, u];
  const kernel = weight(ctx, layer, all, 'kernel', kShape);
  const inputs = [
    inputTensor(ctx, layer),
    addConstant(
      ctx,
      `${layer.name}/kernel`,
      [u, inUnits],
      hwioToOhwi(kernel.data, [1, 1, inUnits, u]),
    ),
  ];
  if (c.use_bias !== false) {
    const bias = weight(ctx, layer, all, 'bias', [u]);
    inputs.push(addConstant(ctx, `${layer.name}/bias`, [u], bias.data));
  }
  // Keras applies Dense to the last axis of higher-rank inputs: keep the other dims.
  const attrs: OpAttrs = x.length > 2 ? { keepNumDims: true } : {};
  return emitActivated(
    ctx,
    layer,
    'fullyConnected',
    inputs,
    attrs,
    activationOf(ctx, layer, c.activation),
  );
}

function batchNorm(ctx: BuildContext, layer: KerasLayer): string {
  const c = layer.config;
  const x = inputShape(ctx, layer);
  const rawAxis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
  const axes = rawAxis.map((a) => (typeof a === 'number' && a < 0 ? a + x.length : a));
  if (axes.length !== 1 || axes[0] !== x.length - 1)
    fail(
      ctx,
      layer,
      `normalises axis ${JSON.stringify(c.axis)}; only the last (channel) axis is supported`,
    );
  const ch = x[x.length - 1]!;
  const all = ctx.weights(layer);
  const vector = (name: string, present: boolean, fill: number): string => {
    const data = present
      ? weight(ctx, layer, all, name, [ch]).data
      : new Float32Array(ch).fill(fill);
    return addConstant(ctx, `${layer.name}/${name}`, [ch], data);
  };
  const inputs = [
    inputTensor(ctx, layer),
    vector('gamma', c.scale !== false, 1),
    vector('beta', c.center !== false, 0),
    vector('moving_mean', true, 0),
    vector('moving_variance', true, 1),
  ];
  const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
  return emit(ctx, layer, 'batchNorm', layer.name, inputs, { epsilon }, layer.name);
}

function pool(ctx: BuildContext, layer: KerasLayer, kind: 'averagePool2d' | 'maxPool2d'): string {
  channelsLast(ctx, layer);
  channels(ctx, layer);
  const poolSize = pair(ctx, layer, 'pool_size', 2);
  const strides =
    layer.config.strides === null || layer.config.strides === undefined
      ? poolSize
      : pair(ctx, layer, 'strides');
  return emit(
    ctx,
    layer,
    kind,
    layer.name,
    [inputTensor(ctx, layer)],
    {
      poolSize,
      strides,
      padding: padding(ctx, layer),
      activation: 'none',
    },
    layer.name,
  );
}

function zeroPadding(ctx: BuildContext, layer: KerasLayer): string {
  channelsLast(ctx, layer);
  channels(ctx, layer);
  const p = layer.config.padding ?? 1;
  const isInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
  let hw: [[number, number], [number, number]];
  if (isInt(p))
    hw = [
      [p, p],
      [p, p],
    ];
  else if (Array.isArray(p) && p.length === 2 && p.every(isInt))
    hw = [
      [p[0], p[0]],
      [p[1], p[1]],
    ];
  else if (
    Array.isArray(p) &&
    p.length === 2 &&
    p.every((q) => Array.isArray(q) && q.length === 2 && q.every(isInt))
  )
    hw = [p[0] as [number, number], p[1] as [number, number]];
  else fail(ctx, layer, `padding ${JSON.stringify(p)} is not an int, a pair or a pair of pairs`);
  return emit(
    ctx,
    layer,
    'pad',
    layer.name,
    [inputTensor(ctx, layer)],
    {
      paddings: [[0, 0], hw[0], hw[1], [0, 0]],
    },
    layer.name,
  );
}

function reshapeTo(ctx: BuildContext, layer: KerasLayer, newShape: number[]): string {
  return emit(
    ctx,
    layer,
    'reshape',
    layer.name,
    [inputTensor(ctx, layer)],
    { newShape },
    layer.name,
  );
}

function targetShape(ctx: BuildContext, layer: KerasLayer): number[] {
  const t = layer.config.target_shape;
  if (!Array.isArray(t) || !t.every((d) => Number.isInteger(d) && (d > 0 || d === -1)))
    fail(ctx, layer, `target_shape must be a list of sizes, found ${JSON.stringify(t)}`);
  return [1, ...(t as number[])];
}

function add(ctx: BuildContext, layer: KerasLayer): string {
  if (layer.inbound.length < 2)
    fail(ctx, layer, `needs at least two inputs, found ${layer.inbound.length}`);
  let acc = inputTensor(ctx, layer, 0);
  for (let i = 1; i < layer.inbound.length; i++) {
    const last = i === layer.inbound.length - 1;
    const name = last ? layer.name : `${layer.name}/partial${i}`;
    acc = emit(
      ctx,
      layer,
      'add',
      name,
      [acc, inputTensor(ctx, layer, i)],
      { activation: 'none' },
      name,
    );
  }
  return acc;
}

function softmax(ctx: BuildContext, layer: KerasLayer): string {
  const rank = inputShape(ctx, layer).length;
  const axis = layer.config.axis ?? -1;
  const a = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  if (a !== -1 && a !== rank - 1)
    fail(
      ctx,
      layer,
      `softmax over axis ${JSON.stringify(axis)} is not supported (expected the last axis)`,
    );
  return emit(
    ctx,
    layer,
    'softmax',
    layer.name,
    [inputTensor(ctx, layer)],
    { beta: 1 },
    layer.name,
  );
}

function activationLayer(ctx: BuildContext, layer: KerasLayer, a: LayerActivation): string {
  const x = inputTensor(ctx, layer);
  if (a === 'none') return x; // linear: identity
  if (a === 'softmax') return softmax(ctx, layer);
  return emit(ctx, layer, a, layer.name, [x], {}, layer.name);
}

function reluLayer(ctx: BuildContext, layer: KerasLayer): string {
  const c = layer.config;
  const slope = c.negative_slope ?? 0;
  const threshold = c.threshold ?? 0;
  const max = c.max_value ?? null;
  if (slope !== 0 || threshold !== 0 || (max !== null && max !== 6))
    fail(
      ctx,
      layer,
      `only ReLU(max_value=None or 6, negative_slope=0, threshold=0) is supported, found max_value=${JSON.stringify(max)}, negative_slope=${JSON.stringify(slope)}, threshold=${JSON.stringify(threshold)}`,
    );
  return activationLayer(ctx, layer, max === 6 ? 'relu6' : 'relu');
}

/** Identity at inference time. */
const PASS_THROUGH = new Set(['Dropout', 'SpatialDropout2D', 'GaussianDropout', 'GaussianNoise']);

export const SUPPORTED_LAYERS = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'BatchNormalization',
  'Activation',
  'ReLU',
  ...PASS_THROUGH,
  'Flatten',
  'Reshape',
  'AveragePooling2D',
  'MaxPooling2D',
  'GlobalAveragePooling2D',
  'ZeroPadding2D',
  'Dense',
  'Add',
  'Softmax',
];

/** Converts one non-input layer; returns the tensor holding its output. */
export function convertLayer(ctx: BuildContext, layer: KerasLayer): string {
  if (PASS_THROUGH.has(layer.className)) return inputTensor(ctx, layer);
  if (layer.className !== 'Add' && layer.inbound.length !== 1)
    fail(ctx, layer, `expects one input, found ${layer.inbound.length}`);
  switch (layer.className) {
    case 'Conv2D':
      return convolution(ctx, layer);
    case 'DepthwiseConv2D': {
      const activation = activationOf(ctx, layer, layer.config.activation);
      return depthwise(
        ctx,
        layer,
        ctx.weights(layer),
        layer.config.use_bias !== false,
        layer.name,
        activation,
      );
    }
    case 'SeparableConv2D':
      return separable(ctx, layer);
    case 'BatchNormalization':
      return batchNorm(ctx, layer);
    case 'Activation':
      return activationLayer(ctx, layer, activationOf(ctx, layer, layer.config.activation));
    case 'ReLU':
      return reluLayer(ctx, layer);
    case 'Flatten': {
      const s = inputShape(ctx, layer);
      return reshapeTo(ctx, layer, [1, s.slice(1).reduce((a, b) => a * b, 1)]);
    }
    case 'Reshape':
      return reshapeTo(ctx, layer, targetShape(ctx, layer));
    case 'AveragePooling2D':
      return pool(ctx, layer, 'averagePool2d');
    case 'MaxPooling2D':
      return pool(ctx, layer, 'maxPool2d');
    case 'GlobalAveragePooling2D': {
      channelsLast(ctx, layer);
      channels(ctx, layer);
      const keepDims = layer.config.keepdims === true;
      return emit(
        ctx,
        layer,
        'mean',
        layer.name,
        [inputTensor(ctx, layer)],
        { axes: [1, 2], keepDims },
        layer.name,
      );
    }
    case 'ZeroPadding2D':
      return zeroPadding(ctx, layer);
    case 'Dense':
      return dense(ctx, layer);
    case 'Add':
      return add(ctx, layer);
    case 'Softmax':
      return softmax(ctx, layer);
    default:
      fail(
        ctx,
        layer,
        `unsupported layer class ${layer.className} (supported: ${SUPPORTED_LAYERS.join(', ')})`,
      );
  }
}

/** The fixed input shape of an InputLayer, batch 1. */
export function inputLayerShape(ctx: BuildContext, layer: KerasLayer): number[] {
  const s = layer.config.batch_input_shape ?? layer.config.batch_shape;
  if (!Array.isArray(s) || s.length < 2) fail(ctx, layer, `has no batch_input_shape`);
  const rest = s.slice(1);
  if (!rest.every((d) => Number.isInteger(d) && d > 0))
    fail(ctx, layer, `input shape ${JSON.stringify(s)} is not fixed; tinyprune needs fixed sizes`);
  return [1, ...(rest as number[])];
}
