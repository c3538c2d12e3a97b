// Evaluation of constant subgraphs at import. Exporters compute shapes and pad amounts with small
// chains of tensor ops on constants (PyTorch 1.13: Constant → ConstantOfShape → Concat → Reshape
// → Slice with step −1 → Transpose → Cast for every Pad); the Graph only holds the results.
// Semantics from the ONNX operator documentation; values are held as doubles (OnnxConst).
import type { OnnxAttr, OnnxConst, OnnxNode } from './schema.js';
import {
  fmt,
  MAX_COMPUTED_ELEMENTS,
  MAX_CONST_ELEMENTS,
  numElementsChecked,
  ONNX_DTYPE,
} from './schema.js';
import { ProtoError } from './proto.js';

export class ConstError extends ProtoError {}

function strides(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i]!;
  }
  return s;
}

function make(dtype: number, dims: number[], what: string, limit = MAX_CONST_ELEMENTS): OnnxConst {
  return { dtype, dims, data: new Float64Array(numElementsChecked(dims, what, limit)) };
}

/** Visits every index of `dims` in row-major order. */
function forEachIndex(dims: number[], f: (idx: number[], flat: number) => void): void {
  const n = dims.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(dims.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    f(idx, flat);
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k]! < dims[k]!) break;
      idx[k] = 0;
    }
  }
}

export function transposeConst(c: OnnxConst, perm: number[], what: string): OnnxConst {
  if (perm.length !== c.dims.length || [...perm].sort().some((p, i) => p !== i))
    throw new ConstError(`${what}: perm ${fmt(perm)} does not fit rank ${c.dims.length}`);
  const out = make(
    c.dtype,
    perm.map((p) => c.dims[p]!),
    what,
  );
  const s = strides(c.dims);
  forEachIndex(out.dims, (idx, flat) => {
    let src = 0;
    for (let k = 0; k < idx.length; k++) src += idx[k]! * s[perm[k]!]!;
    out.data[flat] = c.data[src]!;
  });
  return out;
}

/** Numpy-style broadcast of `c` to `dims`. */
export function broadcastConst(c: OnnxConst, dims: number[], what: string): OnnxConst {
  if (c.dims.length > dims.length)
    throw new ConstError(`${what}: cannot broadcast ${fmt(c.dims)} to ${fmt(dims)}`);
  const lead = dims.length - c.dims.length;
  const cd = [...new Array<number>(lead).fill(1), ...c.dims];
  cd.forEach((d, k) => {
    if (d !== 1 && d !== dims[k])
      throw new ConstError(`${what}: cannot broadcast ${fmt(c.dims)} to ${fmt(dims)}`);
  });
  const s = strides(cd);
  const out = make(c.dtype, [...dims], what);
  forEachIndex(dims, (idx, flat) => {
    let src = 0;
    for (let k = 0; k < idx.length; k++) if (cd[k] !== 1) src += idx[k]! * s[k]!;
    out.data[flat] = c.data[src]!;
  });
  return out;
}

function broadcastDims(a: number[], b: number[], what: string): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw new ConstError(`${what}: shapes ${fmt(a)} and ${fmt(b)} do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

const INTS = (c: OnnxConst) => Array.from(c.data);

function attrInt(node: OnnxNode, name: string, dflt: number): number {
  return node.attrs.get(name)?.i ?? dflt;
}

function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank)
    throw new ConstError(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Target shape of a Reshape (0 copies the input dim unless allowzero, −1 is inferred). */
export function reshapeDims(
  inDims: number[],
  target: number[],
  allowZero: boolean,
  what: string,
): number[] {
  const total = inDims.reduce((a, b) => a * b, 1);
  const out = target.map((d, i) => (d === 0 && !allowZero ? (inDims[i] ?? NaN) : d));
  const minus = out.filter((d) => d === -1).length;
  if (minus > 1 || out.some((d) => !Number.isInteger(d) || d < -1))
    throw new ConstError(`${what}: invalid target shape ${fmt(target)}`);
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  if (minus === 1) {
    if (known === 0 || total % known !== 0)
      throw new ConstError(`${what}: cannot reshape ${fmt(inDims)} into ${fmt(target)}`);
    out[out.indexOf(-1)] = total / known;
  } else if (known !== total)
    throw new ConstError(`${what}: cannot reshape ${fmt(inDims)} into ${fmt(target)}`);
  return out;
}

/** The value of a Constant node's attribute. */
function constantValue(node: OnnxNode, what: string): OnnxConst {
  const a: OnnxAttr | undefined = [...node.attrs.values()][0];
  if (!a || node.attrs.size !== 1)
    throw new ConstError(`${what}: needs exactly one value attribute`);
  switch (a.name) {
    case 'value':
      if (!a.t) throw new ConstError(`${what}: value is not a tensor`);
      return a.t;
    case 'value_float':
      return { dtype: ONNX_DTYPE.FLOAT, dims: [], data: Float64Array.of(a.f ?? 0) };
    case 'value_int':
      return { dtype: ONNX_DTYPE.INT64, dims: [], data: Float64Array.of(a.i ?? 0) };
    case 'value_floats':
      return {
        dtype: ONNX_DTYPE.FLOAT,
        dims: [a.floats?.length ?? 0],
        data: Float64Array.from(a.floats ?? []),
      };
    case 'value_ints':
      return {
        dtype: ONNX_DTYPE.INT64,
        dims: [a.ints?.length ?? 0],
        data: Float64Array.from(a.ints ?? []),
      };
    default:
      throw new ConstError(`${what}: unsupported Constant attribute "${a.name}"`);
  }
}

function castValue(v: number, to: number): number {
  switch (to) {
    case ONNX_DTYPE.FLOAT:
      return Math.fround(v);
    case ONNX_DTYPE.DOUBLE:
      return v;
    case ONNX_DTYPE.BOOL:
      return v !== 0 ? 1 : 0;
    case ONNX_DTYPE.INT8:
      return (Math.trunc(v) << 24) >> 24;
    case ONNX_DTYPE.UINT8:
      return Math.trunc(v) & 0xff;
    case ONNX_DTYPE.INT16:
      return (Math.trunc(v) << 16) >> 16;
    case ONNX_DTYPE.INT32:
      return Math.trunc(v) | 0;
    case ONNX_DTYPE.INT64:
      return Math.trunc(v);
    default:
      throw new ConstError(`Cast to data type ${to} is not supported`);
  }
}

type Evaluator = (node: OnnxNode, inputs: (OnnxConst | undefined)[], what: string) => OnnxConst;

function need(inputs: (OnnxConst | undefined)[], i: number, what: string): OnnxConst {
  const c = inputs[i];
  if (!c) throw new ConstError(`${what}: missing input ${i}`);
  return c;
}

function elementwise(f: (a: number, b: number) => number): Evaluator {
  return (node, inputs, what) => {
    const a = need(inputs, 0, what);
    const b = need(inputs, 1, what);
    const dims = broadcastDims(a.dims, b.dims, what);
    const x = broadcastConst(a, dims, what);
    const y = broadcastConst(b, dims, what);
    const out = make(a.dtype, dims, what);
    const isInt = a.dtype !== ONNX_DTYPE.FLOAT && a.dtype !== ONNX_DTYPE.DOUBLE;
    for (let i = 0; i < out.data.length; i++) {
      const v = f(x.data[i]!, y.data[i]!);
      out.data[i] = isInt ? Math.trunc(v) : a.dtype === ONNX_DTYPE.FLOAT ? Math.fround(v) : v;
    }
    return out;
  };
}

/** Ops evaluated when all their inputs are constants. */
export const CONSTANT_OPS: Record<string, Evaluator> = {
  Constant: (node, _inputs, what) => constantValue(node, what),
  Identity: (_n, inputs, what) => need(inputs, 0, what),
  Cast: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const to = attrInt(node, 'to', 0);
    return { dtype: to, dims: c.dims, data: c.data.map((v) => castValue(v, to)) };
  },
  ConstantOfShape: (node, inputs, what) => {
    const shape = INTS(need(inputs, 0, what));
    const v = node.attrs.get('value')?.t ?? {
      dtype: ONNX_DTYPE.FLOAT,
      dims: [1],
      data: Float64Array.of(0),
    };
    if (v.data.length !== 1) throw new ConstError(`${what}: value must hold one element`);
    // Shapes come from the file: a damaged one must not allocate gigabytes.
    const out = make(v.dtype, shape, what, MAX_COMPUTED_ELEMENTS);
    out.data.fill(v.data[0]!);
    return out;
  },
  Concat: (node, inputs, what) => {
    const parts = inputs.map((c, i) => need(inputs, i, what));
    if (parts.length === 0) throw new ConstError(`${what}: no inputs`);
    const rank = parts[0]!.dims.length;
    const axis = normAxis(attrInt(node, 'axis', 0), rank, what);
    for (const p of parts)
      if (p.dims.length !== rank || p.dims.some((d, k) => k !== axis && d !== parts[0]!.dims[k]))
        throw new ConstError(`${what}: inputs of mismatched shapes`);
    const dims = [...parts[0]!.dims];
    dims[axis] = parts.reduce((s, p) => s + p.dims[axis]!, 0);
    const out = make(parts[0]!.dtype, dims, what);
    const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    let o = 0;
    for (let i = 0; i < outer; i++)
      for (const p of parts) {
        const len = p.dims[axis]! * inner;
        out.data.set(p.data.subarray(i * len, (i + 1) * len), o);
        o += len;
      }
    return out;
  },
  Reshape: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const dims = reshapeDims(
      c.dims,
      INTS(need(inputs, 1, what)),
      attrInt(node, 'allowzero', 0) === 1,
      what,
    );
    return { dtype: c.dtype, dims, data: c.data };
  },
  Flatten: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const axis = attrInt(node, 'axis', 1);
    const a = axis < 0 ? axis + c.dims.length : axis;
    const outer = c.dims.slice(0, a).reduce((x, y) => x * y, 1);
    return { dtype: c.dtype, dims: [outer, c.data.length / Math.max(outer, 1)], data: c.data };
  },
  Squeeze: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const axesList = inputs[1] ? INTS(inputs[1]) : node.attrs.get('axes')?.ints;
    const axes = (axesList ?? c.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) =>
      normAxis(a, c.dims.length, what),
    );
    return { dtype: c.dtype, dims: c.dims.filter((_, i) => !axes.includes(i)), data: c.data };
  },
  Unsqueeze: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const axesList = inputs[1] ? INTS(inputs[1]) : (node.attrs.get('axes')?.ints ?? []);
    const rank = c.dims.length + axesList.length;
    const axes = axesList.map((a) => normAxis(a, rank, what));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < rank; i++) dims.push(axes.includes(i) ? 1 : c.dims[k++]!);
    if (k !== c.dims.length) throw new ConstError(`${what}: repeated axes`);
    return { dtype: c.dtype, dims, data: c.data };
  },
  Transpose: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const perm = node.attrs.get('perm')?.ints ?? c.dims.map((_, i) => c.dims.length - 1 - i);
    return transposeConst(c, perm, what);
  },
  Slice: (_node, inputs, what) => {
    const c = need(inputs, 0, what);
    const starts = INTS(need(inputs, 1, what));
    const ends = INTS(need(inputs, 2, what));
    const axes = inputs[3] ? INTS(inputs[3]) : starts.map((_, i) => i);
    const steps = inputs[4] ? INTS(inputs[4]) : starts.map(() => 1);
    if (
      ends.length !== starts.length ||
      axes.length !== starts.length ||
      steps.length !== starts.length
    )
      throw new ConstError(`${what}: starts, ends, axes and steps differ in length`);
    const rank = c.dims.length;
    const first = c.dims.map(() => 0);
    const step = c.dims.map(() => 1);
    const count = [...c.dims];
    axes.forEach((ax, i) => {
      const a = normAxis(ax, rank, what);
      const d = c.dims[a]!;
      const s = steps[i]!;
      if (s === 0 || !Number.isFinite(s)) throw new ConstError(`${what}: step 0`);
      let b = starts[i]!;
      let e = ends[i]!;
      if (b < 0) b += d;
      if (e < 0) e += d;
      if (s > 0) {
        b = Math.min(Math.max(b, 0), d);
        e = Math.min(Math.max(e, 0), d);
        count[a] = Math.max(0, Math.ceil((e - b) / s));
      } else {
        b = Math.min(Math.max(b, 0), d - 1);
        e = Math.min(Math.max(e, -1), d - 1);
        count[a] = Math.max(0, Math.ceil((e - b) / s));
      }
      first[a] = b;
      step[a] = s;
    });
    const out = make(c.dtype, count, what);
    const st = strides(c.dims);
    forEachIndex(count, (idx, flat) => {
      let src = 0;
      for (let k = 0; k < rank; k++) src += (first[k]! + idx[k]! * step[k]!) * st[k]!;
      out.data[flat] = c.data[src]!;
    });
    return out;
  },
  Gather: (node, inputs, what) => {
    const c = need(inputs, 0, what);
    const ind = need(inputs, 1, what);
    const axis = normAxis(attrInt(node, 'axis', 0), c.dims.length, what);
    const dims = [...c.dims.slice(0, axis), ...ind.dims, ...c.dims.slice(axis + 1)];
    const out = make(c.dtype, dims, what, MAX_COMPUTED_ELEMENTS);
    const outer = c.dims.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = c.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const d = c.dims[axis]!;
    let o = 0;
    for (let i = 0; i < outer; i++)
      for (const raw of ind.data) {
        const j = raw < 0 ? raw + d : raw;
        if (j < 0 || j >= d) throw new ConstError(`${what}: index ${raw} out of range`);
        out.data.set(c.data.subarray((i * d + j) * inner, (i * d + j + 1) * inner), o);
        o += inner;
      }
    return out;
  },
  Shape: (_node, inputs, what) => {
    const c = need(inputs, 0, what);
    return { dtype: ONNX_DTYPE.INT64, dims: [c.dims.length], data: Float64Array.from(c.dims) };
  },
  Add: elementwise((a, b) => a + b),
  Sub: elementwise((a, b) => a - b),
  Mul: elementwise((a, b) => a * b),
  Div: elementwise((a, b) => a / b),
};
