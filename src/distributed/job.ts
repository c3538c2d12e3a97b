// What travels through the queue. A row job is data only: the model by content hash (its bytes
// stored once in Redis), the data spec with its fingerprint, the row's cut/head/fold and its
// training settings. Its id is a hash of everything that determines the result, so submitting
// the same row again finds the finished job instead of training it twice.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Fold } from '../prune/data.js';
import { variantOf, type RowSettings } from '../prune/row.js';
import type { SweepRecord } from '../prune/sweep.js';

export const JOB_VERSION = '1';

/**
 * The code that trains a row is part of what determines it: workers refuse jobs submitted by
 * another tinyprune version, and the version is part of the job id.
 */
export const TOOL_VERSION: string = `tinyprune ${
  (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version
}`;

export interface RowJob {
  version: typeof JOB_VERSION;
  tool: string;
  model: { sha256: string; bytes: number };
  data: { spec: string; fingerprint: string };
  fold: Fold | null;
  cut: string;
  head: string;
  settings: RowSettings;
  saveModel: boolean;
}

/** What a worker sends back for a finished row. */
export interface RowJobResult {
  row: SweepRecord;
  split: string;
  grouping: string;
  seconds: number;
  /** host:pid of the worker that trained it. */
  worker: string;
  /** The pruned model (.tflite), base64, when the job asked for it. */
  tflite?: string;
}

/** What a worker reports while it trains (job progress). */
export interface RowJobProgress {
  worker: string;
  stage: string;
  epoch?: number;
  epochs?: number;
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** JSON with sorted keys (and no undefined), so equal values hash equally. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x ?? null)).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined && typeof o[k] !== 'function')
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/**
 * The job id: a hash of the model bytes, the data fingerprint, cut, head, variant, settings (the
 * seed among them), fold and whether the model comes back. The spec's paths are left out: the
 * same data at another path is the same row.
 */
export function rowJobId(job: RowJob): string {
  return sha256(
    canonicalJson({
      version: job.version,
      tool: job.tool,
      model: job.model.sha256,
      data: job.data.fingerprint,
      cut: job.cut,
      head: job.head,
      variant: variantOf(job.settings),
      settings: job.settings,
      seed: job.settings.seed,
      fold: job.fold,
      saveModel: job.saveModel,
    }),
  );
}

/** Redis key of a model's bytes. */
export function modelKey(queueName: string, hash: string): string {
  return `tinyprune:${queueName}:model:${hash}`;
}

/** Stores model bytes under their hash (once) and returns the hash. */
export async function putModel(redis: Redis, queueName: string, bytes: Uint8Array) {
  const hash = sha256(bytes);
  await redis.set(modelKey(queueName, hash), Buffer.from(bytes), 'NX');
  return hash;
}

/** The model bytes stored under `hash`, checked against it; undefined when absent. */
export async function getModel(
  redis: Redis,
  queueName: string,
  hash: string,
): Promise<Buffer | undefined> {
  const b = await redis.getBuffer(modelKey(queueName, hash));
  if (!b) return undefined;
  if (sha256(b) !== hash) throw new Error(`model ${hash.slice(0, 12)}… in Redis is corrupt`);
  return b;
}
