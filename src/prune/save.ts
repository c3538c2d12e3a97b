import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { foldBatchNorm } from '../graph/passes/foldBatchNorm.js';
import { fuseActivations } from '../graph/passes/fuseActivations.js';
import type { Graph } from '../graph/types.js';
import { writeTflite } from '../io/tflite/writer.js';

/** The deployable float form of a trained graph: BatchNorm folded, activations fused. */
export function deployableGraph(g: Graph): Graph {
  return fuseActivations(foldBatchNorm(g));
}

/** Saves a trained float graph as .tflite (BatchNorm folded) under `dir`. */
export function saveTflite(dir: string, file: string, g: Graph): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, file);
  writeFileAtomic(path, writeTflite(deployableGraph(g), { description: g.name }));
  return path;
}
