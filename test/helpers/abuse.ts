// Runs the CLI as a hostile or careless user would and checks the answer: exit 2, exactly one
// line on stderr, no stack frame, within a time and a resident-memory bound.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const MAIN = fileURLToPath(new URL('../../src/cli/run.ts', import.meta.url));
const RSS = fileURLToPath(new URL('./rss-preload.mjs', import.meta.url));

export interface AbuseResult {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Peak resident set in MiB. */
  rssMiB: number;
}

/** Spawns `tinyprune ARGS` (from source) with extra environment; kills it after `timeoutMs`. */
export function runAbuse(
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<AbuseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-'));
  const rssFile = join(dir, 'rss');
  const t0 = Date.now();
  return new Promise((done, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', RSS, MAIN, ...args], {
      env: { ...process.env, ...opts.env, TINYPRUNE_RSS_FILE: rssFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      let rssMiB = NaN;
      try {
        rssMiB = Number(readFileSync(rssFile, 'utf8')) / 1024;
      } catch {
        // killed before exit
      }
      rmSync(dir, { recursive: true, force: true });
      done({ status, stdout, stderr, ms: Date.now() - t0, rssMiB });
    });
  });
}

/**
 * The answer to a user mistake: exit 2, one line on stderr matching `expect`, no stack frame,
 * in under `maxMs` and 1 GiB resident.
 */
export function assertOneLineError(r: AbuseResult, expect: RegExp, maxMs = 30_000): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const shown = `exit ${r.status}, stderr:\n${r.stderr}`;
  assert.equal(r.status, 2, shown);
  assert.equal(lines.length, 1, `expected one line on stderr, ${shown}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `stack frame on stderr: ${shown}`);
  assert.match(lines[0]!, expect, shown);
  assert.ok(r.ms < maxMs, `took ${r.ms} ms (bound ${maxMs})`);
  assert.ok(!(r.rssMiB > 1024), `peak resident ${r.rssMiB.toFixed(0)} MiB, over 1 GiB`);
}

/** Runs `jobs` two at a time (the CLI's start-up dominates; the machine has few cores). */
export async function inPairs<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all([worker(), worker()]);
  return out;
}

/** A CLI misuse and the one-line error it must give. */
export interface AbuseCase {
  name: string;
  args: () => string[];
  env?: Record<string, string>;
  expect: RegExp;
}

/**
 * Runs every case through the CLI (two at a time), logs the slowest run and the peak resident
 * memory, and asserts each gives its one-line error; failures are collected and shown together.
 */
export async function assertCases(cases: AbuseCase[]): Promise<void> {
  const results = await inPairs(
    cases.map((c) => () => runAbuse(c.args(), { env: c.env, timeoutMs: 60_000 })),
  );
  const ms = Math.max(...results.map((r) => r.ms));
  const mib = Math.max(...results.map((r) => r.rssMiB));
  console.log(
    `# ${results.length} CLI runs: slowest ${ms} ms, peak resident ${mib.toFixed(0)} MiB`,
  );
  const failures: string[] = [];
  results.forEach((r, i) => {
    try {
      assertOneLineError(r, cases[i]!.expect);
    } catch (e) {
      failures.push(`${cases[i]!.name}: ${(e as Error).message}`);
    }
  });
  assert.deepEqual(failures, []);
}
