// A data-parallel training worker: one tfjs-wasm instance holding a replica of the model.
import { parentPort, workerData } from 'node:worker_threads';
import { useBackend } from './backend.js';
import { TfModel } from './model.js';
import type { StepReply, StepRequest, WorkerInit } from './parallel.js';
import { shardGradients } from './gradients.js';

const init = workerData as WorkerInit;
const port = parentPort!;
try {
  await useBackend('wasm');
  const trainable = new Set(init.trainable);
  const model = new TfModel(init.graph, {
    trainable: (name) => trainable.has(name),
    bnMomentum: init.bnMomentum,
  });
  port.on('message', (req: StepRequest) => {
    try {
      model.setState(new Map(req.state));
      const r = shardGradients(model, req.x, req.y, req.n, req.teacher, req.distill);
      const stats = model.statVariables.map(
        ({ name, variable }) =>
          [name, variable.dataSync() as Float32Array] as [string, Float32Array],
      );
      const reply: StepReply = { ...r, stats };
      port.postMessage(
        reply,
        r.grads.map((g) => g.buffer as ArrayBuffer),
      );
    } catch (e) {
      port.postMessage({
        error: (e as Error).message,
        grads: [],
        lossSum: 0,
        correct: 0,
        n: 0,
        stats: [],
      });
    }
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ error: (e as Error).message });
}
