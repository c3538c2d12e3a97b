// A queue worker: takes row jobs from BullMQ and trains them with `trainRow`, one at a time per
// process. Every payload is checked against the schema first; a job that fails the check, reads
// outside the data root, or names data that differs from this machine's copy fails at once (no
// retries: trying again cannot help) and the worker carries on with the next job.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { dataFingerprint, mapSpecPaths, specPaths } from '../data/fingerprint.js';
import { TinypruneError } from '../graph/types.js';
import { UNPRUNED_CUT } from '../prune/row.js';
import type { TrainMessage, TrainRequest } from './trainer.js';
import {
  getModel,
  JOB_VERSION,
  TOOL_VERSION,
  type RowJob,
  type RowJobProgress,
  type RowJobResult,
} from './job.js';
import { ROW_JOB_SCHEMA, SchemaError, validate } from './schema.js';
import { parseQueueUrl, redact } from './url.js';

export interface WorkerOptions {
  url: string;
  queueName: string;
  /** Data paths in jobs must lie under this folder; relative ones are resolved against it. */
  dataRoot: string;
  log: (line: string) => void;
  /**
   * Seconds a job's lock lasts without renewal: a worker that dies holding a job is noticed after
   * about this long, and the job goes to another worker.
   */
  stallSeconds?: number;
  /** Name shown in logs and progress (default host:pid). */
  name?: string;
}

export interface RunningWorker {
  name: string;
  /** The row being trained, if any. */
  active(): string | undefined;
  /** Stops taking jobs; without `force`, waits for the running job to finish. */
  close(force?: boolean): Promise<void>;
}

/** Resolves a job's data path against the root, refusing anything outside it (symlinks included). */
export function resolveUnderRoot(root: string, path: string): string {
  const rootReal = realpathSync(root);
  const abs = resolve(rootReal, path);
  // Follow symlinks along the longest existing prefix, so a link cannot lead outside the root.
  let head = abs;
  const tail: string[] = [];
  while (!existsSync(head) && dirname(head) !== head) {
    tail.unshift(basename(head));
    head = dirname(head);
  }
  const real = join(existsSync(head) ? realpathSync(head) : head, ...tail);
  const rel = relative(rootReal, real);
  if (!(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))) return real;
  throw new TinypruneError(`data path "${path}" is outside --data-root ${rootReal}`);
}

export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  if (!existsSync(o.dataRoot))
    throw new TinypruneError(`tinyprune worker: --data-root ${o.dataRoot}: no such folder`);
  const { connection, display } = parseQueueUrl(o.url);
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const log = (line: string) => o.log(redact(`${name} ${line}`));
  const redis = new Redis({ ...connection, maxRetriesPerRequest: null, lazyConnect: false });
  redis.on('error', () => {}); // reconnects on its own; the worker's own error handler logs
  let active: string | undefined;

  const trainer = new TrainerProcess();
  const modelBytes = async (hash: string) => {
    const bytes = await getModel(redis, o.queueName, hash);
    if (!bytes)
      throw new UnrecoverableError(`model ${hash.slice(0, 12)}… is not in the queue's store`);
    return new Uint8Array(bytes);
  };

  const process_ = async (job: Job): Promise<RowJobResult> => {
    const id = String(job.id).slice(0, 12);
    let payload: RowJob;
    let spec: string;
    try {
      validate(ROW_JOB_SCHEMA, job.data);
      payload = job.data as RowJob;
      if (payload.version !== JOB_VERSION) throw new SchemaError('unknown job version');
      if (payload.tool !== TOOL_VERSION)
        throw new SchemaError(
          `the job was submitted by ${payload.tool}, this worker runs ${TOOL_VERSION}: give every machine the same version (results depend on it)`,
        );
      for (const { path } of specPaths(payload.data.spec))
        if (!existsSync(resolveUnderRoot(o.dataRoot, path)))
          throw new TinypruneError(
            `data path "${path}" not found under --data-root ${o.dataRoot} (every worker needs the data: docs/distributed.md)`,
          );
      spec = mapSpecPaths(payload.data.spec, (p) => resolveUnderRoot(o.dataRoot, p));
    } catch (e) {
      const msg = `refused job ${id}: ${(e as Error).message}`;
      log(msg);
      throw new UnrecoverableError(msg);
    }
    const what = `${payload.cut === UNPRUNED_CUT ? 'the unpruned model' : `${payload.cut} + ${payload.head}`}${payload.fold ? ` (fold ${payload.fold.index + 1}/${payload.fold.count})` : ''}`;
    const t0 = Date.now();
    active = what;
    const progress = (p: Omit<RowJobProgress, 'worker'>) =>
      job.updateProgress({ worker: name, ...p }).catch(() => {});
    try {
      await progress({ stage: 'checking data' });
      // Every job: the data may have changed since the last one (the memo makes it cheap).
      const mine = await dataFingerprint(spec);
      if (mine !== payload.data.fingerprint)
        throw new UnrecoverableError(
          `the data differs: this worker's copy of ${payload.data.spec} (under ${o.dataRoot}) has fingerprint ${mine.slice(0, 12)}…, the job expects ${payload.data.fingerprint.slice(0, 12)}… — give every machine the same copy`,
        );
      log(
        `${payload.cut === UNPRUNED_CUT ? 'evaluating' : 'training'} ${what} [job ${id}, attempt ${job.attemptsMade + 1}]`,
      );
      const epochs = payload.settings.schedule.epochs;
      let stage = 'loading data';
      let lastLine = Date.now();
      await progress({ stage });
      const r = await trainer.train(
        {
          type: 'train',
          modelHash: payload.model.sha256,
          data: spec,
          ...(payload.fold && { fold: payload.fold }),
          cut: payload.cut,
          head: payload.head,
          settings: payload.settings,
          saveModel: payload.saveModel,
        },
        () => modelBytes(payload.model.sha256),
        (m) => {
          if (m.type === 'stage') {
            stage = m.stage;
            void progress({ stage, epochs });
          } else if (m.type === 'epoch') {
            void progress({ stage, epoch: m.epoch + 1, epochs });
            // A line every 10 s at most, so a long row shows it is moving.
            if (Date.now() - lastLine >= 10_000 || m.epoch + 1 === epochs) {
              lastLine = Date.now();
              log(
                `${what}: epoch ${m.epoch + 1}/${epochs}, val ${((m.valAccuracy ?? 0) * 100).toFixed(1)}%`,
              );
            }
          }
        },
      );
      active = undefined;
      log(
        `done ${what} in ${((Date.now() - t0) / 1000).toFixed(1)} s: val ${((r.row.val?.accuracy ?? 0) * 100).toFixed(1)}%, test ${(r.row.test.accuracy * 100).toFixed(1)}%`,
      );
      return {
        row: r.row,
        split: r.split,
        grouping: r.grouping,
        seconds: r.seconds,
        worker: name,
        ...(r.tflite && { tflite: Buffer.from(r.tflite).toString('base64') }),
      };
    } catch (e) {
      active = undefined;
      log(`failed ${what}: ${(e as Error).message}`);
      // User mistakes (bad cut, bad data) fail the same way on every try.
      if (e instanceof TinypruneError || (e as { userError?: boolean }).userError)
        throw new UnrecoverableError((e as Error).message);
      throw e;
    }
  };

  const stall = (o.stallSeconds ?? 30) * 1000;
  const worker = new Worker(o.queueName, process_, {
    connection: { ...connection, maxRetriesPerRequest: null },
    concurrency: 1,
    lockDuration: stall,
    stalledInterval: Math.max(1000, Math.round(stall / 2)),
    maxStalledCount: 2,
    autorun: true,
  });
  let lastError = '';
  worker.on('error', (e) => {
    const msg = (e as Error).message;
    if (msg !== lastError) log(`queue error (retrying): ${msg}`);
    lastError = msg;
  });
  worker.on('ready', () => {
    if (lastError) log(`connected to ${display} again`);
    lastError = '';
  });
  await worker.waitUntilReady();
  log(`waiting for rows on ${display} (queue ${o.queueName}, data root ${o.dataRoot})`);
  return {
    name,
    active: () => active,
    async close(force = false) {
      if (force) trainer.stop();
      await worker.close(force);
      trainer.stop();
      redis.disconnect();
    },
  };
}

/** The forked training process (src/distributed/trainer.ts), started on first use, one row at a time. */
class TrainerProcess {
  private child?: ChildProcess;
  private sent = new Set<string>();

  private start(): ChildProcess {
    const here = fileURLToPath(import.meta.url);
    const js = join(dirname(here), 'trainer.js');
    const file = existsSync(js) ? js : join(dirname(here), 'trainer.ts');
    const child = fork(file, [], {
      execArgv: process.execArgv,
      env: { ...process.env, TINYPRUNE_TRAINER: '1' },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('exit', () => {
      if (this.child === child) {
        this.child = undefined;
        this.sent.clear();
      }
    });
    return child;
  }

  async train(
    req: TrainRequest,
    bytes: () => Promise<Uint8Array>,
    onMessage: (m: TrainMessage) => void,
  ): Promise<Extract<TrainMessage, { type: 'done' }>['result']> {
    const child = (this.child ??= this.start());
    if (!this.sent.has(req.modelHash)) {
      req = { ...req, modelBytes: await bytes() };
      this.sent.add(req.modelHash);
    }
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      const onMsg = (raw: unknown) => {
        const m = raw as TrainMessage;
        if (m.type === 'done') {
          cleanup();
          resolve(m.result);
        } else if (m.type === 'error') {
          cleanup();
          reject(Object.assign(new Error(m.message), { userError: m.userError }));
        } else onMessage(m);
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(new Error(`the training process ended (${signal ?? `exit code ${code}`})`));
      };
      child.on('message', onMsg);
      child.on('exit', onExit);
      child.send(req);
    });
  }

  stop(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
    this.sent.clear();
  }
}
