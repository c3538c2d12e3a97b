import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { foldBatchNorm } from '../graph/passes/foldBatchNorm.js';
import { fuseActivations } from '../graph/passes/fuseActivations.js';
import type { Graph } from '../graph/types.js';
import { writeTflite } from '../io/tflite/writer.js';

/** Writes bytes to `path` via a temporary name, so a crash never leaves a complete-looking file. */
export function writeAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** The deployable float form of a trained graph: BatchNorm folded, activations fused. */
export function deployableGraph(g: Graph): Graph {
  return fuseActivations(foldBatchNorm(g));
}

/** Saves a trained float graph as .tflite (BatchNorm folded) under `dir`. */
export function saveTflite(dir: string, file: string, g: Graph): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeAtomic(path, writeTflite(deployableGraph(g), { description: g.name }));
  return path;
}
