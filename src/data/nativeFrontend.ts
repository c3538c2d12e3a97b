// The optional native MFCC (native/frontend, built by the bootstrap with node-gyp): the same
// arithmetic as mfcc() in frontend.ts on the same tables, several times faster. Feature
// extraction at full dataset size spends most of its time here. Without the addon, or with
// TINYPRUNE_FRONTEND=js, the JS frontend runs (the values are the same).
import { createRequire } from 'node:module';

/** What frontend.ts hands the native side: the plan's sizes and constant tables. */
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

interface Addon {
  Mfcc: new (plan: NativeMfccPlan) => NativeMfcc;
}

/** Where node-gyp puts the addon, from src/data or dist/data alike. */
const ADDON_PATH = new URL(
  '../../native/frontend/build/Release/tinyprune_frontend.node',
  import.meta.url,
);

let loaded: { addon?: Addon; error?: string } | undefined;

/** The addon, or why it is not used (never throws). */
export function loadFrontendAddon(): { addon?: Addon; error?: string } {
  if (loaded) return loaded;
  if (process.env.TINYPRUNE_FRONTEND === 'js') return (loaded = { error: 'TINYPRUNE_FRONTEND=js' });
  try {
    loaded = { addon: createRequire(import.meta.url)(ADDON_PATH.pathname) as Addon };
  } catch (e) {
    const msg = (e as Error).message;
    loaded = { error: msg.includes('Cannot find module') ? 'the addon is not built' : msg };
  }
  return loaded;
}
