// Resumable state that checks itself: stage records replay only when intact and made from the
// same inputs (truncated, edited and foreign records are recomputed, and so is every later
// stage), a rerun with other settings stops with one line, and an --out in use refuses a second
// process.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { claimRunDir, runSettings, runStage } from '../src/pipeline/stages.js';
import { LOCK_FILE, lockDir } from '../src/io/lock.js';
import { TinypruneError } from '../src/graph/types.js';
import { assertOneLineError, runAbuse } from './helpers/abuse.js';
import { buildDemoModel } from '../src/demo/model.js';
import { deployableGraph } from '../src/prune/save.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { findToolchain, GCC } from '../src/mcu/build.js';
import { parseElf } from '../src/mcu/elf.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-stages-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Two stages; returns which ran (not replayed) and what the logs said. */
async function pipeline(out: string, settings: Record<string, unknown>, value = 0.75) {
  const ran: string[] = [];
  const logs: string[] = [];
  const release = claimRunDir(out, settings);
  const a = await runStage(
    out,
    'train',
    (l) => logs.push(l),
    async () => {
      ran.push('train');
      return { accuracy: value, cycles: 1234 };
    },
  );
  const b = await runStage(
    out,
    'report',
    (l) => logs.push(l),
    async () => {
      ran.push('report');
      return { summary: `acc ${a.accuracy}` };
    },
  );
  release();
  return { ran, logs, a, b };
}

const SETTINGS = { tool: 'test', prune: { seed: 1, schedule: { epochs: 3 } } };

/** While one `args` process holds `out`'s lock, the same command there is refused in one line. */
async function assertBusyOutRefused(args: string[], out: string, what: string): Promise<void> {
  const first = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../src/cli/run.ts', import.meta.url)), ...args],
    { stdio: 'ignore' },
  );
  try {
    const t0 = Date.now();
    while (!existsSync(join(out, LOCK_FILE)) && Date.now() - t0 < 60_000)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(existsSync(join(out, LOCK_FILE)), `the first ${what} never took the lock`);
    assertOneLineError(await runAbuse(args), /--out .* is in use by another tinyprune process/);
  } finally {
    first.kill('SIGKILL');
    await new Promise((done) => first.on('exit', done));
  }
}

describe('abuse: stage records', () => {
  it('replays intact records and recomputes damaged, edited and foreign ones', async () => {
    const out = join(dir, 'lib');
    assert.deepEqual((await pipeline(out, SETTINGS)).ran, ['train', 'report']);
    assert.deepEqual((await pipeline(out, SETTINGS)).ran, []);

    // Truncated JSON (a crash mid-write by another tool): recomputed, not a SyntaxError.
    const train = join(out, 'stages', 'train.json');
    writeFileSync(train, readFileSync(train, 'utf8').slice(0, 40));
    let r = await pipeline(out, SETTINGS);
    assert.deepEqual(r.ran, ['train']);
    assert.ok(
      r.logs.some((l) => /train: its record is damaged/.test(l)),
      r.logs.join('\n'),
    );

    // Valid JSON with nonsense: the checksum no longer matches.
    const rec = JSON.parse(readFileSync(train, 'utf8'));
    rec.result.accuracy = 9.99;
    rec.result.cycles = -5;
    writeFileSync(train, JSON.stringify(rec));
    r = await pipeline(out, SETTINGS);
    assert.deepEqual(r.ran, ['train']);
    assert.equal(r.a.accuracy, 0.75);
    assert.ok(r.logs.some((l) => /does not match its checksum/.test(l)));

    // A record from another run (other settings), copied in: recomputed; and when the
    // recomputed result differs, every later stage is recomputed too.
    const other = join(dir, 'other');
    await pipeline(other, { ...SETTINGS, tool: 'other' }, 0.5);
    copyFileSync(join(other, 'stages', 'train.json'), train);
    r = await pipeline(out, SETTINGS, 0.8);
    assert.deepEqual(r.ran, ['train', 'report']);
    assert.equal(r.b.summary, 'acc 0.8');
  });

  it('a rerun with other settings stops with one line naming the difference', async () => {
    const out = join(dir, 'settings');
    await pipeline(out, SETTINGS);
    assert.throws(
      () => claimRunDir(out, { ...SETTINGS, prune: { seed: 1, schedule: { epochs: 5 } } }),
      (e) =>
        e instanceof TinypruneError &&
        /holds a run made with other settings \(prune\.schedule\.epochs 3 -> 5\)/.test(e.message),
    );
    // The refused claim released the lock: the same settings still resume.
    assert.deepEqual((await pipeline(out, SETTINGS)).ran, []);
    assert.ok(!existsSync(join(out, LOCK_FILE)));
  });

  it("the data's content, not its files' times, decides whether a run resumes", async () => {
    // A data folder restored from a backup (every file rewritten, same bytes) must resume its
    // runs; the same names with other bytes must not.
    const data = join(dir, 'vww-data');
    mkdirSync(data, { recursive: true });
    const image = (v: number) => new Uint8Array(96 * 96 * 3).fill(v);
    writeFileSync(join(data, 'a.bin'), image(1));
    writeFileSync(join(data, 'b.bin'), image(2));
    writeFileSync(join(data, 'y_labels.csv'), 'a.bin,2,0\nb.bin,2,1\n');
    const settings = () => runSettings({ data: `eembc-vww:${data}`, prune: { seed: 1 } });
    const first = await settings();
    assert.match(String(first.dataFingerprint), /^[0-9a-f]{64}$/);
    const later = new Date(Date.now() + 3_600_000);
    for (const f of readdirSync(data)) utimesSync(join(data, f), later, later);
    assert.deepEqual(await settings(), first, 'new times, same bytes');
    writeFileSync(join(data, 'b.bin'), image(3));
    assert.notEqual((await settings()).dataFingerprint, first.dataFingerprint, 'other bytes');
  });

  it('a folder locked by a live process refuses; a dead holder is taken over', async () => {
    const out = join(dir, 'locked');
    mkdirSync(out);
    const holder = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./helpers/hold-lock.ts', import.meta.url)), out],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((done) => holder.stdout!.once('data', () => done()));
    assert.throws(
      () => lockDir(out),
      (e) =>
        e instanceof TinypruneError &&
        /is in use by another tinyprune process \(pid \d+/.test(e.message),
    );
    holder.kill('SIGKILL'); // no exit handler runs: the lock file stays behind, stale
    await new Promise((done) => holder.on('exit', done));
    assert.ok(existsSync(join(out, LOCK_FILE)));
    const release = lockDir(out);
    release();
    assert.ok(!existsSync(join(out, LOCK_FILE)));
  });

  it('tinyprune run: a second run on a busy --out refuses; a rerun with another seed stops', async () => {
    const out = join(dir, 'run');
    const args = [
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
      '--quiet',
      '--out',
      out,
    ];
    await assertBusyOutRefused(args, out, 'run');
    assertOneLineError(
      await runAbuse([...args, '--seed', '2']),
      /--out .* holds a run made with other settings \(prune\.seed 1 -> 2\); choose another --out/,
    );
  });

  it('tinyprune sweep: a second sweep on a busy --out refuses; a rerun with other epochs stops', async () => {
    const out = join(dir, 'sweep');
    const model = join(dir, 'shapes.tflite');
    writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
    const args = [
      'sweep',
      '--model',
      model,
      '--data',
      'synthetic:shapes?n=200',
      '--cuts',
      'block1',
      '--heads',
      'aux',
      '--epochs',
      '50',
      '--quiet',
      '--out',
      out,
    ];
    await assertBusyOutRefused(args, out, 'sweep');
    const other = args.map((a) => (a === '50' ? '7' : a));
    assertOneLineError(
      await runAbuse(other),
      /holds a run made with other settings \(prune\.schedule\.epochs 50 -> 7.*\)/,
    );
  });

  it('deploy: temporary files of a build killed with -9 are removed by the next deploy there', async (t) => {
    try {
      findToolchain();
    } catch {
      return t.skip(`${GCC} not on PATH`);
    }
    const model = join(dir, 'deploy-float.tflite');
    const int8 = join(dir, 'deploy-int8.tflite');
    writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
    const q = await runAbuse([
      'quantize',
      '--model',
      model,
      '--calib',
      'synthetic:shapes?n=8',
      '--out',
      int8,
    ]);
    assert.equal(q.status, 0, q.stderr);
    const out = join(dir, 'deploy');
    mkdirSync(out);
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((done) => gone.on('exit', done));
    // A half-linked ELF of the old naming and the current one, of a process that is gone, and
    // one of a live process (this one) that must be left alone.
    const stale = [`firmware.elf.tmp-${gone.pid}`, `.firmware.elf.${gone.pid}.0badf00d.tmp`];
    const live = `.firmware_emu.elf.${process.pid}.0badf00d.tmp`;
    for (const f of [...stale, live]) writeFileSync(join(out, f), 'half an ELF');
    const r = await runAbuse(['deploy', '--model', int8, '--target', 'rp2040', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    for (const f of stale) assert.ok(!existsSync(join(out, f)), `${f} removed`);
    assert.ok(existsSync(join(out, live)), 'a live process’s temporary file kept');
    assert.equal(
      parseElf(new Uint8Array(readFileSync(join(out, 'firmware.elf'))), 'elf').sections.length > 0,
      true,
    );
  });

  it('tinyprune sweep: a truncated row file is trained again on resume, to the same row', async () => {
    const out = join(dir, 'sweep-damaged');
    const model = join(dir, 'shapes-damaged.tflite');
    writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
    const args = [
      'sweep',
      '--model',
      model,
      '--data',
      'synthetic:shapes?n=200',
      '--cuts',
      'block1',
      '--heads',
      'aux',
      '--recipe',
      'paper',
      '--epochs',
      '1',
      '--out',
      out,
    ];
    const first = await runAbuse(args);
    assert.equal(first.status, 0, first.stderr);
    const rowsDir = join(out, 'rows');
    const [rowFile] = readdirSync(rowsDir);
    const whole = readFileSync(join(rowsDir, rowFile!), 'utf8');
    writeFileSync(join(rowsDir, rowFile!), whole.slice(0, whole.length >> 1));
    const again = await runAbuse(args);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /row file is damaged or foreign; training it again/);
    assert.doesNotMatch(again.stderr, /SyntaxError|^\s+at /m);
    const row = (f: string) => JSON.parse(f) as { test: unknown; val: unknown; params: number };
    const before = row(whole);
    const after = row(readFileSync(join(rowsDir, rowFile!), 'utf8'));
    assert.deepEqual(
      [after.test, after.val, after.params],
      [before.test, before.val, before.params],
    );
  });
});
