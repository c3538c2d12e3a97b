// Bounded reading of the files a user names (models, label lists, data files). A path must be a
// regular file — a FIFO would block forever, a device such as /dev/zero never ends, a directory
// gives EISDIR — and no larger than a limit, so a hostile or mistaken file cannot take the
// machine's memory. The file is opened without blocking and checked on the descriptor (fstat),
// so a path swapped between the check and the read changes nothing.

import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { TinypruneError } from '../graph/types.js';

/** What a file is for: each kind has its own limit and environment variable. */
export type FileKind = 'model' | 'data';

interface Limit {
  env: string;
  defaultBytes: number;
  what: string;
}

const LIMITS: Record<FileKind, Limit> = {
  // The MLPerf Tiny models are < 1 MB; the largest models a Cortex-M0+ can hold are a few MB.
  model: { env: 'TINYPRUNE_MAX_MODEL_BYTES', defaultBytes: 256 * 2 ** 20, what: 'model file' },
  // One data file: a label list, a clip, an image, a background-noise recording.
  data: { env: 'TINYPRUNE_MAX_DATA_BYTES', defaultBytes: 256 * 2 ** 20, what: 'data file' },
};

/** The byte limit for `kind`: the environment variable when set to a positive integer. */
export function fileLimit(kind: FileKind): number {
  const l = LIMITS[kind];
  const raw = process.env[l.env];
  if (raw === undefined || raw === '') return l.defaultBytes;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new TinypruneError(`${l.env} expects a positive number of bytes, got "${raw}"`);
  return n;
}

function describe(mode: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}): string {
  if (mode.isDirectory()) return 'a directory';
  if (mode.isFIFO()) return 'a FIFO (named pipe)';
  if (mode.isCharacterDevice() || mode.isBlockDevice()) return 'a device';
  if (mode.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a whole regular file of at most the kind's limit (`what` names it in errors). Every failure is a one-line
 * TinypruneError naming the file, what was expected and, for the size, how to raise the limit.
 */
export function readFileBounded(
  path: string,
  kind: FileKind,
  what?: string,
  /** Read into this buffer when the file fits (the result is then a view of it). */
  into?: Uint8Array,
): Uint8Array {
  const l = { ...LIMITS[kind], what: what ?? LIMITS[kind].what };
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not wait; it is refused after fstat.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'ENOTDIR'
            ? 'a part of the path is not a directory'
            : code === 'ELOOP'
              ? 'too many symbolic links'
              : (code ?? String(e));
    throw new TinypruneError(`cannot read ${l.what} ${path}: ${why}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new TinypruneError(
        `cannot read ${l.what} ${path}: it is ${describe(st)}, expected a regular file`,
      );
    const limit = fileLimit(kind);
    if (st.size > limit)
      throw new TinypruneError(
        `cannot read ${l.what} ${path}: ${st.size} bytes is over the limit of ${limit} (set ${l.env} to raise it)`,
      );
    // Read at most the size fstat gave (a file that grows meanwhile is cut there).
    const out =
      into && into.length >= st.size ? into.subarray(0, st.size) : new Uint8Array(st.size);
    let got = 0;
    while (got < out.length) {
      const n = readSync(fd, out, got, out.length - got, null);
      if (n === 0) break;
      got += n;
    }
    return got === out.length ? out : out.subarray(0, got);
  } catch (e) {
    if (e instanceof TinypruneError) throw e;
    throw new TinypruneError(
      `cannot read ${l.what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  } finally {
    closeSync(fd);
  }
}

/** readFileBounded as UTF-8 text. */
export function readTextBounded(path: string, kind: FileKind, what?: string): string {
  return new TextDecoder().decode(readFileBounded(path, kind, what));
}

/**
 * A flat copy of a string made by concatenation (a path from `join`, say). V8 keeps
 * concatenations as trees that hold their parts: the 80k clip paths of a full Speech Commands
 * training partition held ~7 string objects each (51 MB of heap in every thread that opens the
 * set, 23 MB with flat paths). For the file lists of large datasets.
 */
export function flatString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
