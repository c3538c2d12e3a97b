// kill -9 at seeded random points across `run`, `sweep` and feature extraction: after each kill
// every file left under a finished name is whole (JSON parses, shards pass their checksum), and
// the resumed output equals an uninterrupted run's (report numbers; sweep.json, row models and
// feature shards byte for byte). Kill times are fractions of one uninterrupted run's working
// time (from its first output line to its exit), drawn from TINYPRUNE_KILL_SEED (default 17),
// stratified and chained: each resume is killed again, later, in the same folder. A failure
// names the seed and the kill points.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemoModel } from '../src/demo/model.js';
import { deployableGraph } from '../src/prune/save.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { checkShard } from '../src/prune/features/shard.js';
import { seeded } from './helpers/crafted.js';
import { run as extractRun } from './helpers/features.js';

const SEED = Number(process.env.TINYPRUNE_KILL_SEED ?? 17);
const rand = (() => {
  const r = seeded(SEED);
  return () => r() + 0.5;
})();
const CLI = fileURLToPath(new URL('../src/cli/run.ts', import.meta.url));
const EXTRACT = fileURLToPath(new URL('./helpers/features.ts', import.meta.url));

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-kill-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Outcome {
  /** Exit code, or null when killed. */
  code: number | null;
  /** ms from spawn to the first output line and to the exit. */
  firstLine: number;
  ms: number;
  stderr: string;
}

/**
 * Runs `args` (node arguments); with `killAt`, SIGKILLs it that many ms after its first output
 * line (start-up time varies with the machine's load; the work after it less so).
 */
function spawnRun(args: string[], killAt?: number): Promise<Outcome> {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let firstLine = NaN;
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  const seen = () => {
    if (!Number.isNaN(firstLine)) return;
    firstLine = Date.now() - t0;
    if (killAt !== undefined) timer = setTimeout(() => child.kill('SIGKILL'), killAt);
  };
  child.stdout.on('data', seen);
  child.stderr.on('data', (d) => {
    seen();
    stderr += d;
  });
  return new Promise((done) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, firstLine, ms: Date.now() - t0, stderr });
    }),
  );
}

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
  );
}

/** Files a kill must never leave half-written under their final name. */
function assertWhole(out: string): void {
  if (!existsSync(out)) return;
  for (const f of walk(out)) {
    if (f.endsWith('.tmp') || /\.tmp-\d+$/.test(f)) continue;
    if (f.endsWith('.json'))
      assert.doesNotThrow(() => JSON.parse(readFileSync(f, 'utf8')), `half-written ${f}`);
    if (f.endsWith('.bin') && f.includes('feature-cache')) checkShard(readFileSync(f), f);
  }
}

/** No temporary file outlives the run that finishes a folder. */
function assertNoTemporaries(out: string): void {
  const left = walk(out).filter((f) => f.endsWith('.tmp') || /\.tmp-\d+$/.test(f));
  assert.deepEqual(left, [], 'temporary files left behind');
}

/**
 * Kills the command `args(folder)` at `n` points stratified over its working time (first output
 * line to exit); each resume is killed again at the next, later point. A resume that finishes
 * before its point leaves a finished folder: the point is tried again on a fresh one, and when a
 * fresh run also finishes first, the working time is measured again from it (the machine's load
 * changed). `check` runs after each kill; every folder is then run to the end.
 */
async function killChain(
  name: string,
  args: (out: string) => string[],
  root: string,
  base: Outcome,
  n: number,
  log: string[],
  check: (out: string, killed: Outcome) => void = () => {},
): Promise<{ folders: string[]; killed: number }> {
  let work = base.ms - base.firstLine;
  const fractions = Array.from({ length: n }, (_, i) => (i + rand()) / n);
  const folders = [join(root, 'killed-1')];
  const finished = new Set<string>();
  let killed = 0;
  for (const f of fractions) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const fresh = attempt > 0;
      const out = folders[folders.length - 1]!;
      const at = Math.round(f * work);
      const r = await spawnRun(args(out), at);
      log.push(
        `${name} ${f.toFixed(3)} (+${at} ms${fresh ? ', fresh' : ''}): ${r.code ?? 'killed'}`,
      );
      if (r.code === null) {
        killed++;
        try {
          assertWhole(out);
          check(out, r);
        } catch (e) {
          failWith(log)(e);
        }
        break;
      }
      if (r.code !== 0) failWith(log)(new Error(`${name}: a resume exited ${r.code}: ${r.stderr}`));
      if (fresh) work = r.ms - r.firstLine;
      finished.add(out);
      folders.push(join(root, `killed-${folders.length + 1}`));
    }
  }
  for (const out of folders.filter((o) => !finished.has(o))) {
    if (!existsSync(out)) continue; // made for a point that then landed elsewhere: unused
    const last = await spawnRun(args(out));
    if (last.code !== 0)
      failWith(log)(new Error(`${name}: the last resume exited ${last.code}: ${last.stderr}`));
  }
  return { folders: folders.filter(existsSync), killed };
}

const failWith = (log: string[]) => (e: unknown) => {
  throw new Error(
    `${(e as Error).message}\nTINYPRUNE_KILL_SEED=${SEED} reproduces the points: ${log.join('; ')}`,
  );
};

/** A tree's files (relative path → bytes) under `sub`, `skip` left out. */
function tree(root: string, sub: string, skip: RegExp = /$^/): Record<string, string> {
  const d = join(root, sub);
  if (!existsSync(d)) return {};
  return Object.fromEntries(
    walk(d)
      .filter((f) => !skip.test(f))
      .map((f) => [relative(root, f), readFileSync(f).toString('base64')]),
  );
}

describe('abuse: kill -9 at seeded random points', () => {
  it('extraction killed mid-shard-write and mid-manifest: the resume rebuilds them, byte for byte', async () => {
    // What kill -9 inside writeFileAtomic leaves: a prefix of the bytes under the temporary name
    // of a process that is gone, and no file under the final name. Seeded prefixes of a shard and
    // of the manifest, plus a shard cut short under its final name (a writer that was not atomic).
    const whole = join(dir, 'write-whole');
    const cut = join(dir, 'write-cut');
    await extractRun(whole);
    await extractRun(cut);
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((done) => gone.on('exit', done));
    const store = readdirSync(cut).find((f) => !f.startsWith('.'))!;
    const files = readdirSync(join(cut, store)).sort();
    const shards = files.filter((f) => f.endsWith('.bin'));
    const pick = (list: string[]) => list[Math.floor(rand() * list.length)]!;
    const torn = pick(shards);
    const short = pick(shards.filter((f) => f !== torn));
    const prefix = (f: string) => {
      const bytes = readFileSync(join(cut, store, f));
      return bytes.subarray(0, Math.floor(rand() * bytes.length));
    };
    for (const f of [torn, 'store.json']) {
      writeFileSync(join(cut, store, `.${f}.${gone.pid}.0badf00d.tmp`), prefix(f));
      rmSync(join(cut, store, f));
    }
    writeFileSync(join(cut, store, short), prefix(short));
    const resumed = await extractRun(cut);
    const context = `seed ${SEED}: torn ${torn}, short ${short}`;
    assert.equal(resumed.built, 2, context);
    assert.deepEqual(tree(cut, '.'), tree(whole, '.'), context);
    assertNoTemporaries(cut);
  });

  it('run, sweep and feature extraction resume to an uninterrupted run’s results', async () => {
    const model = join(dir, 'shapes.tflite');
    writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
    const runArgs = (out: string) => [
      CLI,
      'run',
      '--data',
      'synthetic:shapes?n=200',
      '--cut',
      'block2',
      '--heads',
      'aux',
      '--epochs',
      '1',
      '--base-epochs',
      '1',
      '--deploy-inputs',
      '2',
      '--out',
      out,
    ];
    // Four rows with their models saved, so that resumed weights are compared byte for byte.
    const sweepArgs = (out: string) => [
      CLI,
      'sweep',
      '--model',
      model,
      '--data',
      'synthetic:shapes?n=200',
      '--cuts',
      'block1,block2',
      '--heads',
      'aux,dense',
      '--epochs',
      '2',
      '--lr',
      '0.01',
      '--save-models',
      '--out',
      out,
    ];
    const extractArgs = (root: string) => [EXTRACT, root, '0', 'start'];
    const out = (k: string) => join(dir, k);

    // Uninterrupted runs: the results to reproduce, and the working time to spread kills over.
    const [runBase, sweepBase, extractBase] = await Promise.all([
      spawnRun(runArgs(out('run-straight'))),
      spawnRun(sweepArgs(out('sweep-straight'))).then(async (s) => [
        s,
        await spawnRun(extractArgs(out('extract-straight'))),
      ]),
    ]).then(([r, [s, e]]) => [r, s!, e!]);
    for (const b of [runBase!, sweepBase, extractBase]) assert.equal(b.code, 0, b.stderr);
    console.log(
      `# uninterrupted: run ${runBase!.ms} ms, sweep ${sweepBase.ms} ms, extraction ${extractBase.ms} ms`,
    );

    // 6 + 7 + 7 = 20 kill points: the run alone, the sweep and then the extraction beside it.
    const log: string[] = [];
    // A row reported finished by a killed sweep has its row file: the resume does not train it.
    const rowsKept = (o: string, r: Outcome) => {
      for (const m of r.stderr.matchAll(/\] (\w+) \+ (\w+): \d+ params/g))
        assert.ok(
          existsSync(join(o, 'rows', `${m[1]}-${m[2]}-distill.json`)),
          `row ${m[1]} + ${m[2]} finished before the kill but its row file is missing`,
        );
    };
    const [runChain, [sweepChain, extractChain]] = await Promise.all([
      killChain('run', runArgs, out('run'), runBase!, 6, log),
      killChain('sweep', sweepArgs, out('sweep'), sweepBase, 7, log, rowsKept).then(
        async (s) =>
          [
            s,
            await killChain('extraction', extractArgs, out('extract'), extractBase, 7, log),
          ] as const,
      ),
    ]);
    console.log(`# seed ${SEED}: ${log.join('; ')}`);
    try {
      // Enough of the points landed before the end to mean something.
      const killed = runChain.killed + sweepChain.killed + extractChain.killed;
      assert.ok(killed >= 15, `only ${killed} of 20 kill points landed before the exit`);

      // run: the report's numbers.
      const numbers = (o: string) => {
        const r = JSON.parse(readFileSync(join(o, 'report.json'), 'utf8'));
        const pick = (m: Record<string, unknown>) =>
          ['params', 'macs', 'flashBytes', 'ramBytes', 'cycles', 'floatTest', 'int8Test'].map(
            (k) => m[k],
          );
        const sweep = r.sweep.map(({ file: _f, ...row }: Record<string, unknown>) => row);
        return { unpruned: pick(r.unpruned), pruned: pick(r.pruned), sweep };
      };
      for (const f of runChain.folders) {
        assert.deepEqual(numbers(f), numbers(out('run-straight')), f);
        assertNoTemporaries(f);
      }

      // sweep: sweep.json (row model paths aside), the row models and the feature cache.
      const sweepJson = (o: string) => {
        const s = JSON.parse(readFileSync(join(o, 'sweep.json'), 'utf8'));
        s.rows = s.rows.map(({ file: _f, ...row }: Record<string, unknown>) => row);
        return s;
      };
      for (const f of sweepChain.folders) {
        assert.deepEqual(sweepJson(f), sweepJson(out('sweep-straight')), f);
        for (const sub of ['models', 'feature-cache'])
          assert.deepEqual(tree(f, sub), tree(out('sweep-straight'), sub), `${f}: ${sub}`);
        assertNoTemporaries(f);
      }

      // extraction: the store, byte for byte.
      for (const f of extractChain.folders) {
        assert.deepEqual(tree(f, '.'), tree(out('extract-straight'), '.'), f);
        assertNoTemporaries(f);
      }
    } catch (e) {
      failWith(log)(e);
    }
  });
});
