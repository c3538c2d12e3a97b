// Feature extraction into stores: examples are loaded (by worker threads or this thread),
// passed through the frozen tail and, for distillation, the rest of the unpruned model
// (onnxruntime, its own intra-op threads), encoded and written shard by shard. Loads run ahead
// of the tail so that decoding and the forward passes overlap; only shards the store lacks are
// built, so an interrupted extraction resumes from its last finished shard. Several stores of
// the same examples (the unpruned model's outputs and a cut's features, say) are filled from
// one load of each example, so clips are decoded and MFCC'd once for all of them.
import type { OnnxRunner } from '../../engine/onnxRun.js';
import type { Progress } from '../../cli/progress.js';
import type { ExampleLoader, Loaded } from './pool.js';
import { encodeShard, writeShard } from './shard.js';
import type { FeatureStore } from './store.js';
import type { ViewRef } from './views.js';

/** One store to fill from the loaded examples. */
export interface ExtractTarget {
  store: FeatureStore;
  /** Shards to build (default: those the store lacks or that are damaged). */
  shards?: number[];
  /** Features = tail(x); absent: the inputs themselves are stored (when the store has features). */
  tail?: OnnxRunner;
  /** Log-probabilities = log(teacher(features or inputs)), when the store keeps them. */
  teacher?: OnnxRunner;
}

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
  /** More stores of the same examples (same `ref`, same length), filled from the same loads. */
  also?: ExtractTarget[];
  /** Examples per load request (default 128). */
  chunk?: number;
  progress?: (label: string, total: number) => Progress;
  label?: string;
  /** After each shard of `store` is written (logs; tests slow extraction down here). */
  onShard?: (k: number) => void | Promise<void>;
  onDamaged?: (file: string, why: string) => void;
}

export interface ExtractStats {
  /** Shards built now, over every target (the rest were reused). */
  built: number;
  reused: number;
  /** Examples loaded (decoded, preprocessed): each once, however many stores it went to. */
  examples: number;
  /** Rows written, over every target. */
  rows: number;
  seconds: number;
}

interface TargetState extends ExtractTarget {
  need: Set<number>;
  shard: number;
  y: Int32Array;
  x?: Float32Array;
  xBuf?: Float32Array;
  t?: Float32Array;
  filled: number;
}

/** Builds the missing shards of the store (and of `also`'s stores). */
export async function extract(o: ExtractOptions): Promise<ExtractStats> {
  const t0 = performance.now();
  const { ref, loader } = o;
  const targets: TargetState[] = [];
  for (const t of [o, ...(o.also ?? [])]) {
    if (t.store.layout.n !== o.store.layout.n)
      throw new Error(`extract: stores of one view differ in length (${t.store.dir})`);
    const todo = t.shards ?? (await t.store.missing(o.onDamaged));
    targets.push({ ...t, need: new Set(todo), shard: -1, y: new Int32Array(0), filled: 0 });
  }
  const stats: ExtractStats = { built: 0, reused: 0, examples: 0, rows: 0, seconds: 0 };
  for (const t of targets) {
    stats.built += t.need.size;
    stats.reused += t.store.shardCount - t.need.size;
  }
  if (stats.built === 0) return stats;
  const chunk = o.chunk ?? 128;
  const n = o.store.layout.n;
  // Every load, in order: [start, count], never across a shard boundary of any target, only
  // where some target needs the shard.
  const loads: [number, number][] = [];
  for (let s = 0; s < n;) {
    let end = Math.min(n, s + chunk);
    let needed = false;
    for (const t of targets) {
      const size = t.store.layout.shardSize;
      end = Math.min(end, (Math.floor(s / size) + 1) * size);
      if (t.need.has(Math.floor(s / size))) needed = true;
    }
    if (needed) loads.push([s, end - s]);
    s = end;
  }
  const total = loads.reduce((a, l) => a + l[1], 0);
  const bar = o.progress?.(o.label ?? 'features', total);
  // Workers that can run the models get them with the loads (each target's forward passes);
  // otherwise the loads come back as inputs and the runners here do the passes.
  const forward = loader.forwards
    ? targets.map((t) => ({ tail: t.tail?.model, teacher: t.teacher?.model }))
    : undefined;
  const inFlight: Promise<Loaded>[] = [];
  let issued = 0;
  const issue = () => {
    while (issued < loads.length && inFlight.length < Math.max(2, loader.parallel)) {
      const [s, c] = loads[issued++]!;
      // Only the targets that need this range's shard get their passes run.
      const f = forward?.map((m, i) => {
        const t = targets[i]!;
        return t.need.has(Math.floor(s / t.store.layout.shardSize)) ? m : {};
      });
      const p = loader.load(ref, s, c, f);
      p.catch(() => {}); // awaited in order below; avoid an unhandled rejection meanwhile
      inFlight.push(p);
    }
  };
  try {
    issue();
    for (const [s, c] of loads) {
      const got = await inFlight.shift()!;
      issue();
      for (const [ti, t] of targets.entries()) {
        const L = t.store.layout;
        const k = Math.floor(s / L.shardSize);
        if (!t.need.has(k)) continue;
        const len = t.store.shardLength(k);
        if (k !== t.shard) {
          t.shard = k;
          t.y = new Int32Array(len);
          // One feature buffer per target, reused shard after shard (the last may be shorter).
          t.xBuf ??= L.dim > 0 ? new Float32Array(L.shardSize * L.dim) : undefined;
          t.x = t.xBuf?.subarray(0, len * L.dim);
          t.t = L.teacherClasses > 0 ? new Float32Array(len * L.teacherClasses) : undefined;
          t.filled = 0;
        }
        const at = s - k * L.shardSize;
        t.y.set(got.y, at);
        const done = got.out?.[ti];
        const feats = !t.tail ? got.x : (done?.feats ?? (await t.tail.predict(got.x, c)));
        if (t.x) t.x.set(feats, at * L.dim);
        if (t.t) {
          const base = at * L.teacherClasses;
          if (done?.logProbs) t.t.set(done.logProbs, base);
          else {
            const p = await t.teacher!.predict(feats, c);
            for (let i = 0; i < p.length; i++) t.t[base + i] = Math.log(Math.max(p[i]!, 1e-12));
          }
        }
        t.filled += c;
        stats.rows += c;
        if (t.filled === len) {
          writeShard(
            t.store.shardFile(k),
            encodeShard(t.y, t.x, L.dim, L.channels, L.precision, t.t, L.teacherClasses),
          );
          t.shard = -1;
          if (t === targets[0]) await o.onShard?.(k);
        }
      }
      got.release?.();
      stats.examples += c;
      bar?.tick(c);
    }
  } finally {
    await Promise.allSettled(inFlight);
  }
  stats.seconds = (performance.now() - t0) / 1000;
  bar?.done(`${Math.round(stats.examples / Math.max(stats.seconds, 1e-9))} examples/s`);
  return stats;
}
