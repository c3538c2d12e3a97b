// Fashion-MNIST (Zalando, MIT licence) as Debian's `dataset-fashion-mnist` installs it: four IDX
// files, gzip-compressed, in one folder. Spec: `fashion-mnist:DIR[?split=train|test&limit=N&testLimit=M]`.
// The release's own split travels with the examples (`partitions`): 60,000 training images and
// the 10,000 test images, so prune/sweep/run test on the official test set.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { TinypruneError } from '../graph/types.js';
import { type Dataset, type DatasetPartition, viewDataset } from './dataset.js';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DEBIAN_DIR = '/usr/share/datasets/fashion-mnist';

/** Class names in label order (Zalando's README). */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** File name stems of each part; `.gz` is tried first, then the uncompressed file. */
export const FASHION_MNIST_FILES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
} as const;

export interface FashionMnistOptions {
  /** Which part to open: both (default; the examples carry their partition), train or test. */
  split?: 'all' | 'train' | 'test';
  /** Keep only the first N training images (file order, which the release already shuffled). */
  limit?: number;
  /** Keep only the first M test images (default: all, or limit / 6 with `limit`). */
  testLimit?: number;
}

/** An IDX array: unsigned bytes with its dimensions (`file` names it in errors). */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/**
 * Parses an IDX file (LeCun's MNIST format): 2 zero bytes, type 0x08 (unsigned byte), the number
 * of dimensions, each dimension as a big-endian uint32, then the data. Every length is checked
 * against the buffer; `file` names the file in errors.
 */
export function parseIdx(buf: Uint8Array, file: string): IdxArray {
  if (buf.length < 4)
    throw new TinypruneError(
      `${file}: expected an IDX header (4 bytes), found ${buf.length} bytes`,
    );
  if (buf[0] !== 0 || buf[1] !== 0)
    throw new TinypruneError(
      `${file}: expected an IDX file (magic 0x0000 08 NN), found magic bytes ${Array.from(
        buf.subarray(0, 4),
        (b) => b.toString(16).padStart(2, '0'),
      ).join(' ')}`,
    );
  if (buf[2] !== 0x08)
    throw new TinypruneError(
      `${file}: expected unsigned-byte data (IDX type 0x08), found type 0x${buf[2]!.toString(16).padStart(2, '0')}`,
    );
  const rank = buf[3]!;
  if (rank < 1 || rank > 4)
    throw new TinypruneError(`${file}: expected 1 to 4 IDX dimensions, found ${rank}`);
  const header = 4 + 4 * rank;
  if (buf.length < header)
    throw new TinypruneError(
      `${file}: expected a ${header}-byte header for ${rank} dimensions, found ${buf.length} bytes`,
    );
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (buf.length - header !== size)
    throw new TinypruneError(
      `${file}: expected ${size} data bytes for dimensions ${dims.join('x')}, found ${buf.length - header}`,
    );
  return { dims, data: buf.subarray(header) };
}

/** Reads `DIR/stem.gz` (or `DIR/stem`) and parses it as IDX. */
function readIdx(dir: string, stem: string): { idx: IdxArray; file: string } {
  const gz = join(dir, `${stem}.gz`);
  const raw = join(dir, stem);
  const file = existsSync(gz) ? gz : existsSync(raw) ? raw : undefined;
  if (!file)
    throw new TinypruneError(
      `fashion-mnist:${dir}: expected ${stem}.gz (or ${stem}) in the folder, found neither` +
        (dir === FASHION_MNIST_DEBIAN_DIR
          ? ' (install it with: sudo apt-get install dataset-fashion-mnist)'
          : ''),
    );
  let bytes: Uint8Array = readFileSync(file);
  if (file.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new TinypruneError(`${file}: not a valid gzip file (${(e as Error).message})`);
    }
  }
  return { idx: parseIdx(bytes, file), file };
}

/** One part's images (n × 28 × 28) and labels, checked against each other. */
function readPart(
  dir: string,
  part: 'train' | 'test',
): { images: Uint8Array; labels: Uint8Array; rows: number; cols: number; n: number } {
  const im = readIdx(dir, FASHION_MNIST_FILES[part].images);
  const lb = readIdx(dir, FASHION_MNIST_FILES[part].labels);
  if (im.idx.dims.length !== 3)
    throw new TinypruneError(
      `${im.file}: expected 3 dimensions (images x rows x columns), found ${im.idx.dims.length}`,
    );
  if (lb.idx.dims.length !== 1)
    throw new TinypruneError(
      `${lb.file}: expected 1 dimension (labels), found ${lb.idx.dims.length}`,
    );
  const [n, rows, cols] = im.idx.dims as [number, number, number];
  if (lb.idx.dims[0] !== n)
    throw new TinypruneError(
      `${lb.file}: expected ${n} labels (one per image of ${im.file}), found ${lb.idx.dims[0]}`,
    );
  const classes = FASHION_MNIST_CLASSES.length;
  const bad = lb.idx.data.findIndex((l) => l >= classes);
  if (bad >= 0)
    throw new TinypruneError(
      `${lb.file}: expected labels 0..${classes - 1}, found ${lb.idx.data[bad]} at index ${bad}`,
    );
  return { images: im.idx.data, labels: lb.idx.data, rows, cols, n };
}

function parseOptions(query: string, spec: string): FashionMnistOptions {
  const out: FashionMnistOptions = {};
  for (const part of query.split('&').filter(Boolean)) {
    const [key, value] = part.split('=') as [string, string | undefined];
    if (value === undefined)
      throw new TinypruneError(`dataset spec ${spec}: expected key=value options, found '${part}'`);
    if (key === 'split') {
      if (value !== 'all' && value !== 'train' && value !== 'test')
        throw new TinypruneError(
          `dataset spec ${spec}: split expects all, train or test, found '${value}'`,
        );
      out.split = value;
    } else if (key === 'limit' || key === 'testLimit') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1)
        throw new TinypruneError(
          `dataset spec ${spec}: ${key} expects a positive integer, found '${value}'`,
        );
      out[key] = n;
    } else
      throw new TinypruneError(
        `dataset spec ${spec}: unknown option '${key}' (known: split, limit, testLimit)`,
      );
  }
  return out;
}

/** Opens `fashion-mnist:DIR?...` (the part after the kind and colon is `rest`). */
export function openFashionMnistSpec(path: string, query: string, spec: string): Dataset {
  return openFashionMnist(path, parseOptions(query, spec));
}

/**
 * Opens the Fashion-MNIST folder: 28x28x1 float inputs (pixel / 255), 10 classes, the training
 * images first and then the test images, each example's partition in `partitions`.
 */
export function openFashionMnist(dir: string, opts: FashionMnistOptions = {}): Dataset {
  if (!existsSync(dir))
    throw new TinypruneError(
      `fashion-mnist:${dir}: folder not found` +
        (dir === FASHION_MNIST_DEBIAN_DIR
          ? ' (install it with: sudo apt-get install dataset-fashion-mnist)'
          : ''),
    );
  const split = opts.split ?? 'all';
  const parts = (split === 'all' ? ['train', 'test'] : [split]) as ('train' | 'test')[];
  const loaded = parts.map((p) => ({ part: p, ...readPart(dir, p) }));
  const [first] = loaded as [(typeof loaded)[number]];
  for (const l of loaded)
    if (l.rows !== first.rows || l.cols !== first.cols)
      throw new TinypruneError(
        `fashion-mnist:${dir}: expected the same image size in every part, found ${first.rows}x${first.cols} (${first.part}) and ${l.rows}x${l.cols} (${l.part})`,
      );
  const keep = (p: 'train' | 'test', n: number) => {
    const limit =
      p === 'train'
        ? opts.limit
        : (opts.testLimit ?? (opts.limit ? Math.max(1, Math.round(opts.limit / 6)) : undefined));
    return Math.min(n, limit ?? n);
  };
  const per = first.rows * first.cols;
  const images: Uint8Array[] = [];
  const labels: number[] = [];
  const partitions: DatasetPartition[] = [];
  const ids: string[] = [];
  for (const l of loaded) {
    const n = keep(l.part, l.n);
    for (let i = 0; i < n; i++) {
      images.push(l.images.subarray(i * per, (i + 1) * per));
      labels.push(l.labels[i]!);
      partitions.push(l.part);
      ids.push(`${FASHION_MNIST_FILES[l.part].images}#${i}`);
    }
  }
  return viewDataset({
    name: `fashion-mnist:${dir}`,
    classes: [...FASHION_MNIST_CLASSES],
    inputShape: [first.rows, first.cols, 1],
    labels: Int32Array.from(labels),
    ids,
    partitions,
    async load(i) {
      const img = images[i]!;
      const x = new Float32Array(per);
      for (let k = 0; k < per; k++) x[k] = img[k]! / 255;
      return x;
    },
  });
}
