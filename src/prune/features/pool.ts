// Where examples are loaded: worker threads (one per core by default) that each rebuild the
// prepared data, or this thread when workers are off or the data cannot be rebuilt elsewhere.
// Workers can also run the forward passes (the frozen tail, the teacher) on what they load,
// each with its own one-thread onnxruntime session, so that every core decodes, preprocesses
// and runs the models in parallel and the main thread only encodes and writes.
// Results come back through shared memory: each worker writes a load's values into one of its
// slots (a SharedArrayBuffer sent to it once, reused load after load) and the main thread
// reads them in place until it releases the load. Arrays transferred per load made both sides
// allocate ~35 KB per example of external memory, and V8 answers that with a full collection
// every few tens of MB: a fifth of the extraction's CPU went to marking heaps that were live.
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../../engine/spawnWorker.js';
import { TinypruneError } from '../../graph/types.js';
import type { OnnxModel } from '../../engine/onnxRun.js';
import type { PruneData } from '../data.js';
import { loadRange, openView, type ViewLoader, type ViewRef } from './views.js';

/** Forward passes for one store: features = tail(x) (or x), teacher log-probs of the features. */
export interface Forward {
  tail?: OnnxModel;
  teacher?: OnnxModel;
}

/** A forward's outputs for a loaded range. */
export interface ForwardOut {
  feats?: Float32Array;
  /** log(max(teacher(feats), 1e-12)). */
  logProbs?: Float32Array;
}

export interface LoadRequest {
  id: number;
  ref: ViewRef;
  start: number;
  count: number;
  /** Models by id; `bytes` present the first time a worker is sent one. */
  forward?: { tail?: ModelRef; teacher?: ModelRef }[];
  /**
   * The worker's slot for the results: `memory` present the first time it is used, `replaces`
   * the slot (too small) that it takes the place of.
   */
  slot: { id: number; memory?: SharedArrayBuffer; replaces?: number };
}

type ModelRef = Omit<OnnxModel, 'onnx'> & { onnx?: Uint8Array };

/** Where a section of a slot lies: [offset in float32 words, length]. */
export type Section = [at: number, length: number];

export interface LoadReply {
  id: number;
  /** Sections of the request's slot. */
  x?: Section;
  y?: Section;
  out?: { feats?: Section; logProbs?: Section }[];
  error?: string;
  /** The error was a user mistake (bad file): rethrown as TinypruneError. */
  user?: boolean;
}

export interface Loaded {
  x: Float32Array;
  y: Int32Array;
  /** One entry per forward asked for. */
  out?: ForwardOut[];
  /** Ends the use of x, y and out (their memory is reused); absent when they are the caller's. */
  release?: () => void;
}

/** Float32 words a load's results take in a slot: inputs, labels, each forward's outputs. */
export function slotWords(per: number, count: number, forward: Forward[] | undefined): number {
  let words = count * (per + 1);
  for (const f of forward ?? []) {
    if (f.tail) words += count * f.tail.outputSize;
    if (f.teacher) words += count * f.teacher.outputSize;
  }
  return words;
}

export interface ExampleLoader {
  load(ref: ViewRef, start: number, count: number, forward?: Forward[]): Promise<Loaded>;
  /** Whether `load` runs forwards (else the caller runs them). */
  readonly forwards: boolean;
  /** How many loads to keep in flight. */
  readonly parallel: number;
  close(): Promise<void>;
}

/** Loads in this thread. */
export function inThreadLoader(data: PruneData): ExampleLoader {
  const views = new Map<string, Promise<ViewLoader>>();
  return {
    parallel: 2,
    forwards: false,
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

/** Default worker count: every core (each worker loads and runs the forward passes). */
export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

interface Slot {
  id: number;
  memory: SharedArrayBuffer;
  busy: boolean;
}

/** `count` worker threads; loads go to the least busy one. */
export async function workerLoader(data: PruneData, count: number): Promise<ExampleLoader> {
  const per = data.train.inputShape.reduce((a, b) => a * b, 1);
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
    { resolve: (r: Loaded) => void; reject: (e: Error) => void; slot: Slot }
  >();
  // Each worker's slots; a load takes a free one big enough or adds one.
  const slots: Slot[][] = workers.map(() => []);
  let slotIds = 0;
  // Model ids each worker has been sent (the bytes go once per worker).
  const sent = workers.map(() => new Set<string>());
  const busy = workers.map(() => 0);
  let next = 0;
  let failed: Error | undefined;
  workers.forEach((w, k) => {
    w.on('message', (r: LoadReply) => {
      busy[k]!--;
      const p = pending.get(r.id);
      pending.delete(r.id);
      if (!p) return;
      if (r.error !== undefined) {
        p.slot.busy = false;
        p.reject(r.user ? new TinypruneError(r.error) : new Error(`extraction worker: ${r.error}`));
      } else {
        const { memory } = p.slot;
        const f32 = ([at, n]: Section) => new Float32Array(memory, 4 * at, n);
        p.resolve({
          x: f32(r.x!),
          y: new Int32Array(memory, 4 * r.y![0], r.y![1]),
          out: r.out?.map((o) => ({
            feats: o.feats && f32(o.feats),
            logProbs: o.logProbs && f32(o.logProbs),
          })),
          release: () => (p.slot.busy = false),
        });
      }
    });
    w.on('error', (e) => {
      failed = e;
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
  });
  return {
    parallel: 3 * count,
    forwards: true,
    load(ref, start, n, forward) {
      if (failed) return Promise.reject(failed);
      const id = next++;
      let k = 0;
      busy.forEach((b, i) => (b < busy[k]! ? (k = i) : 0));
      busy[k]!++;
      const refOf = (m: OnnxModel | undefined): ModelRef | undefined => {
        if (!m) return undefined;
        if (sent[k]!.has(m.id)) return { ...m, onnx: undefined };
        sent[k]!.add(m.id);
        return m;
      };
      const bytes = 4 * slotWords(per, n, forward);
      let slot = slots[k]!.find((s) => !s.busy && s.memory.byteLength >= bytes);
      let fresh: LoadRequest['slot'] | undefined;
      if (!slot) {
        // Replaces a free slot that is too small, so a worker keeps as many slots as it ever
        // had loads in flight.
        const small = slots[k]!.findIndex((s) => !s.busy);
        slot = { id: slotIds++, memory: new SharedArrayBuffer(bytes), busy: false };
        fresh = { id: slot.id, memory: slot.memory };
        if (small >= 0) fresh.replaces = slots[k]!.splice(small, 1)[0]!.id;
        slots[k]!.push(slot);
      }
      slot.busy = true;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, slot });
        const req: LoadRequest = {
          id,
          ref,
          start,
          count: n,
          forward: forward?.map((f) => ({ tail: refOf(f.tail), teacher: refOf(f.teacher) })),
          slot: fresh ?? { id: slot.id },
        };
        workers[k]!.postMessage(req);
      });
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
