// One process at a time per output folder. The lock is a file created exclusively (O_EXCL) that
// names its owner's pid; a second process refuses while that pid lives, and takes the lock over
// when it does not (the owner was killed with -9 and could not remove it). Removed at exit.

import { closeSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { TinypruneError } from '../graph/types.js';

export const LOCK_FILE = '.tinyprune.lock';

interface LockInfo {
  pid: number;
  host: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) ? info : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

/**
 * Takes the lock on `dir` (which must exist) for this process; returns the function that
 * releases it (also called at exit). Throws a one-line TinypruneError while another live
 * process holds it.
 */
export function lockDir(dir: string): () => void {
  const file = join(dir, LOCK_FILE);
  const mine: LockInfo = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const other = readLock(file);
      if (other && other.pid !== process.pid && other.host === mine.host && alive(other.pid))
        throw new TinypruneError(
          `--out ${dir} is in use by another tinyprune process (pid ${other.pid}, since ${other.since}); wait for it to finish or choose another --out`,
        );
      if (other && other.host !== mine.host)
        throw new TinypruneError(
          `--out ${dir} is locked by a tinyprune process on ${other.host} (pid ${other.pid}); remove ${file} if that process is gone`,
        );
      // Stale (its owner died): move it aside atomically so only one taker wins, then retry.
      try {
        renameSync(file, `${file}.stale-${process.pid}`);
        rmSync(`${file}.stale-${process.pid}`, { force: true });
      } catch {
        // another process took it over first; retry sees its lock
      }
      continue;
    }
    writeSync(fd, JSON.stringify(mine));
    closeSync(fd);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      process.off('exit', release);
      if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
    };
    process.on('exit', release);
    return release;
  }
  throw new TinypruneError(`--out ${dir}: could not take the lock ${file}`);
}
