// The optional native kernels (native/kernels, plain C++ built by the bootstrap with node-gyp)
// for feature extraction's hot loops: the MFCC of frontend.ts, the int8 feature codes of
// prune/features/codec.ts and the image augmentation's affine warp (augment-image.ts). Each is the same arithmetic in the same order as its JavaScript
// version, several times faster; tests compare the two value for value. Without the addon, or
// with TINYPRUNE_KERNELS=js, the JavaScript versions run.
import { createRequire } from 'node:module';

/** What frontend.ts hands the native MFCC: the plan's sizes and constant tables. */
export interface NativeMfccPlan {
  size: number;
  frameStep: number;
  frames: number;
  coefficients: number;
  maxBin: number;
  window: Float64Array;
  bitrev: Uint32Array;
  cosHalf: Float64Array;
  sinHalf: Float64Array;
  cosFull: Float64Array;
  sinFull: Float64Array;
  melFirst: Int32Array;
  melStart: Int32Array;
  melWeights: Float64Array;
  dct: Float64Array;
}

export interface NativeMfcc {
  run(samples: Float32Array, out: Float32Array): void;
}

export interface NativeKernels {
  Mfcc: new (plan: NativeMfccPlan) => NativeMfcc;
  /**
   * codec.ts's int8 block encoding of x (channels last) into out: per-channel lo and step
   * (float32) then the codes (see encodeBlock).
   */
  encodeInt8(x: Float32Array, channels: number, out: Uint8Array): void;
  /** Gives the C heap's free memory back to the system (glibc's malloc_trim; see kernels.cc). */
  trimHeap(): boolean;
  /** augment-image.ts's applyAffine with m = [a, b, d, e, sr, sc] (see there) into out. */
  affine(
    img: Float32Array,
    h: number,
    w: number,
    c: number,
    m: Float64Array,
    flip: boolean,
    out: Float32Array,
  ): void;
}

/** Where node-gyp puts the addon, from src/data or dist/data alike. */
const ADDON_PATH = new URL(
  '../../native/kernels/build/Release/tinyprune_kernels.node',
  import.meta.url,
);

let loaded: { addon?: NativeKernels; error?: string } | undefined;

/** The addon, or why it is not used (never throws). */
export function loadNativeKernels(): { addon?: NativeKernels; error?: string } {
  if (loaded) return loaded;
  if (process.env.TINYPRUNE_KERNELS === 'js') return (loaded = { error: 'TINYPRUNE_KERNELS=js' });
  try {
    loaded = { addon: createRequire(import.meta.url)(ADDON_PATH.pathname) as NativeKernels };
  } catch (e) {
    const msg = (e as Error).message;
    loaded = { error: msg.includes('Cannot find module') ? 'the addon is not built' : msg };
  }
  return loaded;
}

/**
 * Gives the C heap's free memory back to the system between phases (after extraction, after
 * training): a no-op without the addon.
 */
export function trimNativeHeap(): void {
  loadNativeKernels().addon?.trimHeap();
}
