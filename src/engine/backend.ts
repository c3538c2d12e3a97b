// tfjs backend setup: the wasm backend (SIMD, single-threaded in Node) plus our gradient kernels.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { registerWasmGradientKernels } from './kernels.js';

export type BackendName = 'wasm' | 'cpu';

let wasmPathsSet = false;

/** Makes `name` the active tfjs backend (default wasm) and waits for it to be ready. */
export async function useBackend(name: BackendName = 'wasm'): Promise<typeof tf> {
  if (name === 'wasm') {
    if (!wasmPathsSet) {
      // Node loads the .wasm binaries from the package folder by file path (no fetch needed).
      const pkg = createRequire(import.meta.url).resolve(
        '@tensorflow/tfjs-backend-wasm/package.json',
      );
      setWasmPaths(join(dirname(pkg), 'dist') + '/');
      wasmPathsSet = true;
    }
    registerWasmGradientKernels();
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`tfjs backend ${name} failed to initialise`);
  }
  await tf.ready();
  return tf;
}

export { tf };
