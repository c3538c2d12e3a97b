// The boundary check every imported graph passes before any stage sees it. Readers check that a
// file is well formed; this checks that the graph it describes is one the later stages can run
// safely: no op may write a constant, the graph input or a tensor another op writes (each of
// those hides a cycle or a race from the topological order), attributes and shapes must be in
// range, quantisation parameters finite and representable, and every size must fit the int32
// arithmetic of the interpreter and the generated C (arena offsets, element counts).

import { inferOpShape } from './shapes.js';
import { bytesPerElement, numElements, validateGraph } from './graph.js';
import type { DType, Graph, Op, Tensor } from './types.js';
import { TinypruneError } from './types.js';

/** Largest byte count one tensor, or all activations together, may take (int32 offsets). */
export const MAX_GRAPH_BYTES = 2 ** 31 - 1;
/** Most dimensions a tensor may have (TFLite's own limit is lower for every op we support). */
const MAX_RANK = 8;

/** Zero points an integer tensor of each dtype can hold. */
const ZERO_POINT_RANGE: Record<DType, [number, number] | undefined> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [-(2 ** 31), 2 ** 31 - 1],
  float32: undefined, // quantisation on a float tensor describes how it was stored: any int8
};

/**
 * Throws a one-line TinypruneError (prefixed with `source`, the file) for the first rule the
 * graph breaks; returns the graph unchanged otherwise.
 */
export function checkGraph(g: Graph, source: string): Graph {
  const fail = (msg: string): never => {
    throw new TinypruneError(`${source}: invalid model: ${msg}`);
  };
  try {
    validateGraph(g);
  } catch (e) {
    if (e instanceof TinypruneError) fail(e.message);
    throw e;
  }
  if (g.inputs.length === 0) fail('the graph declares no input');
  if (g.outputs.length === 0) fail('the graph declares no output');
  for (const t of g.tensors.values()) checkTensor(t, fail);

  // Single writer; nobody writes a constant or a graph input. With the topological order that
  // validateGraph checked, these make the graph acyclic.
  const writer = new Map<string, number>();
  const inputs = new Set(g.inputs);
  g.ops.forEach((op, i) => {
    const what = opLabel(op, i);
    for (const out of op.outputs) {
      if (out === '') fail(`${what} has an empty output`);
      const t = g.tensors.get(out)!;
      if (t.data) fail(`${what} writes constant tensor ${q(out)} (a cycle through a weight)`);
      if (inputs.has(out)) fail(`${what} writes the graph input ${q(out)} (a cycle)`);
      const prev = writer.get(out);
      if (prev !== undefined)
        fail(`${what} writes tensor ${q(out)}, which ${opLabel(g.ops[prev]!, prev)} also writes`);
      writer.set(out, i);
    }
  });

  let activationBytes = 0;
  g.ops.forEach((op, i) => {
    checkAttrs(g, op, i, fail);
    let shape: number[];
    try {
      shape = inferOpShape(g, op, i);
    } catch (e) {
      if (e instanceof TinypruneError) return fail(e.message);
      return fail(`${opLabel(op, i)}: cannot infer its output shape`);
    }
    if (shape.some((d) => !Number.isInteger(d) || d < 1))
      fail(`${opLabel(op, i)} gives output shape [${shape.join(', ')}]: every size must be ≥ 1`);
    for (const out of op.outputs) {
      const t = g.tensors.get(out)!;
      activationBytes += numElements(t.shape) * bytesPerElement(t.dtype);
    }
  });
  for (const name of g.inputs) {
    const t = g.tensors.get(name)!;
    if (t.shape.length === 0 || t.shape.some((d) => d < 1))
      fail(`graph input ${q(name)} has shape [${t.shape.join(', ')}]: every size must be ≥ 1`);
    activationBytes += numElements(t.shape) * bytesPerElement(t.dtype);
  }
  if (activationBytes > MAX_GRAPH_BYTES)
    fail(
      `its activations take ${activationBytes} bytes together, more than the ${MAX_GRAPH_BYTES} that 32-bit offsets address`,
    );
  return g;
}

function q(name: string): string {
  return JSON.stringify(name);
}

function opLabel(op: Op, i: number): string {
  return `op ${i} (${op.kind} ${q(op.name)})`;
}

function checkTensor(t: Tensor, fail: (msg: string) => never): void {
  const what = `tensor ${q(t.name)}`;
  if (t.shape.length > MAX_RANK) fail(`${what} has ${t.shape.length} dimensions (at most 8)`);
  if (t.shape.some((d) => !Number.isInteger(d) || d < 0))
    fail(`${what} has shape [${t.shape.join(', ')}]`);
  const bytes = numElements(t.shape) * bytesPerElement(t.dtype);
  if (bytes > MAX_GRAPH_BYTES)
    fail(
      `${what} of shape [${t.shape.join(', ')}] takes ${bytes} bytes (at most ${MAX_GRAPH_BYTES})`,
    );
  if (t.data && t.data.length !== numElements(t.shape))
    fail(`${what} holds ${t.data.length} values for shape [${t.shape.join(', ')}]`);
  if (t.data instanceof Float32Array)
    for (let i = 0; i < t.data.length; i++)
      if (!Number.isFinite(t.data[i]!)) fail(`${what} holds ${t.data[i]} at index ${i}`);
  for (const quant of [t.quant, t.stored?.quant]) {
    if (!quant) continue;
    const { scale, zeroPoint, axis } = quant;
    if (scale.length === 0 || scale.length !== zeroPoint.length)
      fail(`${what} has ${scale.length} quantisation scales and ${zeroPoint.length} zero points`);
    if (axis !== undefined && (!Number.isInteger(axis) || axis < 0 || axis >= t.shape.length))
      fail(`${what} is quantised along axis ${axis} of shape [${t.shape.join(', ')}]`);
    if (scale.length > 1 && t.shape[axis ?? 0] !== scale.length)
      fail(`${what} has ${scale.length} scales for ${t.shape[axis ?? 0]} channels`);
    const bad = scale.findIndex((s) => !Number.isFinite(s) || s <= 0);
    if (bad >= 0)
      fail(`${what} has quantisation scale ${scale[bad]}: scales must be finite and > 0`);
    const range = ZERO_POINT_RANGE[t.stored && quant === t.stored.quant ? t.stored.dtype : t.dtype];
    const [lo, hi] = range ?? [-128, 255];
    const badZp = zeroPoint.findIndex((z) => !Number.isInteger(z) || z < lo || z > hi);
    if (badZp >= 0)
      fail(`${what} (${t.dtype}) has zero point ${zeroPoint[badZp]}, outside ${lo}..${hi}`);
  }
}

function checkAttrs(g: Graph, op: Op, i: number, fail: (msg: string) => never): void {
  const what = opLabel(op, i);
  const a = op.attrs;
  const positivePair = (v: [number, number] | undefined, field: string) => {
    if (v && !v.every((d) => Number.isInteger(d) && d >= 1 && d <= 65536))
      fail(`${what} has ${field} [${v.join(', ')}]: expected integers 1..65536`);
  };
  positivePair(a.strides, 'strides');
  positivePair(a.dilations, 'dilations');
  positivePair(a.poolSize, 'pool size');
  if (
    a.depthMultiplier !== undefined &&
    !(Number.isInteger(a.depthMultiplier) && a.depthMultiplier >= 1)
  )
    fail(`${what} has depth multiplier ${a.depthMultiplier}`);
  const rank = g.tensors.get(op.inputs[0] ?? '')?.shape.length ?? 0;
  if (op.kind === 'mean') {
    const axes = a.axes ?? [];
    if (axes.length === 0) fail(`${what} reduces over no axis`);
    const norm = axes.map((ax) => (ax < 0 ? ax + rank : ax));
    const bad = axes.findIndex(
      (ax, k) => !Number.isInteger(ax) || norm[k]! < 0 || norm[k]! >= rank,
    );
    if (bad >= 0) fail(`${what} reduces over axis ${axes[bad]} of a ${rank}-D input`);
    if (new Set(norm).size !== norm.length) fail(`${what} repeats an axis in [${axes.join(', ')}]`);
  }
  if (op.kind === 'pad') {
    const p = a.paddings ?? [];
    if (p.length !== rank) fail(`${what} has ${p.length} padding pairs for a ${rank}-D input`);
    for (const pair of p)
      if (!pair.every((v) => Number.isInteger(v) && v >= 0 && v <= 65536))
        fail(`${what} has padding [${pair.join(', ')}]: expected integers 0..65536`);
  }
  if (op.kind === 'reshape') {
    const s = a.newShape ?? [];
    if (
      s.filter((d) => d === -1).length > 1 ||
      s.some((d) => !Number.isInteger(d) || d < -1 || d === 0)
    )
      fail(`${what} has target shape [${s.join(', ')}]`);
  }
  if (op.kind === 'softmax' && a.beta !== undefined && !(Number.isFinite(a.beta) && a.beta > 0))
    fail(`${what} has beta ${a.beta}: expected a finite number > 0`);
  if (
    op.kind === 'batchNorm' &&
    a.epsilon !== undefined &&
    !(Number.isFinite(a.epsilon) && a.epsilon >= 0)
  )
    fail(`${what} has epsilon ${a.epsilon}`);
}
