// Streaming training data from feature stores: each pass visits the shards of every store
// (clean and augmented views) in a shuffled order, a few shards at a time; the examples of
// those shards are shuffled together and served in batches while the next shards are read.
// Resident memory is a few blocks of shards, whatever the dataset's size.
import type { Batch, BatchSource } from '../../engine/batches.js';
import type { Rng } from '../../engine/init.js';
import { readShard, type ShardData } from './shard.js';
import type { FeatureStore } from './store.js';

export interface StoreSourceOptions {
  /** Shards shuffled together (default: enough for ~4,096 examples, at least 2). */
  blockShards?: number;
  /** Serve the teacher logits too (every store must have them). */
  teacher?: boolean;
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
      // ahead), reused for the whole pass: resident memory is the same whatever the data's
      // size and does not wait for the garbage collector to drop spent blocks.
      const slots = [0, 1].map(() =>
        Array.from({ length: blockShards }, () => new Float32Array(0)),
      );
      const read = (b: number[], set: Float32Array[]) =>
        Promise.all(
          b.map((i, j) => {
            const { store, k } = shards[i]!;
            const need = store.shardLength(k) * dim;
            if (set[j]!.length < need) set[j] = new Float32Array(store.layout.shardSize * dim);
            return readShard(store.shardFile(k), set[j]);
          }),
        );
      const buf = {
        x: new Float32Array(batchSize * dim),
        y: new Int32Array(batchSize),
        t: teacher ? new Float32Array(batchSize * classes) : undefined,
      };
      let fill = 0;
      let next = blocks.length > 0 ? read(blocks[0]!, slots[0]!) : undefined;
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
          if (buf.t) buf.t.set(p.teacher!.subarray(r * classes, (r + 1) * classes), fill * classes);
          if (++fill === batchSize) {
            yield { x: buf.x, y: buf.y, t: buf.t, n: fill };
            fill = 0;
          }
        }
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
