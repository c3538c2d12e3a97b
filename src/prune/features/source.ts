// Streaming training data from feature stores: each pass visits the shards of every store
// (clean and augmented views) in a shuffled order, a few shards at a time; the examples of
// those shards are shuffled together and served in batches while the next shards are read.
// Resident memory is a few blocks of shards, whatever the dataset's size; a source whose decoded
// examples fit in `residentBytes` keeps them after the first pass instead of reading, checking and
// decoding every shard again each epoch (on small sets that was half of a head's training time).
// trainingSources() decides that for a fit's sources together, so that memory stays flat with N.
import type { Batch, BatchSource } from '../../engine/batches.js';
import type { Rng } from '../../engine/init.js';
import { readShard, type ReadScratch, type ShardData } from './shard.js';
import type { FeatureStore } from './store.js';

export interface StoreSourceOptions {
  /** Shards shuffled together (default: enough for ~4,096 examples, at least 2). */
  blockShards?: number;
  /** Serve the teacher logits too (every store must have them). */
  teacher?: boolean;
  /** Decoded bytes a source may keep across passes (default 0: stream every pass). */
  residentBytes?: number;
}

/** Decoded bytes the sources of one fit may keep resident together. */
export const RESIDENT_BYTES = 512 * 2 ** 20;

const decodedBytes = (stores: FeatureStore[], teacher: boolean) =>
  stores.reduce(
    (a, s) => a + 4 * s.layout.n * (1 + s.layout.dim + (teacher ? s.layout.teacherClasses : 0)),
    0,
  );

/**
 * The training and validation sources of one fit: both resident when their decoded examples fit
 * `budget` together, else both streamed. All or nothing, so that peak memory does not grow with
 * the data: a large set's validation split alone may fit where its training views do not, and
 * keeping it would add memory in proportion to N while saving only a fraction of each epoch's
 * reads.
 */
export function trainingSources(
  train: FeatureStore[],
  validation: FeatureStore,
  teacher: boolean,
  budget = RESIDENT_BYTES,
): { train: BatchSource; validation: BatchSource } {
  const total = decodedBytes(train, teacher) + decodedBytes([validation], false);
  const residentBytes = total <= budget ? total : 0;
  return {
    train: storeSource(train, { teacher, residentBytes }),
    validation: storeSource([validation], { residentBytes }),
  };
}

// Decode buffers by length, and read buffers, kept between passes (a few, all of one shard's
// size in practice).
const spare = new Map<number, Float32Array[]>();
const spareScratch: ReadScratch[] = [];
const SPARE_MAX = 32;

function takeBuffer(length: number): Float32Array {
  return spare.get(length)?.pop() ?? new Float32Array(length);
}

function giveBuffer(b: Float32Array): void {
  const list = spare.get(b.length) ?? [];
  if (list.length < SPARE_MAX) list.push(b);
  spare.set(b.length, list);
}

export function storeSource(stores: FeatureStore[], o: StoreSourceOptions = {}): BatchSource {
  const first = stores[0]!.layout;
  const dim = first.dim;
  const classes = first.teacherClasses;
  for (const s of stores)
    if (s.layout.dim !== dim || (o.teacher && s.layout.teacherClasses !== classes))
      throw new Error(`feature stores of one source must agree in layout (${s.dir})`);
  const shards = stores.flatMap((s) =>
    Array.from({ length: s.shardCount }, (_, k) => ({ store: s, k })),
  );
  const n = stores.reduce((a, s) => a + s.layout.n, 0);
  const blockShards = o.blockShards ?? Math.max(2, Math.ceil(4096 / first.shardSize));
  const teacher = o.teacher === true;
  const resident =
    (o.residentBytes ?? 0) > 0 && decodedBytes(stores, teacher) <= o.residentBytes!
      ? new Map<number, ShardData>()
      : undefined;
  return {
    n,
    teacher,
    async *batches(batchSize: number, rng?: Rng): AsyncGenerator<Batch> {
      const order = shards.map((_, i) => i);
      if (rng) rng.shuffle(order);
      const blocks: number[][] = [];
      for (let i = 0; i < order.length; i += blockShards)
        blocks.push(order.slice(i, i + blockShards));
      // Two sets of decode buffers, one per block in flight (the block served, the block read
      // ahead), taken from a pool that every pass and every source shares: resident memory is
      // the same whatever the data's size and does not wait for the garbage collector to drop
      // spent blocks or the buffers of finished passes.
      const size = first.shardSize * dim;
      const slots = [0, 1].map(() => [] as Float32Array[]);
      // File bytes: one buffer, reused shard after shard and, through a pool, pass after pass
      // (an fp32 shard is 16 MB). A block's shards are read one after the other: the read
      // ahead overlaps the block being served, and a buffer per shard in flight held
      // blockShards of them.
      const scratch = spareScratch.pop() ?? {};
      const read = async (b: number[], set: Float32Array[]) => {
        const parts: ShardData[] = [];
        for (const [j, i] of b.entries()) {
          const file = shards[i]!.store.shardFile(shards[i]!.k);
          if (resident) {
            // Kept shards own their arrays: pooled buffers are overwritten by later reads.
            const kept = resident.get(i) ?? (await readShard(file, undefined, scratch));
            resident.set(i, kept);
            parts.push(kept);
            continue;
          }
          if (dim > 0 && !set[j]) set[j] = takeBuffer(size);
          parts.push(await readShard(file, set[j], scratch));
        }
        return parts;
      };
      // A batch larger than the data is the whole data: no buffer beyond it.
      const cap = Math.max(1, Math.min(batchSize, n));
      const buf = {
        x: new Float32Array(cap * dim),
        y: new Int32Array(cap),
        t: teacher ? new Float32Array(cap * classes) : undefined,
      };
      let fill = 0;
      let next = blocks.length > 0 ? read(blocks[0]!, slots[0]!) : undefined;
      try {
        for (let b = 0; b < blocks.length; b++) {
          const parts: ShardData[] = await next!;
          next = b + 1 < blocks.length ? read(blocks[b + 1]!, slots[(b + 1) % 2]!) : undefined;
          next?.catch(() => {});
          // (part, row) pairs of the block, shuffled together.
          const rows: [number, number][] = [];
          parts.forEach((p, i) => {
            for (let r = 0; r < p.y.length; r++) rows.push([i, r]);
          });
          if (rng) rng.shuffle(rows);
          for (const [i, r] of rows) {
            const p = parts[i]!;
            if (dim > 0) buf.x.set(p.x!.subarray(r * dim, (r + 1) * dim), fill * dim);
            buf.y[fill] = p.y[r]!;
            if (buf.t)
              buf.t.set(p.teacher!.subarray(r * classes, (r + 1) * classes), fill * classes);
            if (++fill === batchSize) {
              yield { x: buf.x, y: buf.y, t: buf.t, n: fill };
              fill = 0;
            }
          }
        }
      } finally {
        // A pass ended early leaves a read in flight: it finishes before its buffers go back.
        await next?.catch(() => {});
        for (const set of slots) for (const x of set) giveBuffer(x);
        if (spareScratch.length < SPARE_MAX) spareScratch.push(scratch);
      }
      if (fill > 0)
        yield {
          x: buf.x.subarray(0, fill * dim),
          y: buf.y.subarray(0, fill),
          t: buf.t?.subarray(0, fill * classes),
          n: fill,
        };
    },
  };
}
