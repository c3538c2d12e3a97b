// An extraction worker: rebuilds the prepared data from its arguments and loads ranges of
// examples (file reads, decoding, MFCC / image preprocessing, augmentation) for the main thread,
// and, when asked, runs the frozen tail and the teacher on them (one-thread onnxruntime
// sessions: there is a worker per core).
import { parentPort, workerData } from 'node:worker_threads';
import { TinypruneError } from '../../graph/types.js';
import { preparePruneData, type PruneData } from '../data.js';
import { loadRange, openView, type ViewLoader, type ViewRef } from './views.js';
import { OnnxRunner, type OnnxModel } from '../../engine/onnxRun.js';
import type { ForwardOut, LoadReply, LoadRequest } from './pool.js';

const port = parentPort!;
const reopen = workerData as PruneData['reopen'];
let data: Promise<PruneData> | undefined;
const loaders = new Map<string, Promise<ViewLoader>>();
const runners = new Map<string, Promise<OnnxRunner>>();

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
    const { x, y } = await loadRange(await loader, req.start, req.count);
    const out: ForwardOut[] = [];
    const transfer: ArrayBuffer[] = [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer];
    for (const f of req.forward ?? []) {
      const feats = f.tail ? await (await runner(f.tail)).predict(x, req.count) : undefined;
      let logProbs: Float32Array | undefined;
      if (f.teacher) {
        logProbs = await (await runner(f.teacher)).predict(feats ?? x, req.count);
        for (let i = 0; i < logProbs.length; i++)
          logProbs[i] = Math.log(Math.max(logProbs[i]!, 1e-12));
      }
      out.push({ feats, logProbs });
      for (const a of [feats, logProbs]) if (a) transfer.push(a.buffer as ArrayBuffer);
    }
    const reply: LoadReply = { id: req.id, x, y, out: req.forward ? out : undefined };
    port.postMessage(reply, transfer);
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
