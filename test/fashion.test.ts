import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DEBIAN_DIR,
  openFashionMnist,
  parseIdx,
} from '../src/data/fashion-mnist.js';
import { openDataset } from '../src/data/open.js';
import { preparePruneData } from '../src/prune/data.js';
import { defaultDemoData, hasFashionMnist } from '../src/demo/jobs.js';
import { TinypruneError } from '../src/graph/types.js';

/** An IDX file of unsigned bytes: magic 0x00000803-style header, big-endian dims, data. */
function idx(dims: number[], data: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(data)]);
}

/** A folder in the Debian layout with 4 training and 3 test images of 2x3 pixels. */
function tinyRelease(
  over: Partial<Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', Buffer>> = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-fmnist-'));
  const px = (n: number, base: number) => Array.from({ length: n * 6 }, (_, i) => (base + i) % 256);
  const files = {
    'train-images-idx3-ubyte.gz': over.trainImages ?? idx([4, 2, 3], px(4, 0)),
    'train-labels-idx1-ubyte.gz': over.trainLabels ?? idx([4], [9, 0, 3, 9]),
    't10k-images-idx3-ubyte.gz': over.testImages ?? idx([3, 2, 3], px(3, 200)),
    't10k-labels-idx1-ubyte.gz': over.testLabels ?? idx([3], [1, 2, 1]),
  };
  for (const [name, bytes] of Object.entries(files))
    writeFileSync(join(dir, name), gzipSync(bytes));
  return dir;
}

test('parseIdx reads dimensions and data, and names the file in every error', () => {
  const a = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), 'x.idx');
  assert.deepEqual(a.dims, [2, 3]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
  const bad: [Uint8Array, RegExp][] = [
    [Buffer.from([0, 0]), /x\.idx: expected an IDX header \(4 bytes\), found 2 bytes/],
    [
      Buffer.from([1, 0, 8, 1, 0, 0, 0, 0]),
      /x\.idx: expected an IDX file .*found magic bytes 01 00 08 01/,
    ],
    [
      Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 0]),
      /x\.idx: expected unsigned-byte data \(IDX type 0x08\), found type 0x0d/,
    ],
    [Buffer.from([0, 0, 8, 0]), /x\.idx: expected 1 to 4 IDX dimensions, found 0/],
    [
      Buffer.from([0, 0, 8, 3, 0, 0]),
      /x\.idx: expected a 16-byte header for 3 dimensions, found 6 bytes/,
    ],
    [idx([2, 3], [1, 2, 3, 4, 5]), /x\.idx: expected 6 data bytes for dimensions 2x3, found 5/],
    [
      idx([2, 3], [1, 2, 3, 4, 5, 6, 7]),
      /x\.idx: expected 6 data bytes for dimensions 2x3, found 7/,
    ],
  ];
  for (const [buf, re] of bad)
    assert.throws(
      () => parseIdx(buf, 'x.idx'),
      (e: Error) => e instanceof TinypruneError && re.test(e.message),
      String(re),
    );
});

test('fashion-mnist:DIR reads the gzip IDX layout: pixels / 255, labels, its own partitions, limits', async () => {
  const dir = tinyRelease();
  try {
    const ds = await openDataset(`fashion-mnist:${dir}`);
    assert.equal(ds.length, 7);
    assert.deepEqual(ds.inputShape, [2, 3, 1]);
    assert.deepEqual(ds.classes, [...FASHION_MNIST_CLASSES]);
    assert.deepEqual(Array.from(ds.labels), [9, 0, 3, 9, 1, 2, 1]);
    assert.deepEqual(ds.partitions, ['train', 'train', 'train', 'train', 'test', 'test', 'test']);
    // Train image 1 holds bytes 6..11; test image 0 holds 200..205.
    assert.deepEqual(
      Array.from(await ds.load(1)),
      [6, 7, 8, 9, 10, 11].map((v) => Math.fround(v / 255)),
    );
    assert.deepEqual(
      Array.from(await ds.load(4)),
      [200, 201, 202, 203, 204, 205].map((v) => Math.fround(v / 255)),
    );
    // Subsets keep the partition of each example.
    assert.deepEqual(ds.subset([5, 0]).partitions, ['test', 'train']);

    const train = await openDataset(`fashion-mnist:${dir}?split=train&limit=2`);
    assert.deepEqual(Array.from(train.labels), [9, 0]);
    assert.deepEqual(train.partitions, ['train', 'train']);
    const test = openFashionMnist(dir, { split: 'test', testLimit: 2 });
    assert.deepEqual(Array.from(test.labels), [1, 2]);
    // limit alone keeps about a sixth as many test images (at least one).
    assert.equal((await openDataset(`fashion-mnist:${dir}?limit=3`)).length, 3 + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fashion-mnist mistakes are one-line TinypruneErrors naming the file or option', async () => {
  const cases: [Parameters<typeof tinyRelease>[0], RegExp][] = [
    [
      { trainLabels: idx([3], [1, 2, 3]) },
      /train-labels-idx1-ubyte\.gz: expected 4 labels \(one per image of .*train-images-idx3-ubyte\.gz\), found 3/,
    ],
    [
      { testLabels: idx([3], [1, 12, 1]) },
      /t10k-labels-idx1-ubyte\.gz: expected labels 0\.\.9, found 12 at index 1/,
    ],
    [
      { trainImages: idx([4, 6], new Array(24).fill(0)) },
      /train-images-idx3-ubyte\.gz: expected 3 dimensions \(images x rows x columns\), found 2/,
    ],
    [
      { testImages: idx([3, 3, 2], new Array(18).fill(0)) },
      /expected the same image size in every part, found 2x3 \(train\) and 3x2 \(test\)/,
    ],
    [
      { trainImages: idx([4, 2, 3], new Array(23).fill(0)) },
      /train-images-idx3-ubyte\.gz: expected 24 data bytes for dimensions 4x2x3, found 23/,
    ],
  ];
  for (const [over, re] of cases) {
    const dir = tinyRelease(over);
    try {
      await assert.rejects(
        openDataset(`fashion-mnist:${dir}`),
        (e: Error) =>
          e instanceof TinypruneError && re.test(e.message) && !e.message.includes('\n'),
        String(re),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const dir = tinyRelease();
  try {
    writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), 'not gzip');
    await assert.rejects(
      openDataset(`fashion-mnist:${dir}`),
      /t10k-images-idx3-ubyte\.gz: not a valid gzip file/,
    );
    rmSync(join(dir, 't10k-images-idx3-ubyte.gz'));
    await assert.rejects(
      openDataset(`fashion-mnist:${dir}`),
      /expected t10k-images-idx3-ubyte\.gz \(or t10k-images-idx3-ubyte\) in the folder, found neither/,
    );
    // The train part alone does not need the test files.
    assert.equal((await openDataset(`fashion-mnist:${dir}?split=train`)).length, 4);
    await assert.rejects(
      openDataset(`fashion-mnist:${dir}?split=val`),
      /split expects all, train or test, found 'val'/,
    );
    await assert.rejects(
      openDataset(`fashion-mnist:${dir}?limit=0`),
      /limit expects a positive integer, found '0'/,
    );
    await assert.rejects(
      openDataset(`fashion-mnist:${dir}?colour=red`),
      /unknown option 'colour' \(known: split, limit, testLimit\)/,
    );
    await assert.rejects(
      openDataset('fashion-mnist:/nonexistent/fmnist'),
      /fashion-mnist:\/nonexistent\/fmnist: folder not found/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Without the package, the default job says so in one line and falls back to the shapes.
  const none = defaultDemoData('/nonexistent/fmnist');
  assert.equal(none.spec, 'synthetic:shapes');
  assert.match(
    none.notice!,
    /^Fashion-MNIST not found in \/nonexistent\/fmnist \(install it: sudo apt-get install dataset-fashion-mnist\); running the synthetic-shapes demo instead$/,
  );
});

test('prune data follows a release split: the test part tests, a seeded 1/12 of train validates', async () => {
  const dir = tinyRelease();
  try {
    // 24 training images of 2 classes so that 1/12 of each class is a whole image.
    const n = 24;
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    writeFileSync(
      join(dir, 'train-images-idx3-ubyte.gz'),
      gzipSync(
        idx(
          [n, 2, 3],
          Array.from({ length: n * 6 }, (_, i) => i % 256),
        ),
      ),
    );
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(idx([n], labels)));
    const a = await preparePruneData(`fashion-mnist:${dir}`, 5);
    const b = await preparePruneData(`fashion-mnist:${dir}`, 5);
    assert.equal(a.test.length, 3);
    assert.deepEqual(a.test.partitions, ['test', 'test', 'test']);
    assert.deepEqual([a.partitions.train.n, a.partitions.val.n, a.partitions.test.n], [22, 2, 3]);
    assert.deepEqual(Array.from(a.test.labels), [1, 2, 1]);
    assert.equal(a.val.length, 2);
    assert.equal(a.train.length, 22);
    assert.deepEqual([...a.val.labels].sort(), [0, 1], 'stratified: one of each class');
    const ids = (d: typeof a.train) => d.ids!;
    assert.equal(new Set([...ids(a.train), ...ids(a.val), ...ids(a.test)]).size, 27, 'disjoint');
    assert.deepEqual(ids(a.val), ids(b.val), 'same seed, same validation images');
    const others = await Promise.all(
      [6, 7, 8].map((k) => preparePruneData(`fashion-mnist:${dir}`, k)),
    );
    assert.ok(
      others.some((c) => ids(c.val).join() !== ids(a.val).join()),
      'other seeds, other validation images',
    );
    assert.match(
      a.split,
      /^train\/val 92\/8 of the training data \(stratified random, seed 5\); test from fashion-mnist:.* \(the release's train and t10k files\)$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const REAL = hasFashionMnist();
test(
  'the Debian Fashion-MNIST release: 60,000 + 10,000 balanced images with the known first labels',
  {
    skip: REAL
      ? false
      : `Fashion-MNIST not installed in ${FASHION_MNIST_DEBIAN_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    const ds = await openDataset(`fashion-mnist:${FASHION_MNIST_DEBIAN_DIR}`);
    assert.equal(ds.length, 70_000);
    assert.deepEqual(ds.inputShape, [28, 28, 1]);
    const train = [...ds.partitions!.keys()].filter((i) => ds.partitions![i] === 'train');
    assert.equal(train.length, 60_000);
    // Known from the release (checked with Python's gzip): first labels, and 6,000 / 1,000 per class.
    assert.deepEqual(Array.from(ds.labels.subarray(0, 10)), [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
    assert.deepEqual(
      Array.from(ds.labels.subarray(60_000, 60_010)),
      [9, 2, 1, 1, 6, 1, 4, 6, 5, 7],
    );
    const counts = (from: number, to: number) => {
      const c = new Array<number>(10).fill(0);
      for (let i = from; i < to; i++) c[ds.labels[i]!]!++;
      return c;
    };
    assert.deepEqual(counts(0, 60_000), new Array(10).fill(6000));
    assert.deepEqual(counts(60_000, 70_000), new Array(10).fill(1000));
    // Pixel sums of the first train and test image (bytes 16..799 of each images file).
    const sum = async (i: number) =>
      Math.round((await ds.load(i)).reduce((a, v) => a + v, 0) * 255);
    assert.equal(await sum(0), 76_247);
    assert.equal(await sum(60_000), 33_456);
    const d = await preparePruneData(`fashion-mnist:${FASHION_MNIST_DEBIAN_DIR}`, 1);
    assert.deepEqual([d.train.length, d.val.length, d.test.length], [55_000, 5_000, 10_000]);
  },
);
