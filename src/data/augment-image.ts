// MLPerf Tiny VWW training augmentation (Keras ImageDataGenerator with rotation_range=10,
// width/height_shift_range=0.05, zoom_range=0.1, horizontal_flip=True), on HWC float images.
// As Keras: one affine map about the image centre (rotation · shift · zoom, mapping output
// pixels to input coordinates), bilinear sampling, 'nearest' fill (clamped to the edge), and
// the flip applied after the transform.

import { loadNativeKernels } from './nativeKernels.js';
import type { Rng } from './random.js';

export interface ImageAugmentOptions {
  rotationDeg?: number;
  /** Largest shift as a fraction of the width / height. */
  widthShift?: number;
  heightShift?: number;
  /** Zoom factors are drawn per axis from [1 - zoom, 1 + zoom]. */
  zoom?: number;
  horizontalFlip?: boolean;
}

export const VWW_AUGMENT: Required<ImageAugmentOptions> = {
  rotationDeg: 10,
  widthShift: 0.05,
  heightShift: 0.05,
  zoom: 0.1,
  horizontalFlip: true,
};

export interface AffineParams {
  thetaDeg: number;
  /** Shift in rows (Keras tx) and columns (ty), in pixels. */
  tx: number;
  ty: number;
  zx: number;
  zy: number;
  flip: boolean;
}

/** Draws one transform as Keras' get_random_transform does. */
export function randomAffine(
  h: number,
  w: number,
  rng: Rng,
  o: ImageAugmentOptions = VWW_AUGMENT,
): AffineParams {
  const rot = o.rotationDeg ?? 0;
  const thetaDeg = rot ? rng.uniform(-rot, rot) : 0;
  const tx = o.heightShift ? rng.uniform(-o.heightShift, o.heightShift) * h : 0;
  const ty = o.widthShift ? rng.uniform(-o.widthShift, o.widthShift) * w : 0;
  const z = o.zoom ?? 0;
  const zx = z ? rng.uniform(1 - z, 1 + z) : 1;
  const zy = z ? rng.uniform(1 - z, 1 + z) : 1;
  const flip = o.horizontalFlip ? rng.next() < 0.5 : false;
  return { thetaDeg, tx, ty, zx, zy, flip };
}

/**
 * Applies an affine transform to an HWC image (new array): natively when the kernels are built
 * (nativeKernels.ts; the same values), else applyAffineJs.
 */
export function applyAffine(
  img: Float32Array,
  shape: readonly number[],
  p: AffineParams,
): Float32Array {
  const native = loadNativeKernels().addon;
  if (!native) return applyAffineJs(img, shape, p);
  const [h, w, c] = shape as [number, number, number];
  const out = new Float32Array(h * w * c);
  const { a, b, d, e, sr, sc } = affineMatrix(p);
  native.affine(img, h, w, c, Float64Array.of(a, b, d, e, sr, sc), p.flip, out);
  return out;
}

/** Input coordinates = [[a, b], [d, e]] · (output − centre) + centre + [sr, sc]. */
function affineMatrix(p: AffineParams) {
  const t = (p.thetaDeg * Math.PI) / 180;
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  // M = R · S · Z  (rows/cols as Keras' x/y), input = M · (out − centre) + centre + shift.
  return {
    a: cos * p.zx,
    b: -sin * p.zy,
    d: sin * p.zx,
    e: cos * p.zy,
    sr: cos * p.tx - sin * p.ty,
    sc: sin * p.tx + cos * p.ty,
  };
}

/** applyAffine in JavaScript. */
export function applyAffineJs(
  img: Float32Array,
  shape: readonly number[],
  p: AffineParams,
): Float32Array {
  const [h, w, c] = shape as [number, number, number];
  const out = new Float32Array(h * w * c);
  const { a, b, d, e, sr, sc } = affineMatrix(p);
  const cr = h / 2 - 0.5;
  const cc = w / 2 - 0.5;
  for (let r = 0; r < h; r++) {
    for (let col = 0; col < w; col++) {
      const y = r - cr;
      const x = col - cc;
      let ir = a * y + b * x + sr + cr;
      let ic = d * y + e * x + sc + cc;
      ir = Math.min(Math.max(ir, 0), h - 1);
      ic = Math.min(Math.max(ic, 0), w - 1);
      const r0 = Math.floor(ir);
      const c0 = Math.floor(ic);
      const r1 = Math.min(r0 + 1, h - 1);
      const c1 = Math.min(c0 + 1, w - 1);
      const fr = ir - r0;
      const fc = ic - c0;
      const outCol = p.flip ? w - 1 - col : col;
      const o = (r * w + outCol) * c;
      for (let k = 0; k < c; k++) {
        const v00 = img[(r0 * w + c0) * c + k]!;
        const v01 = img[(r0 * w + c1) * c + k]!;
        const v10 = img[(r1 * w + c0) * c + k]!;
        const v11 = img[(r1 * w + c1) * c + k]!;
        out[o + k] = (v00 * (1 - fc) + v01 * fc) * (1 - fr) + (v10 * (1 - fc) + v11 * fc) * fr;
      }
    }
  }
  return out;
}

/** One random VWW-style augmentation of an HWC image. */
export function augmentImage(
  img: Float32Array,
  shape: readonly number[],
  rng: Rng,
  opts: ImageAugmentOptions = VWW_AUGMENT,
): Float32Array {
  return applyAffine(img, shape, randomAffine(shape[0]!, shape[1]!, rng, opts));
}
