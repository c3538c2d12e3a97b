// Stage records that check themselves. `tinyprune run` replays finished stages from DIR/stages;
// a record is replayed only when it is intact and was made by the same inputs and settings:
// - DIR/stages/run.json holds the run's fingerprint (tool version, model bytes, data, options);
//   a rerun with other settings stops with a message naming what differs, instead of reporting
//   the old results as new;
// - each stage record carries a fingerprint chained from the run's and from every earlier
//   stage's result, and a checksum of its own result: a truncated, edited or foreign record is
//   recomputed (and so is every later stage whose inputs that changes).
// The folder is locked (io/lock.ts) so that a second process refuses to write into it.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { dataFingerprint } from '../data/fingerprint.js';
import { TinypruneError } from '../graph/types.js';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomic.js';
import { lockDir } from '../io/lock.js';

const sha256 = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');

/** JSON with object keys sorted, so equal settings give equal text. */
function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
        )
      : typeof x === 'function'
        ? undefined
        : x,
  );
}

function toolVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return `tinyprune ${String(pkg.version)}`;
  } catch {
    return 'tinyprune (unknown version)';
  }
}

/**
 * The settings a run's results depend on: every plain option of `o` (functions, the output
 * folder and the command line left out), the tool version, the model's bytes and the data's
 * fingerprint.
 */
export async function runSettings(o: Record<string, unknown>): Promise<Record<string, unknown>> {
  const settings: Record<string, unknown> = { tool: toolVersion() };
  for (const [k, v] of Object.entries(o))
    if (typeof v !== 'function' && k !== 'out' && k !== 'command') settings[k] = v;
  if (typeof o.model === 'string' && existsSync(o.model))
    settings.modelSha256 = sha256(readFileSync(o.model));
  // The data's content, not its files' times: a restored or copied data folder resumes the
  // run, an edited file does not (hashes are memoised per machine, so this is cheap after the
  // first run on a data set). A spec that cannot be read fails later with the data's own error.
  if (typeof o.data === 'string')
    settings.dataFingerprint = await dataFingerprint(o.data).catch(() => undefined);
  return JSON.parse(stableJson(settings)) as Record<string, unknown>;
}

/** Per output folder: the hash chained through the stages replayed or computed so far. */
const chains = new Map<string, string>();

interface RunRecord {
  tool: string;
  fingerprint: string;
  settings: Record<string, unknown>;
}

/** Nested settings as dotted keys (prune.schedule.epochs), so a difference names the option. */
function flatten(v: Record<string, unknown>, prefix = '', out: Record<string, unknown> = {}) {
  for (const [k, x] of Object.entries(v)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (x && typeof x === 'object' && !Array.isArray(x))
      flatten(x as Record<string, unknown>, key, out);
    else out[key] = x;
  }
  return out;
}

function differences(a0: Record<string, unknown>, b0: Record<string, unknown>): string[] {
  const [a, b] = [flatten(a0), flatten(b0)];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const show = (v: unknown) => {
    const s = v === undefined ? 'unset' : stableJson(v);
    return s.length > 40 ? `${s.slice(0, 37)}...` : s;
  };
  return keys
    .filter((k) => stableJson(a[k]) !== stableJson(b[k]))
    .map((k) => `${k} ${show(a[k])} -> ${show(b[k])}`);
}

/**
 * Claims `dir` for a run with `settings`: takes the lock, and stops with a one-line error when
 * the folder holds stages made with other settings. Returns the lock's release.
 */
export function claimRunDir(dir: string, settings: Record<string, unknown>): () => void {
  mkdirSync(join(dir, 'stages'), { recursive: true });
  const release = lockDir(dir);
  try {
    // What a run killed mid-write left (stages, rows, models, firmware): never taken as output.
    removeStaleTemporaries(dir, true);
    const fingerprint = sha256(stableJson(settings));
    const file = join(dir, 'stages', 'run.json');
    let earlier: RunRecord | undefined;
    if (existsSync(file)) {
      try {
        earlier = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
      } catch {
        earlier = undefined; // damaged: rewritten below; every stage still checks itself
      }
    }
    const others = readdirSync(join(dir, 'stages')).filter(
      (f) => f.endsWith('.json') && f !== 'run.json',
    );
    if (earlier && earlier.fingerprint !== fingerprint) {
      const diff = differences(earlier.settings ?? {}, settings);
      throw new TinypruneError(
        `--out ${dir} holds a run made with other settings (${diff.join('; ') || 'fingerprint differs'}); choose another --out, or delete ${join(dir, 'stages')} to start over`,
      );
    }
    if (!earlier && others.length > 0 && !existsSync(file))
      throw new TinypruneError(
        `--out ${dir} holds stage records without a run record (an older tinyprune or another tool); choose another --out, or delete ${join(dir, 'stages')} to start over`,
      );
    if (!earlier || earlier.fingerprint !== fingerprint)
      writeFileAtomic(
        file,
        JSON.stringify({ tool: settings.tool, fingerprint, settings }, null, 2) + '\n',
      );
    chains.set(resolve(dir), fingerprint);
    return release;
  } catch (e) {
    release();
    throw e;
  }
}

interface StageRecord<T> {
  stage: string;
  seconds: number;
  /** CPU time of the whole process (all threads): on a shared machine wall clock overstates. */
  cpuSeconds: number;
  fingerprint: string;
  checksum: string;
  result: T;
}

/** Why a record cannot be replayed, or undefined when it can. */
function problem<T>(file: string, name: string, fingerprint: string): [string] | [undefined, T] {
  let rec: StageRecord<T>;
  try {
    rec = JSON.parse(readFileSync(file, 'utf8')) as StageRecord<T>;
  } catch (e) {
    return [`its record is damaged (${(e as Error).message.split('\n')[0]})`];
  }
  if (!rec || typeof rec !== 'object' || rec.stage !== name || !('result' in rec))
    return ['its record is not a stage record of this stage'];
  if (rec.fingerprint !== fingerprint) return ['its record was made from other inputs'];
  if (rec.checksum !== sha256(JSON.stringify(rec.result) ?? 'undefined'))
    return ['its record does not match its checksum (edited?)'];
  return [undefined, rec.result];
}

/** Runs `fn` once per output folder and inputs: its JSON result is recorded and replayed. */
export async function runStage<T>(
  dir: string,
  name: string,
  log: (l: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
  const key = resolve(dir);
  const fingerprint = sha256(`${chains.get(key) ?? ''}\n${name}`);
  const file = join(dir, 'stages', `${name}.json`);
  let result: T | undefined;
  let replayed = false;
  if (existsSync(file)) {
    const [why, value] = problem<T>(file, name, fingerprint);
    if (why === undefined) {
      log(`${name}: done earlier`);
      result = value as T;
      replayed = true;
    } else log(`${name}: ${why}; recomputing`);
  }
  if (!replayed) {
    const t0 = Date.now();
    const c0 = process.cpuUsage();
    log(`${name}…`);
    result = await fn();
    const cpu = process.cpuUsage(c0);
    mkdirSync(join(dir, 'stages'), { recursive: true });
    const record: StageRecord<T> = {
      stage: name,
      seconds: (Date.now() - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      fingerprint,
      checksum: sha256(JSON.stringify(result) ?? 'undefined'),
      result: result as T,
    };
    writeFileAtomic(file, JSON.stringify(record, null, 2));
  }
  // JSON text of the result: the same whether computed now or replayed (JSON is idempotent).
  chains.set(key, sha256(`${fingerprint}\n${sha256(JSON.stringify(result) ?? 'undefined')}`));
  return result as T;
}
