// An extraction worker: rebuilds the prepared data from its arguments and loads ranges of
// examples (file reads, decoding, MFCC / image preprocessing, augmentation) for the main thread,
// and, when asked, runs the frozen tail and the teacher on them (one-thread onnxruntime
// sessions: there is a worker per core).
import { parentPort, workerData } from 'node:worker_threads';
import { TinypruneError } from '../../graph/types.js';
import { preparePruneData, type PruneData } from '../data.js';
import { loadRange, openView, type ViewLoader, type ViewRef } from './views.js';
import { OnnxRunner, type OnnxModel } from '../../engine/onnxRun.js';
import type { LoadReply, LoadRequest, Section } from './pool.js';

const port = parentPort!;
const reopen = workerData as PruneData['reopen'];
let data: Promise<PruneData> | undefined;
const loaders = new Map<string, Promise<ViewLoader>>();
const runners = new Map<string, Promise<OnnxRunner>>();
/** The main thread's slots for this worker's results (see pool.ts). */
const slots = new Map<number, SharedArrayBuffer>();
/**
 * Buffers reused load after load, one pair per load in progress (loads interleave at their
 * awaits): the inputs copied out of the slot (onnxruntime does not take shared memory) and the
 * tail's outputs.
 */
interface Scratch {
  input: Float32Array;
  feats: Float32Array;
}
const idle: Scratch[] = [];
const grown = (a: Float32Array, n: number) => (a.length >= n ? a : new Float32Array(n));

function runner(m: Omit<OnnxModel, 'onnx'> & { onnx?: Uint8Array }): Promise<OnnxRunner> {
  let r = runners.get(m.id);
  if (!r) {
    if (!m.onnx) throw new Error(`model ${m.id} was never sent to this worker`);
    runners.set(m.id, (r = OnnxRunner.fromModel(m as OnnxModel, { threads: 1, batchSize: 32 })));
  }
  return r;
}

port.on('message', async (req: LoadRequest) => {
  try {
    // Sessions for models sent with this request start now, before any await: requests are
    // handled concurrently, and a later one (without the bytes) may reach its forward first.
    for (const f of req.forward ?? [])
      for (const m of [f.tail, f.teacher]) if (m) runner(m).catch(() => {}); // awaited below
    // No per-dataset example cache here: it would grow with the dataset in every worker.
    data ??= preparePruneData(reopen[0], reopen[1], reopen[2], reopen[3], {
      ...reopen[4],
      cache: false,
    });
    const key = JSON.stringify(req.ref);
    let loader = loaders.get(key);
    if (!loader) {
      // Stores are extracted one after another: keep only the current view's loader (each
      // holds per-example tables that grow with the dataset).
      loaders.clear();
      loaders.set(key, (loader = data.then((d) => openView(d, req.ref as ViewRef))));
    }
    if (req.slot.replaces !== undefined) slots.delete(req.slot.replaces);
    if (req.slot.memory) slots.set(req.slot.id, req.slot.memory);
    const memory = slots.get(req.slot.id)!;
    const view = await loader;
    const per = view.inputShape.reduce((a, b) => a * b, 1);
    // The slot, in float32 words: x, y, then each forward's features and log-probabilities.
    const x = new Float32Array(memory, 0, req.count * per);
    const y = new Int32Array(memory, 4 * x.length, req.count);
    await loadRange(view, req.start, req.count, { x, y });
    let at = x.length + y.length;
    const put = (values: Float32Array): Section => {
      new Float32Array(memory, 4 * at, values.length).set(values);
      at += values.length;
      return [at - values.length, values.length];
    };
    const reply: LoadReply = {
      id: req.id,
      x: [0, x.length],
      y: [x.length, y.length],
      out: req.forward && [],
    };
    const s = idle.pop() ?? { input: new Float32Array(0), feats: new Float32Array(0) };
    try {
      s.input = grown(s.input, x.length);
      const input = s.input.subarray(0, x.length);
      if (req.forward?.length) input.set(x);
      for (const f of req.forward ?? []) {
        const tail = f.tail && (await runner(f.tail));
        let feats: Float32Array | undefined;
        if (tail) {
          s.feats = grown(s.feats, req.count * tail.outputSize);
          feats = await tail.predict(input, req.count, s.feats);
        }
        const sections: { feats?: Section; logProbs?: Section } = {};
        if (feats) sections.feats = put(feats);
        if (f.teacher) {
          const probs = await (await runner(f.teacher)).predict(feats ?? input, req.count);
          for (let i = 0; i < probs.length; i++) probs[i] = Math.log(Math.max(probs[i]!, 1e-12));
          sections.logProbs = put(probs);
        }
        reply.out!.push(sections);
      }
    } finally {
      idle.push(s);
    }
    port.postMessage(reply);
  } catch (e) {
    const reply: LoadReply = {
      id: req.id,
      error: (e as Error).message ?? String(e),
      user: e instanceof TinypruneError,
    };
    port.postMessage(reply);
  }
});
port.postMessage({ ready: true });
