// Sweeps through BullMQ on a real redis-server with real worker processes: the same rows as a
// local sweep, a worker killed mid-row, refused payloads, and Redis restarted mid-sweep.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Queue, QueueEvents } from 'bullmq';
import { hasShared, model, SHARED } from './helpers/shared.js';
import { hasRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { rowJob } from '../src/distributed/submit.js';
import { putModel, rowJobId, type RowJob } from '../src/distributed/job.js';
import { dataFingerprint } from '../src/data/fingerprint.js';
import { PAPER_SCHEDULES } from '../src/prune/train.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'run.ts');
const TSX = import.meta.resolve('tsx');
const skip = !hasShared
  ? '../shared is absent: the distributed tests sweep the real KWS model'
  : !hasRedis
    ? 'redis-server is not installed (Debian: apt-get install redis-server; scripts/bootstrap.mjs installs it)'
    : false;
// Paths in the spec are relative: workers resolve them against --data-root, the submitter
// against its working folder; both are the shared folder here.
const DATA_ROOT = hasShared ? realpathSync(SHARED) : '';
const SPEC = 'eembc-kws:data/eembc_kws01/mfcc';
// 5 cuts x aux, dense with the default recipe, shortened to 8 steps (the floor of 3
// epochs of the ~400 training clips; lr raised to move in so few). Steps, not --epochs: the default recipe's schedule is
// sized in steps, and its rows must travel as they are.
const SWEEP = [
  'sweep',
  '--model',
  model('kws_ref_model_float32.tflite'),
  '--data',
  SPEC,
  '--heads',
  'aux,dense',
  '--steps',
  '8',
  '--lr',
  '0.003',
  '--seed',
  '3',
];

interface Proc {
  child: ChildProcess;
  output(): string;
  exit: Promise<number>;
}

function cli(args: string[], cwd = DATA_ROOT): Proc {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<number>((r) =>
    child.on('exit', (code, sig) => r(code ?? (sig ? 128 : 1))),
  );
  return { child, output: () => out, exit };
}

function worker(url: string, extra: string[] = []): Proc {
  return cli(
    ['worker', '--queue', url, '--data-root', DATA_ROOT, '--stall-seconds', '5', ...extra],
    ROOT,
  );
}

async function stopWorker(w: Proc): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return;
  w.child.kill('SIGTERM');
  const code = await w.exit;
  assert.equal(code, 0, `worker did not stop cleanly on SIGTERM:\n${w.output()}`);
  assert.match(w.output(), /stopped/);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sweepJson = (out: string) => JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8'));
/** What must match a local sweep (every row's numbers, the split, the settings). */
const results = (out: string) => {
  const s = sweepJson(out);
  return {
    rows: s.rows,
    split: s.split,
    settings: s.settings,
    data: s.data,
    selection: s.selection,
  };
};
/** The local rows of these cuts (and the unpruned row), for sweeps run with --cuts. */
const localRows = (local: string, cuts: string[]) =>
  results(local).rows.filter((r: { cut: string }) => r.cut === 'full' || cuts.includes(r.cut));
// Fault tests train fewer rows: what they test is the queue, not the sweep's breadth.
const FEW = ['conv1', 'block2', 'block4'];
const rowKeys = (out: string) =>
  (sweepJson(out).rows as { cut: string; head: string }[]).map((r) => `${r.cut}+${r.head}`);

describe('distributed sweeps on BullMQ + redis-server', { skip, timeout: 600_000 }, () => {
  let tmp: string;
  let local: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'tinyprune-dist-'));
    local = join(tmp, 'local');
    const p = cli([...SWEEP, '--out', local, '--quiet']);
    assert.equal(await p.exit, 0, p.output());
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('2 workers give the rows of a local sweep; resubmitting reuses them; no password in any output', async () => {
    const redis = await startRedis({ password: 'pw-s3cret' });
    const w = [worker(redis.url), worker(redis.url)];
    try {
      const out = join(tmp, 'queued');
      const s = cli([...SWEEP, '--out', out, '--queue', redis.url, '--budget', 'drop=90%']);
      assert.equal(await s.exit, 0, s.output());
      assert.deepEqual(results(out), {
        ...results(local),
        selection: sweepJson(out).selection,
      });
      assert.equal(sweepJson(out).rows.length, 11);
      assert.ok(sweepJson(out).selection.cut, 'a selection was written');
      for (const f of ['sweep.md', 'pareto-params.svg', 'pareto-macs.svg'])
        assert.ok(readdirSync(out).includes(f), f);
      // Both workers trained rows.
      for (const x of w) assert.match(x.output(), /done \w+ \+ (aux|dense)/);
      // The same sweep again, with no worker running: every row comes from the queue.
      await Promise.all(w.map(stopWorker));
      const again = join(tmp, 'again');
      const s2 = cli([...SWEEP, '--out', again, '--queue', redis.url]);
      assert.equal(await s2.exit, 0, s2.output());
      assert.match(s2.output(), /11 finished earlier/);
      assert.deepEqual(results(again).rows, results(local).rows);
      const logs = [s.output(), s2.output(), ...w.map((x) => x.output())].join('\n');
      assert.match(logs, /redis:\/\/:\*\*\*@127\.0\.0\.1/, 'the URL appears, redacted');
      const files = readdirSync(out).filter((f) => /\.(json|md)$/.test(f));
      for (const text of [logs, ...files.map((f) => readFileSync(join(out, f), 'utf8'))])
        assert.doesNotMatch(text, /pw-s3cret/);
    } finally {
      for (const x of w) x.child.kill('SIGKILL');
      await redis.dispose();
    }
  });

  test('kill -9 of one of two workers mid-row: the sweep completes with each row once', async () => {
    const redis = await startRedis();
    const a = worker(redis.url);
    const b = worker(redis.url);
    try {
      const out = join(tmp, 'killed');
      const s = cli([...SWEEP, '--cuts', FEW.join(','), '--out', out, '--queue', redis.url]);
      // Kill `a` as soon as it starts training a pruned row.
      let victim = '';
      await until(
        () => {
          const m = /training (\w+ \+ \w+) \[job/.exec(a.output());
          if (m) victim = m[1]!;
          return m !== null;
        },
        120_000,
        'worker a to start a row',
      );
      a.child.kill('SIGKILL');
      await a.exit;
      assert.equal(await s.exit, 0, s.output());
      const keys = rowKeys(out);
      assert.equal(keys.length, 7);
      assert.equal(new Set(keys).size, 7, 'each row once');
      assert.deepEqual(sweepJson(out).rows, localRows(local, FEW));
      if (!new RegExp(`done ${victim.replace('+', '\\+')}`).test(a.output()))
        assert.match(
          b.output(),
          new RegExp(`done ${victim.replace('+', '\\+')}`),
          'b took the row over',
        );
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      await redis.dispose();
    }
  });

  test('refused payloads fail clearly and the worker keeps serving', async () => {
    const redis = await startRedis();
    const w = worker(redis.url);
    const connection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
    const queue = new Queue('tinyprune', { connection });
    const events = new QueueEvents('tinyprune', { connection });
    const client = new Redis(connection);
    try {
      await events.waitUntilReady();
      const bytes = readFileSync(model('kws_ref_model_float32.tflite'));
      const sha256 = await putModel(client, 'tinyprune', bytes);
      const good: RowJob = rowJob(
        {
          base: undefined as never,
          modelKey: sha256,
          data: SPEC,
          cut: 'full',
          head: 'original',
          settings: { seed: 1, schedule: PAPER_SCHEDULES.kws },
        },
        { sha256, bytes: bytes.length },
        // Where the copy lives does not matter, only what it holds.
        await dataFingerprint(`eembc-kws:${join(DATA_ROOT, 'data', 'eembc_kws01', 'mfcc')}`),
      );
      const bad: [string, unknown, RegExp][] = [
        [
          'outside',
          { ...good, data: { ...good.data, spec: 'eembc-kws:../../etc' } },
          /outside --data-root/,
        ],
        [
          'absolute-outside',
          { ...good, data: { ...good.data, spec: `eembc-kws:${ROOT}` } },
          /outside --data-root/,
        ],
        ['unknown', { ...good, shell: 'rm -rf /' }, /unknown field "shell"/],
        ['other-version', { ...good, tool: 'tinyprune 0.0.1' }, /submitted by tinyprune 0\.0\.1/],
        [
          'unknown-setting',
          { ...good, settings: { ...good.settings, command: 'x' } },
          /payload\.settings: unknown field "command"/,
        ],
        ['malformed', { ...good, settings: 'fast' }, /payload\.settings: expected an object/],
        ['not-an-object', 'hello', /payload: expected an object/],
        [
          'bad-fingerprint',
          { ...good, data: { ...good.data, fingerprint: 'f'.repeat(64) } },
          /the data differs/,
        ],
      ];
      const finished = (id: string) =>
        new Promise<{ ok: boolean; text: string }>((resolve) => {
          const onDone = (e: { jobId: string; returnvalue?: unknown; failedReason?: string }) => {
            if (e.jobId !== id) return;
            events.off('completed', onDone);
            events.off('failed', onDone);
            resolve({ ok: e.failedReason === undefined, text: e.failedReason ?? '' });
          };
          events.on('completed', onDone);
          events.on('failed', onDone);
        });
      for (const [id, data, reason] of bad) {
        const done = finished(id);
        await queue.add('row', data, { jobId: id, attempts: 3 });
        const r = await done;
        assert.equal(r.ok, false, id);
        assert.match(r.text, reason, id);
        const job = await queue.getJob(id);
        assert.equal(job!.attemptsMade, 1, `${id}: refused once, not retried`);
      }
      // Still serving: a valid row (the unpruned model's evaluation) completes.
      const id = rowJobId(good);
      const done = finished(id);
      await queue.add('row', good, { jobId: id });
      assert.deepEqual(await done, { ok: true, text: '' });
      assert.match(w.output(), /refused job outside: data path/);
      await stopWorker(w);
    } finally {
      w.child.kill('SIGKILL');
      await events.close();
      await queue.close();
      client.disconnect();
      await redis.dispose();
    }
  });

  test('rows failing on every try appear in the table as failed; a rerun retries them', async () => {
    const redis = await startRedis();
    const empty = mkdtempSync(join(tmpdir(), 'tinyprune-empty-root-'));
    // This worker's data root lacks the data: every row is refused.
    const wrong = cli(
      ['worker', '--queue', redis.url, '--data-root', empty, '--stall-seconds', '5'],
      ROOT,
    );
    let right: Proc | undefined;
    try {
      const out = join(tmp, 'failing');
      const args = [
        ...SWEEP,
        '--cuts',
        'block2',
        '--heads',
        'aux',
        '--out',
        out,
        '--queue',
        redis.url,
      ];
      const s = cli(args);
      assert.equal(await s.exit, 1, s.output());
      const failed = sweepJson(out).failed as { cut: string; error: string }[];
      assert.deepEqual(failed.map((f) => f.cut).sort(), ['block2', 'full']);
      for (const f of failed) assert.match(f.error, /not found under --data-root/);
      const md = readFileSync(join(out, 'sweep.md'), 'utf8');
      assert.match(
        md,
        /\| block2 \| aux \| (frozen|distill) \|  \| failed: refused job \w+: data path "data\/eembc_kws01\/mfcc" not found under --data-root/,
      );
      assert.match(s.output(), /2 row\(s\) failed/);
      // With a worker that has the data, the same command finishes the rows.
      await stopWorker(wrong);
      right = worker(redis.url);
      const s2 = cli(args);
      assert.equal(await s2.exit, 0, s2.output());
      assert.equal(sweepJson(out).failed, undefined);
      const want = results(local).rows.filter(
        (r: { cut: string; head: string }) =>
          ['full', 'block2'].includes(r.cut) && r.head !== 'dense',
      );
      assert.deepEqual(sweepJson(out).rows, want);
      await stopWorker(right);
    } finally {
      wrong.child.kill('SIGKILL');
      right?.child.kill('SIGKILL');
      rmSync(empty, { recursive: true, force: true });
      await redis.dispose();
    }
  });

  test('Redis stopped and restarted (append-only file) mid-sweep: the sweep carries on', async () => {
    const redis = await startRedis({ appendonly: true });
    const w = [worker(redis.url), worker(redis.url)];
    try {
      const out = join(tmp, 'restarted');
      const s = cli([...SWEEP, '--cuts', FEW.join(','), '--out', out, '--queue', redis.url]);
      await until(() => /done: \w+ \+|done on /.test(s.output()), 120_000, 'a first row');
      await redis.stop();
      await new Promise((r) => setTimeout(r, 2000));
      await redis.start();
      assert.equal(await s.exit, 0, s.output());
      assert.match(s.output(), /lost Redis/);
      const keys = rowKeys(out);
      assert.equal(new Set(keys).size, 7);
      assert.deepEqual(sweepJson(out).rows, localRows(local, FEW));
      await Promise.all(w.map(stopWorker));
    } finally {
      for (const x of w) x.child.kill('SIGKILL');
      await redis.dispose();
    }
  });
});
