// Visual Wake Words datasets: the EEMBC evaluation files and person/non_person image folders.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { TinypruneError } from '../graph/types.js';
import { augmentImage, type ImageAugmentOptions, VWW_AUGMENT } from './augment-image.js';
import { type Dataset, viewDataset } from './dataset.js';
import { readLabels } from './kws.js';
import { Rng } from './random.js';
import { flatString, readFileBounded } from '../io/files.js';

/** Class 0 = no person, 1 = person (the VWW model's output order). */
export const VWW_CLASSES = ['non_person', 'person'];

export interface VwwOptions {
  /** Augment every load with the MLPerf VWW transform (seeded). */
  augment?: ImageAugmentOptions & { seed: number };
  /** Cache decoded images (default false: 110 KB each). */
  cache?: boolean;
}

function augmenter(shape: number[], opts: VwwOptions) {
  if (!opts.augment) return (x: Float32Array) => x;
  const rng = new Rng(opts.augment.seed);
  const aug = { ...VWW_AUGMENT, ...opts.augment };
  return (x: Float32Array) => augmentImage(x, shape, rng, aug);
}

/** Bytes / 255 as floats (a plain loop: Float32Array.from with a map callback is ~10x slower). */
function toUnitFloats(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! / 255;
  return out;
}

/** `eembc-vww:DIR`: 96x96x3 uint8 RGB .bin files and y_labels.csv; inputs are pixels / 255. */
export async function openEembcVww(dir: string, opts: VwwOptions = {}): Promise<Dataset> {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new TinypruneError(`${dir}: EEMBC VWW folder not found`);
  const rows = await readLabels(dir, new Set(readdirSync(dir)));
  const shape = [96, 96, 3];
  const aug = augmenter(shape, opts);
  return viewDataset(
    {
      name: `eembc-vww:${dir}`,
      classes: VWW_CLASSES,
      inputShape: shape,
      labels: Int32Array.from(rows, (r) => r.label),
      ids: rows.map((r) => join(dir, r.file)),
      async load(i) {
        const file = join(dir, rows[i]!.file);
        const bytes = readFileBounded(file, 'data');
        if (bytes.length !== 96 * 96 * 3) {
          throw new TinypruneError(
            `${file}: expected ${96 * 96 * 3} bytes (96x96x3 uint8), found ${bytes.length}`,
          );
        }
        return aug(toUnitFloats(bytes));
      },
    },
    undefined,
    opts.cache && !opts.augment ? new Map() : undefined,
  );
}

export interface VwwFoldersOptions extends VwwOptions {
  /** Model input [height, width, channels] (default [96, 96, 3]; 1 channel = grayscale). */
  inputShape?: number[];
  /**
   * With a `train/ val/ test/` layout: which partition (default train). `validation` is read
   * as `val`.
   */
  split?: string;
}

/** Folder names accepted for each partition of a `train/ val/ test/` image layout. */
const SPLIT_FOLDERS: Record<'train' | 'val' | 'test', string[]> = {
  train: ['train'],
  val: ['val', 'validation'],
  test: ['test'],
};

/**
 * The folder of partition `part` in a `train/ val/ test/` layout under DIR (each holding
 * person/ and non_person/), or undefined when DIR has none.
 */
export function splitFolderOf(dir: string, part: 'train' | 'val' | 'test'): string | undefined {
  for (const name of SPLIT_FOLDERS[part]) {
    const sub = join(dir, name);
    if (existsSync(sub) && statSync(sub).isDirectory()) return sub;
  }
  return undefined;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.bmp']);

/**
 * Uncompressed Windows BMP (sharp cannot read BMP): 24- or 32-bit BI_RGB, bottom-up or
 * top-down. Returns RGB bytes.
 */
export function decodeBmp(
  bytes: Uint8Array,
  source: string,
): { data: Uint8Array; width: number; height: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 54 || bytes[0] !== 0x42 || bytes[1] !== 0x4d)
    throw new TinypruneError(`${source}: not a BMP file`);
  const offset = dv.getUint32(10, true);
  const width = dv.getInt32(18, true);
  const rawHeight = dv.getInt32(22, true);
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  if ((bpp !== 24 && bpp !== 32) || (compression !== 0 && compression !== 3)) {
    throw new TinypruneError(
      `${source}: expected an uncompressed 24/32-bit BMP, found ${bpp}-bit compression ${compression}`,
    );
  }
  const height = Math.abs(rawHeight);
  const stride = Math.ceil((width * bpp) / 32) * 4;
  if (width <= 0 || height === 0 || offset + stride * height > bytes.length)
    throw new TinypruneError(`${source}: truncated BMP`);
  const data = new Uint8Array(width * height * 3);
  const step = bpp / 8;
  for (let y = 0; y < height; y++) {
    const row = offset + (rawHeight > 0 ? height - 1 - y : y) * stride;
    for (let x = 0; x < width; x++) {
      const p = row + x * step;
      const o = (y * width + x) * 3;
      data[o] = bytes[p + 2]!;
      data[o + 1] = bytes[p + 1]!;
      data[o + 2] = bytes[p]!;
    }
  }
  return { data, width, height };
}

// Every image is decoded once per view: libvips's operation cache would only cost (hash lookups
// and kept buffers per image, about 4% of a decode of a 96×96 JPEG).
sharp.cache(false);

/**
 * Decodes an image file and resizes it to [h, w, c] (c = 3 RGB or 1 grayscale) as floats
 * pixel / 255. The resize stretches to the target (no crop) with nearest-neighbour sampling,
 * like Keras' flow_from_directory defaults.
 */
export async function loadImage(file: string, shape: number[]): Promise<Float32Array> {
  const [h, w, c] = shape as [number, number, number];
  const bytes = readFileBounded(file, 'data', 'image'); // regular file under the limit (io/files.ts)
  try {
    let img: Sharp;
    if (extname(file).toLowerCase() === '.bmp') {
      const bmp = decodeBmp(bytes, file);
      img = sharp(bmp.data, { raw: { width: bmp.width, height: bmp.height, channels: 3 } });
    } else {
      img = sharp(bytes);
    }
    img = img.removeAlpha().resize(w, h, { fit: 'fill', kernel: 'nearest' });
    img = c === 1 ? img.grayscale() : img.toColourspace('srgb');
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== c || info.width !== w || info.height !== h) {
      throw new Error(`decoded ${info.width}x${info.height}x${info.channels}`);
    }
    return toUnitFloats(data);
  } catch (e) {
    if (e instanceof TinypruneError) throw e;
    throw new TinypruneError(
      `${file}: cannot decode image (${(e as Error).message.split('\n')[0]})`,
    );
  }
}

/** `vww-folders:DIR`: DIR/person and DIR/non_person with jpg/png/bmp images. */
export async function openVwwFolders(dir: string, opts: VwwFoldersOptions = {}): Promise<Dataset> {
  const shape = opts.inputShape ?? [96, 96, 3];
  if (
    shape.length !== 3 ||
    !shape.every((d) => Number.isInteger(d) && d > 0) ||
    (shape[2] !== 1 && shape[2] !== 3)
  ) {
    throw new TinypruneError(
      `input shape: expected [height, width, 1 or 3], found [${shape.join(', ')}]`,
    );
  }
  if (splitFolderOf(dir, 'train') !== undefined) {
    const split = opts.split ?? 'train';
    const part = split === 'validation' ? 'val' : split;
    if (part !== 'train' && part !== 'val' && part !== 'test')
      throw new TinypruneError(
        `split option: expected train, val or test (the folders of ${dir}), found '${split}'`,
      );
    const sub = splitFolderOf(dir, part);
    if (sub === undefined)
      throw new TinypruneError(`${join(dir, part)}: folder not found (split=${split})`);
    dir = sub;
  } else if (opts.split !== undefined) {
    throw new TinypruneError(
      `${dir}: split=${opts.split} needs train/ val/ test/ folders inside, found person/ non_person/ only`,
    );
  }
  const files: string[] = [];
  const labels: number[] = [];
  VWW_CLASSES.forEach((cls, label) => {
    const sub = join(dir, cls);
    if (!existsSync(sub) || !statSync(sub).isDirectory()) {
      throw new TinypruneError(
        `${sub}: folder not found (vww-folders expects person/ and non_person/ inside ${dir})`,
      );
    }
    for (const f of readdirSync(sub).sort()) {
      if (IMAGE_EXTENSIONS.has(extname(f).toLowerCase())) {
        files.push(flatString(join(sub, f)));
        labels.push(label);
      }
    }
  });
  if (files.length === 0)
    throw new TinypruneError(
      `${dir}: expected jpg/png/bmp images in person/ and non_person/, found none`,
    );
  const aug = augmenter(shape, opts);
  return viewDataset(
    {
      name: `vww-folders:${dir}`,
      classes: VWW_CLASSES,
      inputShape: shape,
      labels: Int32Array.from(labels),
      ids: files,
      async load(i) {
        return aug(await loadImage(files[i]!, shape));
      },
    },
    undefined,
    opts.cache && !opts.augment ? new Map() : undefined,
  );
}
