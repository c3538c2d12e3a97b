// The activation arena: one static buffer holding every non-constant tensor at an offset chosen
// from the tensors' lifetimes, so two tensors share bytes when they are never live together.
import { getTensor, numElements } from '../graph/graph.js';
import type { Graph } from '../graph/types.js';

export interface ArenaPlan {
  /** Arena size in bytes (a multiple of 4). */
  bytes: number;
  /** Byte offset of a tensor (a reshape's output shares its input's bytes). */
  offset(tensor: string): number;
}

interface Buffer {
  offset: number;
  bytes: number;
  first: number;
  last: number;
}

/**
 * Places each buffer at the lowest offset free during its lifetime, in the given order;
 * returns the arena size.
 */
function placeInOrder(order: Buffer[]): number {
  const placed: Buffer[] = [];
  let total = 0;
  for (const b of order) {
    const live = placed
      .filter((p) => p.first <= b.last && b.first <= p.last)
      .sort((x, y) => x.offset - y.offset);
    let off = 0;
    for (const p of live) {
      if (off + b.bytes <= p.offset) break;
      off = Math.max(off, (p.offset + p.bytes + 3) & ~3);
    }
    b.offset = off;
    placed.push(b);
    total = Math.max(total, off + b.bytes);
  }
  return (total + 3) & ~3;
}

/**
 * Lays out the buffers with a few first-fit orders (largest first, by first use, by last use) and
 * keeps the smallest: no single order wins on every network (MobileNet's first layers need
 * first-use order to reach the two-tensor lower bound).
 */
function placeBest(bufs: Buffer[]): number {
  const orders = [
    (x: Buffer, y: Buffer) => y.bytes - x.bytes || x.first - y.first,
    (x: Buffer, y: Buffer) => x.first - y.first || y.bytes - x.bytes,
    (x: Buffer, y: Buffer) => y.last - x.last || y.bytes - x.bytes,
  ];
  let best: { size: number; offsets: number[] } | undefined;
  for (const cmp of orders) {
    const size = placeInOrder([...bufs].sort(cmp));
    if (!best || size < best.size) best = { size, offsets: bufs.map((b) => b.offset) };
  }
  bufs.forEach((b, i) => (b.offset = best!.offsets[i]!));
  return best!.size;
}

/**
 * Plans the arena of an int8 graph: every activation (not constant) tensor from the op that
 * writes it to the last op that reads it; the graph input is live before the first op and the
 * output after the last.
 */
export function planArena(g: Graph): ArenaPlan {
  const isConst = (n: string) => g.tensors.get(n)?.data !== undefined;
  const alias = new Map<string, string>();
  const root = (n: string): string => (alias.has(n) ? root(alias.get(n)!) : n);
  for (const op of g.ops) if (op.kind === 'reshape') alias.set(op.outputs[0]!, op.inputs[0]!);
  const bufs = new Map<string, Buffer>();
  const touch = (name: string, at: number) => {
    const r = root(name);
    const b = bufs.get(r);
    if (!b)
      bufs.set(r, { offset: 0, bytes: numElements(getTensor(g, r).shape), first: at, last: at });
    else {
      b.first = Math.min(b.first, at);
      b.last = Math.max(b.last, at);
    }
  };
  touch(g.inputs[0]!, -1);
  g.ops.forEach((op, i) => {
    for (const n of op.inputs) if (n && !isConst(n)) touch(n, i);
    for (const n of op.outputs) touch(n, i);
  });
  touch(g.outputs[0]!, g.ops.length);
  const bytes = placeBest([...bufs.values()]);
  return { bytes, offset: (name) => bufs.get(root(name))!.offset };
}
