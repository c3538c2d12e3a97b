import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { applyAffine, augmentImage, openDataset, Rng, TinypruneError } from '../src/index.js';
import { applyAffineJs, randomAffine, VWW_AUGMENT } from '../src/data/augment-image.js';
import { needsNativeKernels } from './helpers/native.js';
import { data, needsShared } from './helpers/shared.js';

/** A 24-bit bottom-up BMP of an RGB image (our own encoder, to test our decoder). */
function bmpBytes(rgb: Uint8Array, w: number, h: number): Buffer {
  const stride = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + stride * h);
  b.write('BM', 0);
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = 54 + (h - 1 - y) * stride + 3 * x;
      const o = (y * w + x) * 3;
      b[p] = rgb[o + 2]!;
      b[p + 1] = rgb[o + 1]!;
      b[p + 2] = rgb[o]!;
    }
  }
  return b;
}

test(
  'vww-folders: png and bmp decode to the same pixels/255; grayscale; broken image names the file',
  { skip: needsShared },
  async () => {
    const rgb = readFileSync(data('eembc_vww01', '000000000885.bin'));
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-vww-'));
    mkdirSync(join(dir, 'person'));
    mkdirSync(join(dir, 'non_person'));
    await sharp(rgb, { raw: { width: 96, height: 96, channels: 3 } })
      .png()
      .toFile(join(dir, 'person', 'a.png'));
    writeFileSync(join(dir, 'non_person', 'b.bmp'), bmpBytes(rgb, 96, 96));
    const ds = await openDataset(`vww-folders:${dir}`);
    assert.deepEqual([...ds.labels], [0, 1]); // non_person first (class 0)
    const [bmp, png] = await Promise.all([ds.load(0), ds.load(1)]);
    const expected = Float32Array.from(rgb, (v) => v / 255);
    assert.deepEqual(png, expected);
    assert.deepEqual(bmp, expected);
    const gray = await openDataset(`vww-folders:${dir}?inputShape=48x48x1`);
    const g = await gray.load(1);
    assert.equal(g.length, 48 * 48);
    assert.ok(g.every((v) => v >= 0 && v <= 1));
    writeFileSync(join(dir, 'person', 'c.jpg'), 'not an image');
    const broken = await openDataset(`vww-folders:${dir}`);
    await assert.rejects(broken.load(2), (e: Error) => {
      assert.ok(e instanceof TinypruneError);
      assert.match(e.message, /person\/c\.jpg: cannot decode image/);
      return true;
    });
    await assert.rejects(
      openDataset(`vww-folders:${join(dir, 'person')}`),
      /person\/non_person: folder not found \(vww-folders expects person\/ and non_person\//,
    );
  },
);

test('image augmentation: identity is exact, flip mirrors, 180° rotation reverses, seeded draws', () => {
  const shape = [5, 4, 2];
  const img = Float32Array.from({ length: 40 }, (_, i) => i);
  const id = { thetaDeg: 0, tx: 0, ty: 0, zx: 1, zy: 1, flip: false };
  assert.deepEqual(applyAffine(img, shape, id), img);
  const flipped = applyAffine(img, shape, { ...id, flip: true });
  assert.deepEqual([...flipped.subarray(0, 2)], [6, 7]); // pixel (0, 0) ← (0, 3)
  const rot = applyAffine(img, shape, { ...id, thetaDeg: 180 });
  for (let p = 0; p < 20; p++) assert.ok(Math.abs(rot[p * 2]! - img[(19 - p) * 2]!) < 1e-4);
  // Shift by one row: rows move, the edge row repeats (Keras 'nearest' fill).
  const shifted = applyAffine(img, shape, { ...id, tx: 1 });
  assert.deepEqual([...shifted.subarray(0, 8)], [...img.subarray(8, 16)]);
  assert.deepEqual([...shifted.subarray(32, 40)], [...img.subarray(32, 40)]);
  const a = augmentImage(img, shape, new Rng(1));
  assert.deepEqual(a, augmentImage(img, shape, new Rng(1)));
  assert.notDeepEqual(a, augmentImage(img, shape, new Rng(2)));
  assert.ok(a.every((v) => v >= 0 && v <= 39));
});

test(
  'image augmentation: the native affine warp equals the JavaScript one value for value',
  { skip: needsNativeKernels },
  () => {
    const rng = new Rng(31);
    for (const shape of [
      [96, 96, 3],
      [7, 5, 1],
      [12, 9, 4],
    ]) {
      const n = shape[0]! * shape[1]! * shape[2]!;
      const img = Float32Array.from({ length: n }, () => rng.uniform(0, 1));
      for (let t = 0; t < 30; t++) {
        const p = randomAffine(shape[0]!, shape[1]!, rng, {
          ...VWW_AUGMENT,
          rotationDeg: t < 20 ? 10 : 180, // also maps far outside the image (clamped)
          zoom: t < 20 ? 0.1 : 0.9,
        });
        assert.deepEqual(
          applyAffine(img, shape, p),
          applyAffineJs(img, shape, p),
          `${shape} draw ${t}`,
        );
      }
    }
  },
);
