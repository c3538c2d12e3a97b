import type { DType, Graph, Op, Tensor, TensorData } from './types.js';
import { TinypruneError } from './types.js';

export function createGraph(name: string, metadata: Record<string, string> = {}): Graph {
  return { name, tensors: new Map(), ops: [], inputs: [], outputs: [], metadata };
}

export function addTensor(g: Graph, t: Tensor): Tensor {
  if (g.tensors.has(t.name)) throw new Error(`tensor "${t.name}" already exists in ${g.name}`);
  g.tensors.set(t.name, t);
  return t;
}

/** A name not yet used by any tensor of `g`, derived from `base`. */
export function uniqueTensorName(g: Graph, base: string): string {
  if (!g.tensors.has(base)) return base;
  for (let i = 1; ; i++) if (!g.tensors.has(`${base}_${i}`)) return `${base}_${i}`;
}

export function getTensor(g: Graph, name: string): Tensor {
  const t = g.tensors.get(name);
  if (!t) throw new Error(`graph ${g.name} has no tensor "${name}"`);
  return t;
}

/**
 * A pad op's [before, after] amounts per dimension: its `paddings` attribute, else its constant
 * second input (TFLite's layout, [dims][2]). Every stage reads them the same way.
 */
export function padAmounts(g: Graph, op: Op): [number, number][] {
  if (op.attrs.paddings) return op.attrs.paddings;
  if (!op.inputs[1]) return [];
  const pv = Array.from(getTensor(g, op.inputs[1]).data as ArrayLike<number | bigint>, Number);
  const p: [number, number][] = [];
  for (let i = 0; i < pv.length; i += 2) p.push([pv[i]!, pv[i + 1]!]);
  return p;
}

export function isConstant(g: Graph, name: string): boolean {
  return g.tensors.get(name)?.data !== undefined;
}

export function numElements(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'int8':
    case 'uint8':
      return 1;
    case 'int16':
      return 2;
    case 'float32':
    case 'int32':
      return 4;
    case 'int64':
      return 8;
  }
}

export function typedArrayFor(dtype: DType, length: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'int8':
      return new Int8Array(length);
    case 'uint8':
      return new Uint8Array(length);
    case 'int16':
      return new Int16Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
  }
}

/** Index of the op producing each non-constant tensor. */
export function producers(g: Graph): Map<string, number> {
  const m = new Map<string, number>();
  g.ops.forEach((op, i) => op.outputs.forEach((o) => m.set(o, i)));
  return m;
}

/** Indices of the ops reading each tensor, in order. */
export function consumers(g: Graph): Map<string, number[]> {
  const m = new Map<string, number[]>();
  g.ops.forEach((op, i) =>
    op.inputs.forEach((t) => {
      const list = m.get(t);
      if (list) list.push(i);
      else m.set(t, [i]);
    }),
  );
  return m;
}

/** The non-constant inputs of an op (activations), in order. */
export function activationInputs(g: Graph, op: Op): string[] {
  return op.inputs.filter((n) => n !== '' && !isConstant(g, n));
}

/**
 * Deep copy of the structure; constant data is copied too so that training or quantising a clone
 * never changes the original.
 */
export function cloneGraph(g: Graph, name = g.name): Graph {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of g.tensors) {
    tensors.set(k, {
      ...t,
      shape: [...t.shape],
      data: t.data ? (t.data.slice() as TensorData) : undefined,
      quant: t.quant
        ? { ...t.quant, scale: [...t.quant.scale], zeroPoint: [...t.quant.zeroPoint] }
        : undefined,
    });
  }
  return {
    name,
    tensors,
    ops: g.ops.map((op) => ({
      ...op,
      inputs: [...op.inputs],
      outputs: [...op.outputs],
      attrs: structuredClone(op.attrs),
    })),
    inputs: [...g.inputs],
    outputs: [...g.outputs],
    metadata: { ...g.metadata },
  };
}

/** Drop tensors no op or graph input/output refers to. */
export function pruneUnusedTensors(g: Graph): void {
  const used = new Set<string>([...g.inputs, ...g.outputs]);
  for (const op of g.ops) for (const n of [...op.inputs, ...op.outputs]) used.add(n);
  for (const name of [...g.tensors.keys()]) if (!used.has(name)) g.tensors.delete(name);
}

/** Checks references and topological order; throws a TinypruneError naming the problem. */
export function validateGraph(g: Graph): void {
  const available = new Set<string>(g.inputs);
  for (const [name, t] of g.tensors) if (t.data) available.add(name);
  g.ops.forEach((op, i) => {
    for (const inp of op.inputs) {
      if (inp === '') continue; // optional input left out
      if (!g.tensors.has(inp))
        throw new TinypruneError(`op ${i} (${op.kind} "${op.name}") reads unknown tensor "${inp}"`);
      if (!available.has(inp))
        throw new TinypruneError(
          `op ${i} (${op.kind} "${op.name}") reads "${inp}" before it is produced (ops not in topological order)`,
        );
    }
    for (const out of op.outputs) {
      if (!g.tensors.has(out))
        throw new TinypruneError(
          `op ${i} (${op.kind} "${op.name}") writes unknown tensor "${out}"`,
        );
      available.add(out);
    }
  });
  for (const o of g.outputs)
    if (!available.has(o)) throw new TinypruneError(`graph output "${o}" is never produced`);
}
