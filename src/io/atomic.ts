import { randomBytes } from 'node:crypto';
import { readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * A temporary name next to `path` for this process: `.NAME.PID.RANDOM.tmp`. The pid lets a later
 * run tell a file of a killed writer (removed by `removeStaleTemporaries`) from a live one's.
 */
export function temporaryPath(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
}

/**
 * Writes `data` to `path` atomically: a temporary file in the same folder, then a rename, so a
 * crash never leaves a half-written file under a name that looks complete.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = temporaryPath(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The writer's pid in a temporary name: `temporaryPath`'s, or an older version's `X.elf.tmp-PID`. */
const TEMPORARY = [/^\..+\.(\d+)\.[0-9a-f]+\.tmp$/, /.\.elf\.tmp-(\d+)$/];

/**
 * Removes the temporary files in `dir` (and, with `recursive`, its subfolders) whose writer no
 * longer runs: what a kill -9 mid-write leaves. Those of live processes are kept. Returns the
 * paths removed; a missing folder has none.
 */
export function removeStaleTemporaries(dir: string, recursive = false): string[] {
  const removed: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) removed.push(...removeStaleTemporaries(path, true));
      continue;
    }
    const pid = TEMPORARY.map((re) => re.exec(e.name)?.[1]).find((p) => p !== undefined);
    if (pid !== undefined && !alive(Number(pid))) {
      rmSync(path, { force: true });
      removed.push(path);
    }
  }
  return removed;
}
