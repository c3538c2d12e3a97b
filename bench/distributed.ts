// Distributed sweeps: the KWS sweep (5 cuts x aux, dense; the paper's recipe) on the EEMBC KWS
// features, run here without a queue, then through a real redis-server with 1 and with 2
// `tinyprune worker` processes. Reports wall-clock seconds, the 2-worker speed-up, and the
// queue's own cost per row (the 1-worker wall clock minus the worker's time inside trainRow,
// per row; also 1 worker − local, which the machine's load makes noisy). Each configuration gets
// its own queue name, so no run reuses another's finished rows.
// Run: npm run bench distributed   (BENCH_DIST_EPOCHS=N shortens the schedule, default the
// paper's 30; BENCH_DIST_REPEATS=N runs each configuration N times and reports medians)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasRedis, startRedis } from '../test/helpers/redis.js';
import { Queue } from 'bullmq';
import type { BenchReport } from './run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHARED = join(ROOT, '..', 'shared');
const MAIN = join(ROOT, 'src', 'cli', 'run.ts');
const TSX = import.meta.resolve('tsx');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function cli(
  args: string[],
  cwd: string,
): { child: ChildProcess; out: () => string; exit: Promise<number> } {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out, exit: new Promise((r) => child.on('exit', (c) => r(c ?? 1))) };
}

async function timed(args: string[], cwd: string): Promise<number> {
  const t0 = performance.now();
  const p = cli(args, cwd);
  const code = await p.exit;
  if (code !== 0) throw new Error(`tinyprune ${args[0]} failed:\n${p.out()}`);
  return (performance.now() - t0) / 1000;
}

export async function bench(): Promise<BenchReport> {
  const title = 'Distributed sweep (BullMQ + redis-server): KWS, 5 cuts x aux, dense';
  if (!existsSync(join(SHARED, 'models', 'mlperf_tiny', 'kws_ref_model_float32.tflite')))
    return { title, rows: [], notes: ['skipped: ../shared is absent'] };
  if (!hasRedis) return { title, rows: [], notes: ['skipped: redis-server is not installed'] };
  const dataRoot = realpathSync(SHARED);
  const epochs = process.env.BENCH_DIST_EPOCHS ?? '30';
  const repeats = Number(process.env.BENCH_DIST_REPEATS ?? '1');
  const tmp = mkdtempSync(join(tmpdir(), 'tinyprune-bench-dist-'));
  const redis = await startRedis();
  const sweep = (out: string) => [
    'sweep',
    '--model',
    join(dataRoot, 'models', 'mlperf_tiny', 'kws_ref_model_float32.tflite'),
    '--data',
    'eembc-kws:data/eembc_kws01/mfcc',
    '--heads',
    'aux,dense',
    '--recipe',
    'paper',
    '--epochs',
    epochs,
    // One intra-op thread per row: two workers on two cores, not four threads fighting for them.
    '--threads',
    '1',
    '--quiet',
    '--out',
    join(tmp, out),
  ];
  const times: Record<'local' | 'w1' | 'w2', number[]> = { local: [], w1: [], w2: [] };
  /** Per 1-worker run: wall clock minus the seconds the worker spent inside trainRow, per row. */
  const overhead: number[] = [];
  let rows = 0;
  try {
    for (let rep = 0; rep < repeats; rep++) {
      times.local.push(await timed(sweep(`local-${rep}`), dataRoot));
      rows = (
        JSON.parse(readFileSync(join(tmp, `local-${rep}`, 'sweep.json'), 'utf8')).rows as unknown[]
      ).length;
      for (const n of [1, 2] as const) {
        const queueName = `bench-${n}-${rep}-${process.pid}`;
        // Workers start (and load their code) before the clock starts, as they would be waiting.
        const workers = Array.from({ length: n }, () =>
          cli(
            ['worker', '--queue', redis.url, '--queue-name', queueName, '--data-root', dataRoot],
            ROOT,
          ),
        );
        const t0 = Date.now();
        while (!workers.every((w) => /waiting for rows/.test(w.out()))) {
          if (Date.now() - t0 > 120_000) throw new Error('workers did not start');
          await new Promise((r) => setTimeout(r, 100));
        }
        times[n === 1 ? 'w1' : 'w2'].push(
          await timed(
            [...sweep(`q${n}-${rep}`), '--queue', redis.url, '--queue-name', queueName],
            dataRoot,
          ),
        );
        if (n === 1) {
          // The time the worker spent in trainRow, from the results in the queue.
          const queue = new Queue(queueName, {
            connection: { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null },
          });
          const jobs = await queue.getJobs(['completed']);
          const inRows = jobs.reduce(
            (a, j) => a + (j.returnvalue as { seconds: number }).seconds,
            0,
          );
          await queue.close();
          overhead.push((times.w1.at(-1)! - inRows) / jobs.length);
        }
        for (const w of workers) w.child.kill('SIGTERM');
        await Promise.all(workers.map((w) => w.exit));
      }
    }
  } finally {
    await redis.dispose();
    rmSync(tmp, { recursive: true, force: true });
  }
  const [local, w1, w2] = [median(times.local), median(times.w1), median(times.w2)];
  return {
    title,
    rows: [
      { name: 'local sweep (no queue), wall clock', value: local, unit: 's' },
      { name: '1 worker, wall clock', value: w1, unit: 's' },
      { name: '2 workers, wall clock', value: w2, unit: 's' },
      { name: 'speed-up, 2 workers vs 1', value: w1 / w2, unit: 'x', required: 1.7 },
      {
        name: 'queue overhead per row (1 worker: wall clock − time in trainRow, / rows)',
        value: median(overhead),
        unit: 's',
      },
      { name: '1 worker − local, per row', value: (w1 - local) / rows, unit: 's' },
    ],
    notes: [
      `${rows} rows (the unpruned model's included), ${epochs} epochs per row, eembc-kws:data/eembc_kws01/mfcc; medians of ${repeats} run(s) per configuration. ` +
        'Wall clock includes each submitting command (model load, data fingerprint, enqueue, polling every 1 s); workers were started and idle before the clock started. ' +
        'Each worker loads the data itself, which a local sweep does once. The speed-up needs two idle cores.',
    ],
  };
}
