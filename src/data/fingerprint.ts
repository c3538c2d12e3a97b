// Dataset fingerprints: a sha256 over a spec's kind and options and the relative paths and
// contents of the files under its folders. Two machines with the same copy of the data get the
// same fingerprint wherever the copy lives; a changed, added or removed file changes it.
// File hashes are memoised per machine by (path, size, mtime), so a re-fingerprint of a large,
// unchanged dataset only stats its files.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { TinypruneError } from '../graph/types.js';

/** Spec options whose values are paths (folders or files the dataset reads). */
export const PATH_OPTIONS = new Set(['noiseDir']);

export interface SpecParts {
  kind: string;
  /** The spec's main path ('' never; for synthetic data, its generator name). */
  path: string;
  /** Options in their order, as key/value pairs. */
  options: [string, string][];
}

/** Splits `KIND:PATH[?k=v&…]` (no validation of the kind or the options: openDataset does that). */
export function splitSpec(spec: string): SpecParts {
  const m = /^([a-z][a-z0-9-]*):(.+)$/.exec(spec);
  if (!m) throw new TinypruneError(`dataset spec '${spec}': expected KIND:PATH`);
  const rest = m[2]!;
  const q = rest.indexOf('?');
  const options = (q >= 0 ? rest.slice(q + 1) : '')
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const i = part.indexOf('=');
      return (i < 0 ? [part, ''] : [part.slice(0, i), part.slice(i + 1)]) as [string, string];
    });
  return { kind: m[1]!, path: q >= 0 ? rest.slice(0, q) : rest, options };
}

export function joinSpec(p: SpecParts): string {
  const q = p.options.map(([k, v]) => `${k}=${v}`).join('&');
  return `${p.kind}:${p.path}${q ? `?${q}` : ''}`;
}

/** Kinds whose path names generated data, not files. */
const GENERATED_KINDS = new Set(['synthetic']);

/** The filesystem paths a spec reads: its main path and every path-valued option. */
export function specPaths(spec: string): { role: string; path: string }[] {
  const p = splitSpec(spec);
  const out = GENERATED_KINDS.has(p.kind) ? [] : [{ role: 'path', path: p.path }];
  for (const [k, v] of p.options) if (PATH_OPTIONS.has(k)) out.push({ role: k, path: v });
  return out;
}

/** The spec with every path `f` of itself (e.g. resolved against a data root). */
export function mapSpecPaths(spec: string, f: (path: string) => string): string {
  const p = splitSpec(spec);
  return joinSpec({
    kind: p.kind,
    path: GENERATED_KINDS.has(p.kind) ? p.path : f(p.path),
    options: p.options.map(([k, v]) => [k, PATH_OPTIONS.has(k) ? f(v) : v]),
  });
}

// --- per-machine memo of file hashes ----------------------------------------------------------

// In least-recently-used order, and bounded: every run loads the whole memo, and a machine hashes
// ever more files (each test's temporary copies, every layout tried), so an unbounded memo would
// grow every later run's memory and start-up with the machine's history, not with its data.
type Memo = Map<string, [size: number, mtimeMs: number, sha256: string]>;
let memo: Memo | undefined;
let memoDirty = false;

/** Files remembered (most recently used kept): room for both full MLPerf Tiny sets (~220k). */
const MEMO_MAX = 250_000;
const memoMax = () => Number(process.env.TINYPRUNE_HASH_MEMO_MAX) || MEMO_MAX;

function memoFile(): string {
  const dir =
    process.env.TINYPRUNE_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tinyprune');
  return join(dir, 'file-hashes.json');
}

function loadMemo(): Memo {
  if (memo) return memo;
  memo = new Map();
  try {
    const f = memoFile();
    if (existsSync(f))
      for (const [k, v] of Object.entries(
        JSON.parse(readFileSync(f, 'utf8')) as Record<string, [number, number, string]>,
      ))
        memo.set(k, v);
  } catch {
    memo = new Map(); // A damaged memo only costs re-hashing.
  }
  return memo;
}

function saveMemo(): void {
  if (!memoDirty || !memo) return;
  try {
    const f = memoFile();
    mkdirSync(join(f, '..'), { recursive: true });
    let drop = memo.size - memoMax();
    for (const k of memo.keys()) {
      if (drop-- <= 0) break;
      memo.delete(k);
    }
    writeFileAtomic(f, JSON.stringify(Object.fromEntries(memo)));
    memoDirty = false;
  } catch {
    // Read-only home: fingerprints still work, just without the memo.
  }
}

async function fileHash(abs: string, size: number, mtimeMs: number): Promise<string> {
  const m = loadMemo();
  const hit = m.get(abs);
  if (hit && hit[0] === size && hit[1] === mtimeMs) {
    m.delete(abs); // most recently used last
    m.set(abs, hit);
    return hit[2];
  }
  const h = createHash('sha256')
    .update(await readFile(abs))
    .digest('hex');
  m.delete(abs);
  m.set(abs, [size, mtimeMs, h]);
  memoDirty = true;
  return h;
}

/** Regular files under `root` (itself, if a file), as sorted relative paths. */
async function listFiles(root: string): Promise<{ rel: string; abs: string }[]> {
  const st = await stat(root);
  if (!st.isDirectory()) return [{ rel: basename(root), abs: root }];
  const out: { rel: string; abs: string }[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const abs = join(dir, e.name);
      const s = e.isSymbolicLink() ? await stat(abs) : e;
      if (s.isDirectory()) await walk(abs);
      else if (s.isFile()) out.push({ rel: relative(root, abs).split('\\').join('/'), abs });
    }
  };
  await walk(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/**
 * sha256 (hex) of a dataset spec's kind, its non-path options, and for each folder or file it
 * reads, the relative path and sha256 of every file under it. Where the copy lives does not
 * matter; its contents do.
 */
export async function dataFingerprint(spec: string): Promise<string> {
  const parts = splitSpec(spec);
  const h = createHash('sha256');
  h.update('tinyprune data fingerprint v1\n');
  h.update(`kind ${parts.kind}\n`);
  if (GENERATED_KINDS.has(parts.kind)) h.update(`generator ${parts.path}\n`);
  for (const [k, v] of [...parts.options].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
    h.update(PATH_OPTIONS.has(k) ? `option ${k} (a path)\n` : `option ${k}=${v}\n`);
  for (const { role, path } of specPaths(spec)) {
    const abs = resolve(path);
    h.update(`root ${role}\n`);
    if (!existsSync(abs)) {
      h.update('missing\n');
      continue;
    }
    for (const f of await listFiles(abs)) {
      const s = await stat(f.abs);
      h.update(`file ${f.rel} ${s.size} ${await fileHash(f.abs, s.size, s.mtimeMs)}\n`);
    }
  }
  saveMemo();
  memo = undefined; // read again by the next fingerprint: not held through a whole run
  return h.digest('hex');
}
