// Feature extraction into a store: examples are loaded (by worker threads or this thread),
// passed through the frozen tail and, for distillation, the rest of the unpruned model
// (onnxruntime, its own intra-op threads), encoded and written shard by shard. Loads run ahead
// of the tail so that decoding and the forward passes overlap; only shards the store lacks are
// built, so an interrupted extraction resumes from its last finished shard.
import type { OnnxRunner } from '../../engine/onnxRun.js';
import type { Progress } from '../../cli/progress.js';
import type { ExampleLoader } from './pool.js';
import { encodeShard, writeShard } from './shard.js';
import type { FeatureStore } from './store.js';
import type { ViewRef } from './views.js';

export interface ExtractOptions {
  store: FeatureStore;
  ref: ViewRef;
  loader: ExampleLoader;
  /** Shards to build (default: those the store lacks or that are damaged). */
  shards?: number[];
  /** Features = tail(x); absent: the inputs themselves are stored (when the store has features). */
  tail?: OnnxRunner;
  /** Log-probabilities = log(teacher(features or inputs)), when the store keeps them. */
  teacher?: OnnxRunner;
  /** Examples per load request (default 128). */
  chunk?: number;
  progress?: (label: string, total: number) => Progress;
  label?: string;
  /** After each shard is written (logs; tests slow extraction down here). */
  onShard?: (k: number) => void | Promise<void>;
  onDamaged?: (file: string, why: string) => void;
}

export interface ExtractStats {
  /** Shards built now (the rest were reused). */
  built: number;
  reused: number;
  examples: number;
  seconds: number;
}

/** Builds the store's missing shards. */
export async function extract(o: ExtractOptions): Promise<ExtractStats> {
  const t0 = performance.now();
  const { store, ref, loader } = o;
  const L = store.layout;
  const todo = o.shards ?? (await o.store.missing(o.onDamaged));
  const stats: ExtractStats = {
    built: todo.length,
    reused: store.shardCount - todo.length,
    examples: 0,
    seconds: 0,
  };
  if (todo.length === 0) return stats;
  const chunk = o.chunk ?? 128;
  // Every load, in order: [shard, start, count].
  const loads: [number, number, number][] = [];
  for (const k of todo) {
    const end = k * L.shardSize + store.shardLength(k);
    for (let s = k * L.shardSize; s < end; s += chunk) loads.push([k, s, Math.min(chunk, end - s)]);
  }
  const total = loads.reduce((a, l) => a + l[2], 0);
  const bar = o.progress?.(o.label ?? 'features', total);
  const inFlight: Promise<{ x: Float32Array; y: Int32Array }>[] = [];
  let issued = 0;
  const issue = () => {
    while (issued < loads.length && inFlight.length < Math.max(2, loader.parallel)) {
      const [, s, c] = loads[issued++]!;
      const p = loader.load(ref, s, c);
      p.catch(() => {}); // awaited in order below; avoid an unhandled rejection meanwhile
      inFlight.push(p);
    }
  };
  let shard = -1;
  let y = new Int32Array(0);
  let x: Float32Array | undefined;
  let t: Float32Array | undefined;
  let filled = 0;
  try {
    issue();
    for (const [k, s, c] of loads) {
      if (k !== shard) {
        shard = k;
        const len = store.shardLength(k);
        y = new Int32Array(len);
        x = L.dim > 0 ? new Float32Array(len * L.dim) : undefined;
        t = L.teacherClasses > 0 ? new Float32Array(len * L.teacherClasses) : undefined;
        filled = 0;
      }
      const got = await inFlight.shift()!;
      issue();
      const at = s - k * L.shardSize;
      y.set(got.y, at);
      const feats = o.tail ? await o.tail.predict(got.x, c) : got.x;
      if (x) x.set(feats, at * L.dim);
      if (t) {
        const p = await o.teacher!.predict(feats, c);
        for (let i = 0; i < p.length; i++)
          t[at * L.teacherClasses + i] = Math.log(Math.max(p[i]!, 1e-12));
      }
      filled += c;
      stats.examples += c;
      bar?.tick(c);
      if (filled === store.shardLength(k)) {
        writeShard(
          store.shardFile(k),
          encodeShard(y, x, L.dim, L.channels, L.precision, t, L.teacherClasses),
        );
        await o.onShard?.(k);
      }
    }
  } finally {
    await Promise.allSettled(inFlight);
  }
  stats.seconds = (performance.now() - t0) / 1000;
  bar?.done(`${Math.round(stats.examples / Math.max(stats.seconds, 1e-9))} examples/s`);
  return stats;
}
