// Per-op comparison of our int8 interpreter with the OFFICIAL TFLite runtime (see
// tfliteRuntime.ts): each op is cut out into a one-op graph, exported with writeTflite, and run
// in both on the activations our interpreter computed for the same model input, so each
// comparison isolates one kernel.
import { cloneGraph, isConstant, pruneUnusedTensors } from '../../src/graph/graph.js';
import type { Graph } from '../../src/graph/types.js';
import { writeTflite } from '../../src/io/tflite/writer.js';
import { prepareInt8 } from '../../src/quant/interpreter.js';
import { createTfliteRunner } from './tfliteRuntime.js';

export interface OpDiff {
  /** `kind name` of the op. */
  op: string;
  /** Output values that differ between the two runtimes, over all inputs. */
  differing: number;
  total: number;
  /** Largest absolute difference of one output value (in LSBs). */
  maxDiff: number;
}

/** Runs every op of int8 graph `g` alone, in both runtimes, over `inputs` (graph inputs). */
export async function perOpMaxDiff(g: Graph, inputs: Int8Array[]): Promise<OpDiff[]> {
  const acts = inputs.map((x) => new Map<string, Int8Array>([[g.inputs[0]!, x]]));
  const report: OpDiff[] = [];
  for (const op of g.ops) {
    const single = cloneGraph(g);
    single.ops = [op];
    single.inputs = op.inputs.filter((n) => n !== '' && !isConstant(g, n));
    single.outputs = [op.outputs[0]!];
    pruneUnusedTensors(single);
    const ours = prepareInt8(single);
    const official = await createTfliteRunner(writeTflite(single));
    let differing = 0;
    let total = 0;
    let maxDiff = 0;
    try {
      for (const m of acts) {
        const ins = single.inputs.map((n) => m.get(n)!);
        const a = ours.run(ins)[0]!;
        const b = official.run(ins)[0] as Int8Array;
        for (let i = 0; i < a.length; i++) {
          const d = Math.abs(a[i]! - b[i]!);
          if (d) differing++;
          if (d > maxDiff) maxDiff = d;
        }
        total += a.length;
        m.set(op.outputs[0]!, a);
      }
    } finally {
      official.close();
    }
    report.push({ op: `${op.kind} ${op.name}`, differing, total, maxDiff });
  }
  return report;
}
