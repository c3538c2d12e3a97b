import { getTensor, numElements } from '../graph/graph.js';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { batches, checkInputShape, type Dataset } from '../data/dataset.js';
import { quantizeInt8 } from '../data/quantize.js';
import { OnnxRunner } from '../engine/onnxRun.js';
import { prepareInt8 } from '../quant/interpreter.js';

export interface PredictOptions {
  batchSize?: number;
  /** Called after each batch with the number of examples done. */
  onProgress?: (done: number) => void;
}

/** True when the graph takes int8 input (a full-integer model, run by our int8 interpreter). */
export function isInt8Graph(g: Graph): boolean {
  return getTensor(g, g.inputs[0]!).dtype === 'int8';
}

/**
 * Output scores (n × classes, float: probabilities, or dequantised int8 outputs) of a model on
 * a dataset. Float graphs run through onnxruntime (both cores), int8 graphs through our int8
 * interpreter with the input quantised by the model's own input scale and zero point.
 */
export async function predictScores(
  g: Graph,
  ds: Dataset,
  opts: PredictOptions = {},
): Promise<Float32Array> {
  const input = getTensor(g, g.inputs[0]!);
  checkInputShape(ds, input.shape.slice(1));
  const output = getTensor(g, g.outputs[0]!);
  const classes = numElements(output.shape.slice(1));
  if (classes !== ds.classes.length)
    throw new TinypruneError(
      `${g.name} predicts ${classes} classes but dataset ${ds.name} has ${ds.classes.length} (${ds.classes.join(', ')})`,
    );
  const scores = new Float32Array(ds.length * classes);
  const batchSize = opts.batchSize ?? 64;
  let done = 0;
  if (isInt8Graph(g)) {
    const q = input.quant;
    const oq = output.quant;
    if (!q || !oq) throw new TinypruneError(`${g.name}: int8 input or output has no quantisation`);
    const interp = prepareInt8(g);
    const per = numElements(input.shape.slice(1));
    const xq = new Int8Array(per);
    for await (const b of batches(ds, { batchSize })) {
      for (let k = 0; k < b.indices.length; k++) {
        quantizeInt8(b.x.subarray(k * per, (k + 1) * per), q.scale[0]!, q.zeroPoint[0]!, {}, xq);
        const out = interp.run([xq])[0]!;
        for (let c = 0; c < classes; c++)
          scores[(done + k) * classes + c] = (out[c]! - oq.zeroPoint[0]!) * oq.scale[0]!;
      }
      done += b.indices.length;
      opts.onProgress?.(done);
    }
    return scores;
  }
  const runner = await OnnxRunner.create(g, { batchSize });
  try {
    for await (const b of batches(ds, { batchSize })) {
      scores.set(await runner.predict(b.x, b.indices.length), done * classes);
      done += b.indices.length;
      opts.onProgress?.(done);
    }
  } finally {
    await runner.dispose();
  }
  return scores;
}

/** Arg-max class per row of an n × classes score matrix. */
export function argmaxRows(scores: Float32Array, classes: number): Int32Array {
  const n = scores.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if (scores[i * classes + c]! > scores[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}
