// The submitting side: a RowExecutor that enqueues a sweep's rows as BullMQ jobs, waits for the
// workers with a progress display, and hands the results back to runSweep, which writes the same
// files a local sweep writes. Job ids are content hashes, so a rerun (after a crash, a Ctrl-C or
// a lost Redis) finds the rows that finished and waits for the rest.
import { existsSync, readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { Job, Queue, type JobState } from 'bullmq';
import { dataFingerprint, specPaths } from '../data/fingerprint.js';
import { TinypruneError } from '../graph/types.js';
import type { RowExecutor, RowOutcome } from '../prune/sweep.js';
import { UNPRUNED_CUT, type RowSpec } from '../prune/row.js';
import { progress as progressDisplay, formatDuration } from '../cli/progress.js';
import {
  JOB_VERSION,
  putModel,
  TOOL_VERSION,
  rowJobId,
  type RowJob,
  type RowJobProgress,
  type RowJobResult,
} from './job.js';
import { parseQueueUrl } from './url.js';

export interface QueueExecutorOptions {
  url: string;
  queueName: string;
  log?: (line: string) => void;
  quiet?: boolean;
  /** Tries per row before it is reported as failed (default 3). */
  attempts?: number;
  /** Stop (clearly; a rerun resumes) when Redis stays unreachable this long (default 60). */
  unreachableSeconds?: number;
  /** How often to look at the jobs (default 1000 ms). */
  pollMs?: number;
}

export const QUEUE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

export function checkQueueName(name: string): string {
  if (!QUEUE_NAME.test(name))
    throw new TinypruneError(
      `--queue-name: expected 1-64 letters, digits, _ or -, found "${name.slice(0, 80)}"`,
    );
  return name;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `p`, or an error after `ms` (commands wait in ioredis' offline queue while disconnected). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
    }),
  ]);
}

/** The job payload of one row. */
export function rowJob(
  spec: RowSpec,
  model: { sha256: string; bytes: number },
  fingerprint: string,
): RowJob {
  return {
    version: JOB_VERSION,
    tool: TOOL_VERSION,
    model,
    data: { spec: spec.data, fingerprint },
    fold: spec.fold ? { index: spec.fold.index, count: spec.fold.count } : null,
    cut: spec.cut,
    head: spec.head,
    // Plain JSON: drops callbacks and undefined fields, exactly as the job will carry them.
    settings: JSON.parse(JSON.stringify(spec.settings)) as RowJob['settings'],
    saveModel: spec.saveModel === true,
  };
}

export async function queueExecutor(o: QueueExecutorOptions): Promise<RowExecutor> {
  const { connection, display } = parseQueueUrl(o.url);
  const queueName = checkQueueName(o.queueName);
  const log = o.log ?? (() => {});
  const attempts = o.attempts ?? 3;
  const unreachableMs = (o.unreachableSeconds ?? 60) * 1000;
  const pollMs = o.pollMs ?? 1000;
  return async (specs) => {
    // Separate validation/test sets would need their own data-root check and fingerprint on
    // the workers; until then they are refused rather than silently left behind.
    if (specs.some((s) => s.partitions?.val !== undefined || s.partitions?.test !== undefined))
      throw new TinypruneError(
        '--queue: --val-data / --test-data do not travel to workers yet; run this sweep locally, or give the data its own partitions (docs/datasets.md)',
      );
    const files = [...new Set(specs.map((s) => s.modelFile))];
    if (files.length !== 1 || !files[0])
      throw new Error('queueExecutor: every row must name the same model file (RowSpec.modelFile)');
    // The model's bytes travel (stored once by hash), never its path.
    const modelBytes = new Uint8Array(readFileSync(files[0]));
    const redis = new Redis({ ...connection, maxRetriesPerRequest: null, lazyConnect: true });
    redis.on('error', () => {}); // reported through the commands that fail
    const queue = new Queue(queueName, {
      connection: { ...connection, maxRetriesPerRequest: null },
    });
    let lostSince: number | undefined;
    let connected = false;
    const lost = (e: Error) => {
      if (lostSince !== undefined || !connected) return;
      lostSince = Date.now();
      log(`lost Redis at ${display} (${e.message}); waiting for it…`);
    };
    // Connection errors arrive here while ioredis reconnects (commands wait meanwhile).
    queue.on('error', lost);
    try {
      try {
        await within(redis.connect(), 10_000);
      } catch (e) {
        throw new TinypruneError(
          `--queue: cannot reach Redis at ${display}: ${(e as Error).message}`,
        );
      }
      connected = true;
      const sha = await putModel(redis, queueName, modelBytes);
      const model = { sha256: sha, bytes: modelBytes.length };
      const fingerprints = new Map<string, string>();
      for (const s of specs) {
        if (fingerprints.has(s.data)) continue;
        // Workers resolve relative paths against their --data-root: this side reads them from
        // its current folder, so submit from the folder that mirrors the workers' data root.
        for (const { path } of specPaths(s.data))
          if (!existsSync(path))
            throw new TinypruneError(
              `--data: ${path} not found here (${process.cwd()}); the submitter fingerprints the data, so it needs the same copy the workers read (docs/distributed.md)`,
            );
        fingerprints.set(s.data, await dataFingerprint(s.data));
      }
      const jobs = specs.map((s) => rowJob(s, model, fingerprints.get(s.data)!));
      const ids = jobs.map(rowJobId);
      const label = (i: number) => {
        const s = specs[i]!;
        const what = s.cut === UNPRUNED_CUT ? 'unpruned model' : `${s.cut} + ${s.head}`;
        return s.fold ? `${what} (fold ${s.fold.index + 1})` : what;
      };
      const add = async (i: number) => {
        await queue.add('row', jobs[i]!, {
          jobId: ids[i]!,
          attempts,
          backoff: { type: 'exponential', delay: 2000 },
          removeOnComplete: false,
          removeOnFail: false,
        });
      };
      // Enqueue (a finished row's job already exists and is reused); rows that failed in an
      // earlier run get a fresh set of tries.
      let reused = 0;
      for (let i = 0; i < jobs.length; i++) {
        const state = await queue.getJobState(ids[i]!);
        if (state === 'completed') reused++;
        else if (state === 'failed') {
          const job = await Job.fromId(queue, ids[i]!);
          await job?.retry('failed', { resetAttemptsMade: true });
        } else if (state === 'unknown') await add(i);
      }
      log(
        `queued ${jobs.length} rows on ${display} (queue ${queueName}; ${reused} finished earlier)`,
      );
      // Wait, showing done / running (on which worker) / failed.
      const outcomes: (RowOutcome | undefined)[] = new Array(jobs.length);
      const bar = progressDisplay('rows', jobs.length, { quiet: o.quiet });
      let lastOk = Date.now();
      const t0 = Date.now();
      let doneCount = 0;
      while (doneCount < jobs.length) {
        try {
          const running: string[] = [];
          let newly = 0;
          for (let i = 0; i < jobs.length; i++) {
            if (outcomes[i]) continue;
            const state: JobState | 'unknown' = await within(queue.getJobState(ids[i]!), 5000);
            if (state === 'unknown') {
              // Lost with a Redis that kept no data: store the model and enqueue the row again.
              await within(putModel(redis, queueName, modelBytes), 5000);
              await within(add(i), 5000);
              continue;
            }
            if (state !== 'completed' && state !== 'failed' && state !== 'active') continue;
            const job = await within(Job.fromId(queue, ids[i]!), 5000);
            if (!job) continue;
            if (state === 'active') {
              const p = job.progress as Partial<RowJobProgress> | number;
              if (typeof p === 'object' && p.worker)
                running.push(
                  `${label(i)} on ${p.worker}${p.epoch ? ` ${p.epoch}/${p.epochs}` : ` (${p.stage ?? 'starting'})`}`,
                );
              continue;
            }
            if (state === 'completed') {
              const r = job.returnvalue as RowJobResult;
              outcomes[i] = {
                ok: true,
                result: {
                  row: r.row,
                  split: r.split,
                  grouping: r.grouping,
                  seconds: r.seconds,
                  ...(r.tflite && { tflite: new Uint8Array(Buffer.from(r.tflite, 'base64')) }),
                },
              };
              if (specs[i]!.cut !== UNPRUNED_CUT)
                log(
                  `${label(i)}: done on ${r.worker}, test ${(r.row.test.accuracy * 100).toFixed(1)}% (${r.seconds.toFixed(0)} s)`,
                );
            } else {
              outcomes[i] = { ok: false, error: job.failedReason || 'failed' };
              log(`${label(i)}: FAILED after ${job.attemptsMade} tries: ${job.failedReason}`);
            }
            newly++;
          }
          doneCount += newly;
          const failed = outcomes.filter((x) => x && !x.ok).length;
          bar.tick(
            newly,
            `${running.length} running${running.length ? `: ${running.join('; ')}` : ''}${failed ? `, ${failed} failed` : ''}`,
          );
          if (lostSince !== undefined)
            log(
              `Redis at ${display} is back after ${formatDuration((Date.now() - lostSince) / 1000)}`,
            );
          lostSince = undefined;
          lastOk = Date.now();
        } catch (e) {
          if (e instanceof TinypruneError) throw e;
          lost(e as Error);
          if (Date.now() - lastOk > unreachableMs)
            throw new TinypruneError(
              `--queue: Redis at ${display} unreachable for ${Math.round(unreachableMs / 1000)} s; the queued rows stay queued — rerun the same command to pick them up`,
            );
        }
        if (doneCount < jobs.length) await sleep(pollMs);
      }
      bar.done(`in ${formatDuration((Date.now() - t0) / 1000)}`);
      return outcomes as RowOutcome[];
    } finally {
      await within(queue.close(), 5000).catch(() => {});
      redis.disconnect();
    }
  };
}
