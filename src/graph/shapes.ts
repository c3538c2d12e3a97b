import { getTensor, numElements } from './graph.js';
import type { Graph, Op, Padding } from './types.js';
import { TinypruneError } from './types.js';
import { assertNever } from './ops.js';

/** Output size of a windowed op along one axis (TensorFlow's SAME/VALID rules). */
export function convOutputSize(
  inSize: number,
  kernel: number,
  stride: number,
  padding: Padding,
  dilation = 1,
): number {
  const effective = (kernel - 1) * dilation + 1;
  return padding === 'same'
    ? Math.ceil(inSize / stride)
    : Math.floor((inSize - effective) / stride) + 1;
}

/** Padding before the first element along one axis (TFLite's ComputePaddingHeightWidth). */
export function padBefore(
  inSize: number,
  kernel: number,
  stride: number,
  padding: Padding,
  dilation = 1,
): number {
  if (padding === 'valid') return 0;
  const out = convOutputSize(inSize, kernel, stride, padding, dilation);
  const effective = (kernel - 1) * dilation + 1;
  const total = Math.max(0, (out - 1) * stride + effective - inSize);
  return Math.floor(total / 2);
}

function fail(op: Op, index: number, msg: string): never {
  throw new TinypruneError(`op ${index} (${op.kind} "${op.name}"): ${msg}`);
}

/** Output shape of one op from its input shapes and attributes. */
export function inferOpShape(g: Graph, op: Op, index: number): number[] {
  const x = getTensor(g, op.inputs[0]!).shape;
  const a = op.attrs;
  switch (op.kind) {
    case 'conv2d':
    case 'depthwiseConv2d': {
      if (x.length !== 4) fail(op, index, `expects a 4-D NHWC input, got [${x.join(', ')}]`);
      const w = getTensor(g, op.inputs[1]!).shape;
      const [sh, sw] = a.strides ?? [1, 1];
      const [dh, dw] = a.dilations ?? [1, 1];
      const pad = a.padding ?? 'valid';
      const outC = op.kind === 'conv2d' ? w[0]! : w[3]!;
      if (op.kind === 'conv2d' && w[3] !== x[3])
        fail(op, index, `filter expects ${w[3]} input channels, input has ${x[3]}`);
      return [
        x[0]!,
        convOutputSize(x[1]!, w[1]!, sh, pad, dh),
        convOutputSize(x[2]!, w[2]!, sw, pad, dw),
        outC,
      ];
    }
    case 'averagePool2d':
    case 'maxPool2d': {
      const [kh, kw] = a.poolSize ?? [1, 1];
      const [sh, sw] = a.strides ?? [1, 1];
      const pad = a.padding ?? 'valid';
      return [x[0]!, convOutputSize(x[1]!, kh, sh, pad), convOutputSize(x[2]!, kw, sw, pad), x[3]!];
    }
    case 'mean': {
      const axes = (a.axes ?? [1, 2]).map((ax) => (ax < 0 ? ax + x.length : ax));
      return a.keepDims
        ? x.map((d, i) => (axes.includes(i) ? 1 : d))
        : x.filter((_, i) => !axes.includes(i));
    }
    case 'fullyConnected': {
      const w = getTensor(g, op.inputs[1]!).shape;
      const inUnits = w[1]!;
      const total = numElements(x);
      if (total % inUnits !== 0)
        fail(op, index, `input of ${total} values cannot feed ${inUnits} input units`);
      if (a.keepNumDims) return [...x.slice(0, -1), w[0]!];
      return [total / inUnits, w[0]!];
    }
    case 'reshape': {
      const target = [...(a.newShape ?? [])];
      const total = numElements(x);
      const minus = target.indexOf(-1);
      if (minus >= 0) {
        const known = numElements(target.filter((d) => d !== -1));
        target[minus] = total / known;
      }
      if (numElements(target) !== total)
        fail(op, index, `cannot reshape [${x.join(', ')}] into [${target.join(', ')}]`);
      return target;
    }
    case 'pad': {
      const p = a.paddings ?? [];
      return x.map((d, i) => d + (p[i]?.[0] ?? 0) + (p[i]?.[1] ?? 0));
    }
    case 'add': {
      const y = getTensor(g, op.inputs[1]!).shape;
      if (numElements(y) !== numElements(x) && numElements(y) !== 1)
        fail(op, index, `cannot add [${x.join(', ')}] and [${y.join(', ')}]`);
      return [...x];
    }
    case 'softmax':
    case 'relu':
    case 'relu6':
    case 'batchNorm':
    case 'quantize':
    case 'dequantize':
      return [...x];
    default:
      return assertNever(op.kind, 'op kind');
  }
}

/** Sets every op output's shape from its inputs, in order. */
export function inferShapes(g: Graph): void {
  g.ops.forEach((op, i) => {
    const shape = inferOpShape(g, op, i);
    for (const o of op.outputs) getTensor(g, o).shape = shape;
  });
}
