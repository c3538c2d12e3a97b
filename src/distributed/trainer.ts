// The training process of a queue worker. Training keeps its thread busy for long stretches;
// in the worker's own process that would starve the timers that renew the job's lock, and the
// queue would hand a healthy row to another worker. So the worker forks this process, sends it
// already-checked row specs, and keeps its own event loop free for the queue.
import { TinypruneError, type Graph } from '../graph/types.js';
import { detectFormat } from '../io/load.js';
import { readKerasH5 } from '../io/keras/reader.js';
import { readTflite } from '../io/tflite/reader.js';
import { SessionPool, trainRow, type RowSettings } from '../prune/row.js';
import type { Fold } from '../prune/data.js';

/** Parent → trainer. */
export interface TrainRequest {
  type: 'train';
  modelHash: string;
  /** Sent when the trainer has not seen this model yet. */
  modelBytes?: Uint8Array;
  /** The data spec with paths already resolved under the data root. */
  data: string;
  fold?: Fold;
  cut: string;
  head: string;
  settings: RowSettings;
  saveModel: boolean;
}

/** Trainer → parent. */
export type TrainMessage =
  | { type: 'stage'; stage: string }
  | { type: 'epoch'; epoch: number; valAccuracy?: number }
  | {
      type: 'done';
      result: {
        row: import('../prune/sweep.js').SweepRecord;
        split: string;
        grouping: string;
        seconds: number;
        tflite?: Uint8Array;
      };
    }
  | { type: 'error'; message: string; userError: boolean };

async function parseModel(bytes: Uint8Array, hash: string): Promise<Graph> {
  const label = `model ${hash.slice(0, 12)}…`;
  const format = detectFormat(bytes);
  if (format === 'tflite') return readTflite(bytes, label);
  if (format === 'keras-h5') return readKerasH5(bytes, label);
  throw new TinypruneError(`${label} is neither a TFLite nor a Keras .h5 model`);
}

/** Serves train requests on the IPC channel until the parent goes away. */
export function serveTrainer(): void {
  const send = (m: TrainMessage) => process.send!(m);
  const models = new Map<string, Graph>();
  const sessions = new SessionPool();
  // The parent handles signals (a terminal's Ctrl-C reaches the whole group): this process
  // ends when the parent does.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw) => {
    const m = raw as TrainRequest;
    void (async () => {
      try {
        if (m.modelBytes) models.set(m.modelHash, await parseModel(m.modelBytes, m.modelHash));
        const base = models.get(m.modelHash);
        if (!base) throw new Error(`trainer: model ${m.modelHash.slice(0, 12)}… was never sent`);
        const r = await trainRow(
          {
            base,
            modelKey: m.modelHash,
            data: m.data,
            fold: m.fold,
            cut: m.cut,
            head: m.head,
            settings: m.settings,
            saveModel: m.saveModel,
          },
          {
            sessions,
            onStage: (stage) => send({ type: 'stage', stage }),
            onEpochEnd: (e) => send({ type: 'epoch', epoch: e.epoch, valAccuracy: e.valAccuracy }),
          },
        );
        const { pruned: _pruned, ...result } = r;
        send({ type: 'done', result });
      } catch (e) {
        send({
          type: 'error',
          message: (e as Error).message,
          userError: e instanceof TinypruneError,
        });
      }
    })();
  });
}

if (process.env.TINYPRUNE_TRAINER === '1' && process.send) serveTrainer();
