// An extraction worker: rebuilds the prepared data from its arguments and loads ranges of
// examples (file reads, decoding, MFCC / image preprocessing, augmentation) for the main thread,
// which runs the frozen tail on them.
import { parentPort, workerData } from 'node:worker_threads';
import { TinypruneError } from '../../graph/types.js';
import { preparePruneData, type PruneData } from '../data.js';
import { loadRange, openView, type ViewLoader, type ViewRef } from './views.js';
import type { LoadReply, LoadRequest } from './pool.js';

const port = parentPort!;
const reopen = workerData as PruneData['reopen'];
let data: Promise<PruneData> | undefined;
const loaders = new Map<string, Promise<ViewLoader>>();

port.on('message', async (req: LoadRequest) => {
  try {
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
    const reply: LoadReply = { id: req.id, x, y };
    port.postMessage(reply, [x.buffer as ArrayBuffer, y.buffer as ArrayBuffer]);
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
