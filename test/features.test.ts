// Feature caches: compact encodings, checksummed shards that are rebuilt when damaged, and an
// extraction that resumes from its finished shards after kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AUTO_FP32_BYTES,
  decodeBlock,
  encodeBlock,
  encodeInt8Js,
  encodedBytes,
  resolvePrecision,
  roundCode,
  toHalf,
} from '../src/prune/features/codec.js';
import { readShard, ShardError } from '../src/prune/features/shard.js';
import { RESIDENT_BYTES, storeSource, trainingSources } from '../src/prune/features/source.js';
import { loadRange, openView } from '../src/prune/features/views.js';
import { OnnxRunner } from '../src/engine/onnxRun.js';
import { nativeKernels, needsNativeKernels } from './helpers/native.js';
import { run, setup, SHARD } from './helpers/features.js';
import sharp from 'sharp';
import { Rng } from '../src/data/random.js';
import { buildDemoModel } from '../src/demo/model.js';
import { getTensor } from '../src/graph/graph.js';
import { cutGraph, resolveCutPoint } from '../src/prune/cut.js';
import { preparePruneData } from '../src/prune/data.js';
import { extract } from '../src/prune/features/extract.js';
import { inThreadLoader, workerLoader } from '../src/prune/features/pool.js';
import { FeatureStore } from '../src/prune/features/store.js';
import { headGraph } from '../src/prune/train.js';

const HELPER = fileURLToPath(new URL('./helpers/features.ts', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'tinyprune-features-'));
const shardFiles = (dir: string) =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.bin'))
    .sort();

test('fp16: IEEE half bits for known values, round to nearest even', () => {
  assert.equal(toHalf(1), 0x3c00);
  assert.equal(toHalf(-2), 0xc000);
  assert.equal(toHalf(65504), 0x7bff);
  assert.equal(toHalf(1e6), 0x7c00); // overflow → +Inf
  assert.equal(toHalf(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(toHalf(1 + 2 ** -11), 0x3c00); // tie → even
  assert.equal(toHalf(1 + 3 * 2 ** -11), 0x3c02); // tie → even (up)
  const x = Float32Array.from([0, 0.1, 3.14159, -7.5, 1000.25, 1e-5]);
  const out = new Float32Array(x.length);
  decodeBlock(encodeBlock(x, 1, 'fp16'), x.length, 1, 'fp16', out);
  x.forEach((v, i) => assert.ok(Math.abs(out[i]! - v) <= Math.abs(v) * 2 ** -11 + 6e-8, `${v}`));
});

test('cache precision auto: float32 up to 1 GiB of training features, int8 beyond; explicit choices kept', () => {
  // The shared KWS clips at block 2 (1,888 clips x 5 views x 8,000 values) and a 100k release.
  assert.equal(resolvePrecision('auto', 1888 * 5 * 8000), 'fp32');
  assert.equal(resolvePrecision('auto', 100_000 * 5 * 8000), 'int8');
  assert.equal(resolvePrecision('auto', AUTO_FP32_BYTES / 4), 'fp32');
  assert.equal(resolvePrecision('auto', AUTO_FP32_BYTES / 4 + 1), 'int8');
  assert.equal(resolvePrecision('int8', 10), 'int8');
  assert.equal(resolvePrecision('fp16', 1e12), 'fp16');
});

test('int8 per channel: error within half a step of each channel; fp32 exact', () => {
  // Two channels of very different ranges: a per-tensor scale would flatten the small one.
  const n = 500;
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = Math.sin(i) * 100;
    x[2 * i + 1] = Math.max(0, Math.cos(i * 0.7)) * 0.01;
  }
  const out = new Float32Array(x.length);
  const bytes = encodeBlock(x, 2, 'int8');
  assert.equal(bytes.length, 2 * 8 + x.length);
  decodeBlock(bytes, x.length, 2, 'int8', out);
  for (let c = 0; c < 2; c++) {
    const v = Array.from({ length: n }, (_, i) => x[2 * i + c]!);
    const step = (Math.max(...v) - Math.min(...v)) / 255;
    for (let i = 0; i < n; i++)
      assert.ok(Math.abs(out[2 * i + c]! - x[2 * i + c]!) <= step / 2 + 1e-6 * step);
  }
  decodeBlock(encodeBlock(x, 2, 'fp32'), x.length, 2, 'fp32', out);
  assert.deepEqual(out, x);
});

test('int8 codes: the fast rounding equals Math.round clamped to 0..255 (ties, values one ulp off a tie, NaN, ±Inf)', () => {
  // What the encoder stored before: Math.round, clamped, written to a Uint8Array (NaN, -0 → 0).
  const slot = new Uint8Array(1);
  const slow = (t: number) => {
    const q = Math.round(t);
    slot[0] = q < 0 ? 0 : q > 255 ? 255 : q;
    return slot[0];
  };
  const edges = [
    0,
    0.5,
    1.5,
    2.5,
    254.5,
    255,
    255.5,
    -0.5,
    -0.6,
    300,
    1e12,
    NaN,
    Infinity,
    -Infinity,
  ];
  const below = (v: number) => v - (v === 0 ? 0 : Math.abs(v) * 2 ** -53);
  const cases = [...edges, ...edges.map(below), 0.49999999999999994, 255.49999999999997];
  let state = 1;
  for (let i = 0; i < 100000; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    cases.push((state / 2 ** 31) * 258 - 1);
  }
  for (const t of cases) assert.equal(roundCode(t), slow(t), `t = ${t}`);
});

test(
  "int8 codes: the native encoder writes the JavaScript encoder's bytes (ReLU zeros, constant channels, ties, NaN, ±Inf)",
  { skip: needsNativeKernels },
  () => {
    const rng = new Rng(21);
    for (const channels of [1, 3, 64, 130]) {
      const rows = 257;
      const x = Float32Array.from({ length: rows * channels }, (_, i) => {
        const c = i % channels;
        if (c === 1) return 2.5; // a constant channel
        const v = rng.uniform(-3, 5) * 10 ** (c % 4);
        return c % 3 === 0 ? Math.max(0, v) : v;
      });
      // Values that quantise to exact ties, and specials in a channel of their own.
      x[channels * 5] = 0.5;
      if (channels > 2) {
        const c = channels - 1;
        x[c] = NaN;
        x[channels + c] = Infinity;
        x[2 * channels + c] = -Infinity;
      }
      const bytes = encodedBytes(x.length, channels, 'int8');
      const got = new Uint8Array(bytes);
      nativeKernels!.encodeInt8(x, channels, got);
      assert.deepEqual(
        got,
        encodeInt8Js(x, channels, new Uint8Array(bytes)),
        `${channels} channels`,
      );
    }
    assert.throws(
      () => nativeKernels!.encodeInt8(new Float32Array(10), 3, new Uint8Array(34)),
      /channel count or output size/,
    );
  },
);

test('extracted features equal the tail run directly; a flipped byte is detected and only that shard rebuilt', async () => {
  const root = tmp();
  try {
    const first = await run(root);
    const { store } = first;
    assert.equal(first.built, Math.ceil(first.store.layout.n / SHARD));
    assert.equal(first.reused, 0);
    // Cross-check: the tail on the inputs loaded directly, against the decoded shards.
    const { data, tail } = await setup(root);
    const view = await openView(data, { split: 'train', view: 0 });
    const { x } = await loadRange(view, 0, view.length);
    const runner = await OnnxRunner.create(tail, { threads: 1 });
    const direct = await runner.predict(x, view.length);
    await runner.dispose();
    const dim = store.layout.dim;
    let maxErr = 0;
    for (let k = 0; k < store.shardCount; k++) {
      const s = await readShard(store.shardFile(k));
      assert.deepEqual(
        Array.from(s.y),
        Array.from(data.train.labels.subarray(k * SHARD, k * SHARD + s.y.length)),
      );
      for (let i = 0; i < s.x!.length; i++)
        maxErr = Math.max(maxErr, Math.abs(s.x![i]! - direct[k * SHARD * dim + i]!));
    }
    const range = direct.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    assert.ok(maxErr > 0 && maxErr <= range / 255, `int8 error ${maxErr} of range ${range}`);

    // Flip one byte in the middle of shard 3.
    const file = store.shardFile(3);
    const good = readFileSync(file);
    const bad = Buffer.from(good);
    bad[bad.length >> 1] ^= 0x10;
    writeFileSync(file, bad);
    await assert.rejects(readShard(file), (e: Error) => e instanceof ShardError);
    const others = shardFiles(store.dir)
      .filter((f) => !file.endsWith(f))
      .map((f) => [f, statSync(join(store.dir, f)).mtimeMs]);
    const damaged: string[] = [];
    const again = await run(root, {});
    assert.equal(again.built, 1);
    assert.equal(again.reused, store.shardCount - 1);
    assert.deepEqual(readFileSync(file), good, 'rebuilt shard equals the original');
    for (const [f, mtime] of others)
      assert.equal(statSync(join(store.dir, f as string)).mtimeMs, mtime, `${f} untouched`);
    // A truncated shard is caught the same way, and reported.
    writeFileSync(file, good.subarray(0, 100));
    const reported = await store.missing((f) => damaged.push(f));
    assert.deepEqual(reported, [3]);
    assert.deepEqual(damaged, [file]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('extraction killed with kill -9 half way resumes from its finished shards, same result as uninterrupted; worker threads give the same shards', async () => {
  const root = tmp();
  const clean = tmp();
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', HELPER, root, '400'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const total = Math.ceil(120 / SHARD); // 60% of 200 examples train
    const killedAt = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        const written = stdout.split('\n').filter((l) => l.startsWith('shard ')).length;
        if (written >= total / 2) {
          child.kill('SIGKILL');
          resolve(written);
        }
      });
      child.on('exit', (code) =>
        reject(new Error(`child ended (${code}) before the kill: ${stdout} ${stderr}`)),
      );
    });
    await new Promise((r) => child.once('exit', r));
    assert.equal(child.signalCode, 'SIGKILL');
    const { store } = await setup(root);
    assert.equal(store.shardCount, total);
    const before = new Map(
      shardFiles(store.dir).map((f) => [f, statSync(join(store.dir, f)).mtimeMs]),
    );
    // Shards are written whole or not at all: the kill can land after a write before its log line.
    assert.ok(before.size >= killedAt && before.size < total, `${before.size} shards after kill`);

    // A temporary file of the killed writer is cleaned up; one of a live process sharing the
    // cache is left alone.
    const stale = join(store.dir, `.shard-00099.bin.${child.pid}.0badf00d.tmp`);
    const live = join(store.dir, `.shard-00098.bin.${process.pid}.0badf00d.tmp`);
    writeFileSync(stale, 'x');
    writeFileSync(live, 'x');
    const resumed = await run(root);
    assert.ok(!existsSync(stale), 'stale temporary file removed');
    assert.ok(existsSync(live), "a live writer's temporary file kept");
    rmSync(live);
    assert.equal(resumed.reused, before.size);
    assert.equal(resumed.built, total - before.size);
    for (const [f, mtime] of before)
      assert.equal(statSync(join(store.dir, f)).mtimeMs, mtime, `${f} reused, not rewritten`);
    assert.deepEqual(
      readdirSync(store.dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temporary files left',
    );

    // An uninterrupted extraction (in two worker threads) writes the same bytes.
    const full = await run(clean, { workers: 2 });
    assert.equal(full.built, total);
    for (let k = 0; k < total; k++)
      assert.deepEqual(
        readFileSync(full.store.shardFile(k)),
        readFileSync(store.shardFile(k)),
        `shard ${k}`,
      );
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(clean, { recursive: true, force: true });
  }
});

test('a source whose decoded examples fit in memory serves the streaming batches every pass, reading each shard once', async () => {
  const root = tmp();
  try {
    const { store } = await run(root);
    const passes = async (source: ReturnType<typeof storeSource>, seeds: number[]) => {
      const out: number[][] = [];
      for (const seed of seeds)
        for await (const b of source.batches(24, new Rng(seed)))
          out.push([...b.y.subarray(0, b.n), ...b.x.subarray(0, b.n * 8)]);
      return out;
    };
    const resident = storeSource([store], { residentBytes: RESIDENT_BYTES });
    const streaming = storeSource([store]);
    const first = await passes(resident, [1]);
    assert.deepEqual(first, await passes(streaming, [1]));
    // Damage a shard on disk: the resident source no longer reads it, the streaming one does.
    const file = store.shardFile(2);
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, 100));
    const later = await passes(resident, [2, 3]);
    await assert.rejects(passes(streaming, [2]), (e: Error) => e instanceof ShardError);
    // A fit's sources are resident together or not at all: a budget that holds the validation
    // store but not training + validation streams both.
    const bytes = 4 * store.layout.n * (1 + store.layout.dim);
    const split = trainingSources([store], store, false, bytes + 1);
    const whole = trainingSources([store], store, false, 2 * bytes);
    writeFileSync(file, good);
    for (const s of [split.train, split.validation, whole.train, whole.validation])
      await passes(s, [1]);
    writeFileSync(file, good.subarray(0, 100));
    await assert.rejects(passes(split.train, [2]), (e: Error) => e instanceof ShardError);
    await assert.rejects(passes(split.validation, [2]), (e: Error) => e instanceof ShardError);
    assert.deepEqual(await passes(whole.train, [2, 3]), later);
    assert.deepEqual(await passes(whole.validation, [2, 3]), later);
    writeFileSync(file, good);
    assert.deepEqual(later, await passes(streaming, [2, 3]));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('extraction workers run the tail and teacher on data that loads asynchronously (JPEG folders), equal to this thread', async () => {
  // sharp decodes off the JS thread, so a worker's requests finish out of order: the model
  // bytes travel with a worker's first request only, and later ones must still find them.
  const dir = tmp();
  const roots = [tmp(), tmp()];
  try {
    const rng = new Rng(5);
    for (const cls of ['person', 'non_person']) {
      mkdirSync(join(dir, cls));
      for (let i = 0; i < 30; i++) {
        const px = Buffer.from(Array.from({ length: 96 * 96 * 3 }, () => rng.int(256)));
        await sharp(px, { raw: { width: 96, height: 96, channels: 3 } })
          .jpeg()
          .toFile(join(dir, cls, `img_${i}.jpg`));
      }
    }
    const data = await preparePruneData(`vww-folders:${dir}`, 1);
    const base = buildDemoModel(data.train.inputShape, data.train.classes, 1);
    const cut = resolveCutPoint(base, 'block2');
    const tailGraph = cutGraph(base, cut);
    const shape = getTensor(tailGraph, tailGraph.outputs[0]!).shape.slice(1);
    const tail = await OnnxRunner.create(tailGraph, { threads: 1 });
    const teacher = await OnnxRunner.create(headGraph(base, cut), { threads: 1 });
    const shards: Buffer[][] = [];
    for (const [i, workers] of [2, 0].entries()) {
      const store = FeatureStore.open(
        roots[i]!,
        { test: 'async-workers' },
        {
          n: data.train.length,
          dim: shape.reduce((a, b) => a * b, 1),
          channels: shape[shape.length - 1]!,
          shape,
          precision: 'int8',
          teacherClasses: data.train.classes.length,
          shardSize: 3,
        },
      );
      const loader = workers ? await workerLoader(data, workers) : inThreadLoader(data);
      try {
        await extract({ store, ref: { split: 'train', view: 0 }, loader, tail, teacher, chunk: 3 });
      } finally {
        await loader.close();
      }
      shards.push(shardFiles(store.dir).map((f) => readFileSync(join(store.dir, f))));
    }
    await tail.dispose();
    await teacher.dispose();
    assert.ok(shards[0]!.length >= 10);
    assert.deepEqual(shards[0], shards[1]);
  } finally {
    for (const d of [dir, ...roots]) rmSync(d, { recursive: true, force: true });
  }
});

test('worker results come in shared slots reused after release: bounded memory, same values as this thread', async () => {
  const data = await preparePruneData('synthetic:shapes', 3);
  const ref = { split: 'train' as const, view: 0 };
  const here = inThreadLoader(data);
  const loader = await workerLoader(data, 1);
  try {
    const a = await loader.load(ref, 0, 8);
    const b = await loader.load(ref, 8, 8);
    assert.ok(a.x.buffer instanceof SharedArrayBuffer);
    assert.notEqual(a.x.buffer, b.x.buffer, 'a load not released keeps its slot');
    const expected = await here.load(ref, 8, 8);
    assert.deepEqual(Array.from(b.x), Array.from(expected.x));
    assert.deepEqual(Array.from(b.y), Array.from(expected.y));
    a.release!();
    b.release!();
    const c = await loader.load(ref, 16, 4);
    assert.ok(c.x.buffer === a.x.buffer || c.x.buffer === b.x.buffer, 'a released slot is reused');
    assert.deepEqual(Array.from(c.x), Array.from((await here.load(ref, 16, 4)).x));
    c.release!();
    // Larger than every slot: one free slot is replaced, so the worker never holds more slots
    // than loads it had in flight.
    const d = await loader.load(ref, 0, 32);
    assert.ok(d.x.buffer !== a.x.buffer && d.x.buffer !== b.x.buffer);
    assert.deepEqual(Array.from(d.x), Array.from((await here.load(ref, 0, 32)).x));
    d.release!();
  } finally {
    await loader.close();
  }
});

test('store views are a fixed shuffle of the split: every example once, classes mixed from the first rows', async () => {
  const data = await preparePruneData('synthetic:shapes', 3);
  const plain = await openView(data, { split: 'train', view: 0 });
  const shuffled = await openView(data, { split: 'train', view: 0, shuffled: true });
  const n = plain.length;
  const { x: px, y: py } = await loadRange(plain, 0, n);
  const { x: sx, y: sy } = await loadRange(shuffled, 0, n);
  const per = px.length / n;
  // The same examples with their labels, in another order: match each row by its pixels.
  const rowKey = (x: Float32Array, i: number) => x.subarray(i * per, (i + 1) * per).join(',');
  const byPixels = new Map(Array.from({ length: n }, (_, i) => [rowKey(px, i), py[i]!]));
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const k = rowKey(sx, i);
    assert.equal(byPixels.get(k), sy[i], `row ${i}: label travels with its example`);
    seen.add(k);
  }
  assert.equal(seen.size, byPixels.size);
  assert.notDeepEqual(Array.from(sy), Array.from(py));
  // The first quarter (a few shards' worth) holds every class.
  assert.equal(
    new Set(Array.from(sy.subarray(0, Math.floor(n / 4)))).size,
    new Set(Array.from(py)).size,
  );
  // Fixed: the same order on every open (and so in every worker and on every machine).
  const again = await openView(data, { split: 'train', view: 0, shuffled: true });
  assert.deepEqual(Array.from((await loadRange(again, 0, n)).y), Array.from(sy));
});
