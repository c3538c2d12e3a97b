// Where examples are loaded: worker threads (one per core by default) that each rebuild the
// prepared data, or this thread when workers are off or the data cannot be rebuilt elsewhere.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../engine/spawnWorker.js';
import { TinypruneError } from '../../graph/types.js';
import type { PruneData } from '../data.js';
import { loadRange, openView, type ViewLoader, type ViewRef } from './views.js';

export interface LoadRequest {
  id: number;
  ref: ViewRef;
  start: number;
  count: number;
}

export interface LoadReply {
  id: number;
  x?: Float32Array;
  y?: Int32Array;
  error?: string;
  /** The error was a user mistake (bad file): rethrown as TinypruneError. */
  user?: boolean;
}

export interface ExampleLoader {
  load(ref: ViewRef, start: number, count: number): Promise<{ x: Float32Array; y: Int32Array }>;
  /** How many loads to keep in flight. */
  readonly parallel: number;
  close(): Promise<void>;
}

/** Loads in this thread. */
export function inThreadLoader(data: PruneData): ExampleLoader {
  const views = new Map<string, Promise<ViewLoader>>();
  return {
    parallel: 2,
    async load(ref, start, count) {
      const key = JSON.stringify(ref);
      let v = views.get(key);
      if (!v) views.set(key, (v = openView(data, ref)));
      return loadRange(await v, start, count);
    },
    async close() {},
  };
}

function spawn(reopen: PruneData['reopen']): Worker {
  return spawnWorker(import.meta.url, 'worker', reopen);
}

/** Default worker count: every core (the frozen tail runs in onnxruntime's own threads). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** `count` worker threads; loads go to the least busy one. */
export async function workerLoader(data: PruneData, count: number): Promise<ExampleLoader> {
  const workers = await Promise.all(
    Array.from({ length: count }, async () => {
      const w = spawn(data.reopen);
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      return w;
    }),
  );
  const pending = new Map<
    number,
    { resolve: (r: { x: Float32Array; y: Int32Array }) => void; reject: (e: Error) => void }
  >();
  const busy = workers.map(() => 0);
  let next = 0;
  let failed: Error | undefined;
  workers.forEach((w, k) => {
    w.on('message', (r: LoadReply) => {
      busy[k]!--;
      const p = pending.get(r.id);
      pending.delete(r.id);
      if (!p) return;
      if (r.error !== undefined)
        p.reject(r.user ? new TinypruneError(r.error) : new Error(`extraction worker: ${r.error}`));
      else p.resolve({ x: r.x!, y: r.y! });
    });
    w.on('error', (e) => {
      failed = e;
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
  });
  return {
    parallel: 3 * count,
    load(ref, start, count) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      let k = 0;
      busy.forEach((b, i) => (b < busy[k]! ? (k = i) : 0));
      busy[k]!++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        const req: LoadRequest = { id, ref, start, count };
        workers[k]!.postMessage(req);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
