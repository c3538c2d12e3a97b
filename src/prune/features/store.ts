// A content-addressed feature store: one folder per key (a hash of everything the features
// depend on: model bytes, cut, data fingerprint, split, view, seeds, precision), holding
// numbered shards of `shardSize` examples. Shards that are missing or fail their checksum are
// (re)built by extraction; finished ones are reused by every run that asks for the same key.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../../io/atomic.js';
import type { Precision } from './codec.js';
import { checkShard, readBytes, ShardError, type ReadScratch } from './shard.js';

export interface StoreLayout {
  /** Examples in the store. */
  n: number;
  /** Feature values per example (0: teacher outputs only). */
  dim: number;
  /** The features' last axis (int8 scales are per channel). */
  channels: number;
  /** Model input / feature shape without the batch dimension. */
  shape: number[];
  precision: Precision;
  /** Teacher log-probabilities per example (0: none). */
  teacherClasses: number;
  shardSize: number;
}

/** Examples per shard: about 16 MB of float features (a few thousand for teacher-only stores). */
export function defaultShardSize(dim: number): number {
  if (dim === 0) return 8192;
  return Math.max(32, Math.min(4096, Math.floor((16 << 20) / (4 * dim))));
}

export function hashKey(key: unknown): string {
  return createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32);
}

export class FeatureStore {
  private constructor(
    readonly dir: string,
    readonly key: string,
    readonly layout: StoreLayout,
  ) {}

  /** Opens (creating) the store for `key` under `root`. */
  static open(root: string, key: Record<string, unknown>, layout: StoreLayout): FeatureStore {
    const id = hashKey({ key, layout });
    const dir = join(root, id);
    mkdirSync(dir, { recursive: true });
    const manifest = join(dir, 'store.json');
    if (!existsSync(manifest))
      writeFileAtomic(manifest, JSON.stringify({ key, layout }, null, 2) + '\n');
    // Temporary files of a writer that was killed mid-write (not those of a live process that
    // shares the cache).
    removeStaleTemporaries(dir);
    return new FeatureStore(dir, id, layout);
  }

  get shardCount(): number {
    return Math.ceil(this.layout.n / this.layout.shardSize);
  }

  /** Examples in shard k. */
  shardLength(k: number): number {
    return Math.min(this.layout.shardSize, this.layout.n - k * this.layout.shardSize);
  }

  shardFile(k: number): string {
    return join(this.dir, `shard-${String(k).padStart(5, '0')}.bin`);
  }

  /** Size on disk of the finished shards. */
  bytes(): number {
    let total = 0;
    for (let k = 0; k < this.shardCount; k++)
      if (existsSync(this.shardFile(k))) total += statSync(this.shardFile(k)).size;
    return total;
  }

  /**
   * Shards to (re)build: absent ones, and damaged ones (checksum, wrong example count), which
   * are deleted. `onDamaged` hears about each damaged shard.
   */
  async missing(onDamaged?: (file: string, why: string) => void): Promise<number[]> {
    const out: number[] = [];
    const scratch: ReadScratch = {};
    for (let k = 0; k < this.shardCount; k++) {
      const file = this.shardFile(k);
      if (!existsSync(file)) {
        out.push(k);
        continue;
      }
      try {
        const h = checkShard(await readBytes(file, scratch), file);
        if (h.n !== this.shardLength(k))
          throw new ShardError(`${file}: holds ${h.n} examples, expected ${this.shardLength(k)}`);
      } catch (e) {
        if (!(e instanceof ShardError)) throw e;
        onDamaged?.(file, e.message);
        rmSync(file, { force: true });
        out.push(k);
      }
    }
    return out;
  }
}
