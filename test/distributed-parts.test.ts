// The pieces of the queue that need no server: payload schema, job ids, queue URLs and
// redaction, data fingerprints, and the data-root check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  mkdirSync,
  readFileSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROW_JOB_SCHEMA, SchemaError, validate } from '../src/distributed/schema.js';
import { canonicalJson, rowJobId, type RowJob } from '../src/distributed/job.js';
import { parseQueueUrl, redact } from '../src/distributed/url.js';
import { resolveUnderRoot } from '../src/distributed/worker.js';
import { dataFingerprint, mapSpecPaths, specPaths } from '../src/data/fingerprint.js';
import { PAPER_SCHEDULES } from '../src/prune/train.js';
import { resolveRecipe } from '../src/prune/recipe.js';
import { TinypruneError } from '../src/graph/types.js';

const JOB: RowJob = {
  version: '1',
  tool: 'tinyprune 0.1.0',
  model: { sha256: 'a'.repeat(64), bytes: 1000 },
  data: { spec: 'eembc-kws:data/kws/mfcc', fingerprint: 'b'.repeat(64) },
  fold: null,
  cut: 'block2',
  head: 'aux',
  settings: { seed: 1, schedule: PAPER_SCHEDULES.kws, views: 0, mixup: 0, workers: 1 },
  saveModel: false,
};

test('schema: a row job passes; unknown fields, wrong types and odd names are refused by path', () => {
  validate(ROW_JOB_SCHEMA, JSON.parse(JSON.stringify(JOB)));
  const bad: [unknown, RegExp][] = [
    [{ ...JOB, extra: 1 }, /^payload: unknown field "extra"/],
    [{ ...JOB, settings: { ...JOB.settings, shell: 'x' } }, /payload\.settings: unknown field/],
    [{ ...JOB, cut: 'block2; rm -rf /' }, /payload\.cut: expected a string matching/],
    [{ ...JOB, model: { ...JOB.model, sha256: 'xyz' } }, /payload\.model\.sha256/],
    [{ ...JOB, fold: { index: 0, count: 2 } }, /payload\.fold\.count: expected an integer >= 3/],
    [{ ...JOB, settings: { ...JOB.settings, seed: 1.5 } }, /payload\.settings\.seed/],
    [
      {
        ...JOB,
        settings: { ...JOB.settings, schedule: { ...JOB.settings.schedule, epochs: '3' } },
      },
      /payload\.settings\.schedule\.epochs: expected an integer .*found the string "3"/,
    ],
    [{ ...JOB, data: undefined }, /payload: missing field "data"/],
    [[JOB], /payload: expected an object, found an array/],
  ];
  for (const [v, re] of bad)
    assert.throws(
      () => validate(ROW_JOB_SCHEMA, v),
      (e: Error) => e instanceof SchemaError && re.test(e.message),
      String(re),
    );
});

test('schema: the default recipe travels (a schedule sized in steps, the cache precision)', () => {
  const best = resolveRecipe('best', 'kws');
  const settings = { ...JOB.settings, ...best, cachePrecision: 'int8' };
  assert.ok(settings.schedule.steps, 'the best recipe sizes its schedule in steps');
  validate(ROW_JOB_SCHEMA, JSON.parse(JSON.stringify({ ...JOB, settings })));
  assert.throws(
    () => validate(ROW_JOB_SCHEMA, { ...JOB, settings: { ...settings, cachePrecision: 'int4' } }),
    /payload\.settings\.cachePrecision: expected one of auto, int8, fp16, fp32/,
  );
});

test('job ids: a hash of what determines the row; the data path does not count', () => {
  const id = rowJobId(JOB);
  assert.match(id, /^[0-9a-f]{64}$/);
  // Key order and absent fields do not matter.
  const reordered = JSON.parse(canonicalJson(JOB)) as RowJob;
  assert.equal(rowJobId(reordered), id);
  assert.equal(rowJobId({ ...JOB, data: { ...JOB.data, spec: 'eembc-kws:/elsewhere/mfcc' } }), id);
  const changes: Partial<RowJob>[] = [
    { cut: 'block3' },
    { head: 'dense' },
    { settings: { ...JOB.settings, seed: 2 } },
    { settings: { ...JOB.settings, finetune: true } },
    { settings: { ...JOB.settings, schedule: { ...JOB.settings.schedule, epochs: 31 } } },
    { fold: { index: 1, count: 5 } },
    { model: { ...JOB.model, sha256: 'c'.repeat(64) } },
    { data: { ...JOB.data, fingerprint: 'd'.repeat(64) } },
    { saveModel: true },
    { tool: 'tinyprune 0.2.0' },
  ];
  const ids = changes.map((c) => rowJobId({ ...JOB, ...c }));
  assert.equal(new Set([id, ...ids]).size, changes.length + 1);
});

test('queue URLs: host, port, db, TLS, sockets; passwords only ever redacted', () => {
  assert.deepEqual(parseQueueUrl('redis://:pw@example.org:6380/2'), {
    connection: { password: 'pw', host: 'example.org', port: 6380, db: 2 },
    display: 'redis://:***@example.org:6380/2',
  });
  assert.deepEqual(parseQueueUrl('rediss://user:p%40ss@10.0.0.1').connection, {
    username: 'user',
    password: 'p@ss',
    host: '10.0.0.1',
    port: 6379,
    tls: {},
  });
  assert.deepEqual(parseQueueUrl('redis+unix:///tmp/r.sock?db=3').connection, {
    path: '/tmp/r.sock',
    db: 3,
  });
  for (const bad of ['http://x', 'not a url', 'redis://h:1/abc'])
    assert.throws(
      () => parseQueueUrl(bad),
      (e: Error) => e instanceof TinypruneError && /--queue/.test(e.message),
    );
  assert.throws(
    () => parseQueueUrl('redis://:topsecret@h:1/x'),
    (e: Error) => !e.message.includes('topsecret'),
  );
  assert.equal(
    redact('lost redis://:a:b@h:1 and rediss://u:x@h2'),
    'lost redis://:***@h:1 and rediss://u:***@h2',
  );
});

test('data root: relative and absolute paths inside it pass; .., absolute and symlinks out are refused', () => {
  const root = mkdtempSync(join(tmpdir(), 'tinyprune-root-'));
  const outside = mkdtempSync(join(tmpdir(), 'tinyprune-outside-'));
  try {
    mkdirSync(join(root, 'data', 'kws'), { recursive: true });
    symlinkSync(outside, join(root, 'escape'));
    assert.equal(resolveUnderRoot(root, 'data/kws'), join(realpathSync(root), 'data', 'kws'));
    assert.equal(resolveUnderRoot(root, join(root, 'data')), join(realpathSync(root), 'data'));
    for (const p of ['../x', '/etc', 'data/../../x', 'escape', 'escape/sub'])
      assert.throws(
        () => resolveUnderRoot(root, p),
        (e: Error) => e instanceof TinypruneError && /outside --data-root/.test(e.message),
        p,
      );
    // Every path a spec reads is checked, options included.
    const spec = 'speech-commands:data/kws?noiseDir=../noise&features=mfcc';
    assert.deepEqual(
      specPaths(spec).map((p) => p.path),
      ['data/kws', '../noise'],
    );
    assert.equal(
      mapSpecPaths(spec, (p) => `/r/${p}`),
      'speech-commands:/r/data/kws?noiseDir=/r/../noise&features=mfcc',
    );
    assert.deepEqual(specPaths('synthetic:shapes?n=10'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  }
});

test('data fingerprints: same copy anywhere is equal; any changed file changes it; memoised by size and mtime', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'tinyprune-fp-'));
  process.env.TINYPRUNE_CACHE_DIR = join(tmp, 'cache');
  try {
    const a = join(tmp, 'a');
    mkdirSync(join(a, 'sub'), { recursive: true });
    writeFileSync(join(a, 'y_labels.csv'), 'x.bin, 2, 1\n');
    writeFileSync(join(a, 'x.bin'), Buffer.from([1, 2, 3, 4]));
    writeFileSync(join(a, 'sub', 'z.bin'), Buffer.from([5]));
    const fa = await dataFingerprint(`eembc-kws:${a}`);
    assert.match(fa, /^[0-9a-f]{64}$/);
    const b = join(tmp, 'b');
    cpSync(a, b, { recursive: true });
    assert.equal(await dataFingerprint(`eembc-kws:${b}`), fa, 'a copy elsewhere');
    assert.notEqual(await dataFingerprint(`eembc-vww:${b}`), fa, 'the kind counts');
    assert.notEqual(await dataFingerprint(`eembc-kws:${b}?quantized=true`), fa, 'options count');
    // A changed byte (new mtime) changes it.
    writeFileSync(join(b, 'x.bin'), Buffer.from([1, 2, 3, 5]));
    const fb = await dataFingerprint(`eembc-kws:${b}`);
    assert.notEqual(fb, fa);
    // An extra file, a renamed file change it.
    writeFileSync(join(a, 'extra.bin'), '');
    assert.notEqual(await dataFingerprint(`eembc-kws:${a}`), fa);
    rmSync(join(a, 'extra.bin'));
    assert.equal(await dataFingerprint(`eembc-kws:${a}`), fa);
    // The memo trusts (path, size, mtime): same size and mtime restored → the remembered hash.
    utimesSync(join(b, 'x.bin'), 1e9, 1e9);
    const fm = await dataFingerprint(`eembc-kws:${b}`);
    assert.equal(fm, fb, 'the mtime is not part of the fingerprint');
    writeFileSync(join(b, 'x.bin'), Buffer.from([9, 9, 9, 9]));
    utimesSync(join(b, 'x.bin'), 1e9, 1e9);
    assert.equal(await dataFingerprint(`eembc-kws:${b}`), fb, 'memo hit');
    // The memo is bounded, the least recently used files going first.
    process.env.TINYPRUNE_HASH_MEMO_MAX = '4';
    writeFileSync(join(a, 'extra.bin'), 'new'); // a miss: the memo is saved
    const fe = await dataFingerprint(`eembc-kws:${a}`);
    const kept = Object.keys(
      JSON.parse(readFileSync(join(tmp, 'cache', 'file-hashes.json'), 'utf8')) as object,
    );
    assert.deepEqual(
      kept.sort(),
      ['extra.bin', 'sub/z.bin', 'x.bin', 'y_labels.csv'].map((f) => join(a, f)).sort(),
    );
    delete process.env.TINYPRUNE_HASH_MEMO_MAX;
    assert.equal(await dataFingerprint(`eembc-kws:${a}`), fe, 'the same after eviction');
    // Synthetic data has no files: its options are the fingerprint.
    assert.notEqual(
      await dataFingerprint('synthetic:shapes?n=10'),
      await dataFingerprint('synthetic:shapes?n=11'),
    );
  } finally {
    delete process.env.TINYPRUNE_CACHE_DIR;
    rmSync(tmp, { recursive: true, force: true });
  }
});
