// Handing memory back between the phases of a long run (before and after feature extraction,
// after training). A phase leaves two kinds of memory that the process keeps while the next one
// runs at its own peak:
// - JS garbage in the old generation: fingerprinting a 100k-file data set allocates ~200 MB of
//   short-lived objects (stats, memo entries) that survive the young-generation collections, and
//   V8 may not run a full collection before the extraction's peak. Collecting first keeps that
//   peak from growing with the number of files.
// - C heap that glibc keeps in its per-thread arenas after the extraction's workers and the
//   onnxruntime sessions freed it (native/kernels: malloc_trim).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { trimNativeHeap } from '../data/nativeKernels.js';

let collect: (() => void) | null | undefined;

/**
 * A full garbage collection (V8's `gc`, exposed to a fresh context once); nothing where the
 * runtime does not expose it.
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : null');
    collect = typeof gc === 'function' ? (gc as () => void) : null;
  }
  collect?.();
}

/** Collects the JS garbage, then gives the C heap's free memory back to the system. */
export function releaseMemory(): void {
  collectGarbage();
  trimNativeHeap();
}
