// What an op's C emitter receives and returns. Emitters are pure: they build strings from one op
// of an int8 graph; codegen.ts assembles the layers into model.c.
import type { Graph, Op, Tensor } from '../../graph/types.js';
import type { RequantPath } from '../requant.js';
import type { Target } from '../targets.js';

export interface QParams {
  scale: number;
  zp: number;
}

/**
 * Which convolution kernels the generator may pick: speed allows the two-pixel kernels, which
 * keep their weights as int16 (about twice the weight bytes); size keeps every weight int8.
 */
export type KernelMode = 'speed' | 'size';

export interface EmitContext {
  g: Graph;
  op: Op;
  index: number;
  /** C name of the layer's function; its constants take it as a prefix. */
  fn: string;
  x: Tensor;
  y: Tensor;
  qx: QParams;
  qy: QParams;
  /** Input zero point, offset-binary (arena values are x + 128). */
  zu: number;
  /** The activation clamp, int8 and offset-binary. */
  lo: number;
  hi: number;
  clampLo: number;
  clampHi: number;
  /** Arena offset of an activation tensor. */
  off(tensor: string): number;
  target: Target;
  kernels: KernelMode;
  /** Throws a TinypruneError naming the graph. */
  fail(message: string): never;
}

export interface LayerCode {
  /** Constant tables and helper functions of this layer (file scope). */
  consts: string[];
  /** Body of `static void <fn>(void)`, where `in` and `out` point into the arena. */
  body: string;
  macs: number;
  /** The kernel the layer runs (deploy.json and the report show it). */
  kernel: string;
  requant?: RequantPath;
  /** Shared routines the body calls, by name: each is emitted once per model. */
  helpers?: Record<string, string>;
}

/** One op kind's code; null when the op needs no code (a reshape aliases its input). */
export type Emitter = (c: EmitContext) => LayerCode | null;

export function q(t: Tensor): QParams {
  return { scale: t.quant?.scale[0] ?? 1, zp: t.quant?.zeroPoint[0] ?? 0 };
}

/** A C array initialiser, wrapped at about 100 columns. */
export function cArray(values: ArrayLike<number>): string {
  const parts: string[] = [];
  let line = ' ';
  for (let i = 0; i < values.length; i++) {
    const s = `${values[i]},`;
    if (line.length + s.length > 100) {
      parts.push(line);
      line = ' ';
    }
    line += ` ${s}`;
  }
  parts.push(line);
  return parts.join('\n');
}
