// Where fit reads its examples: a source of batches, so that training data can stream from disk
// (feature stores) instead of living in one array. Arrays are one kind of source.
import type { Rng } from './init.js';

export interface Batch {
  /** n × example values. */
  x: Float32Array;
  y: Int32Array;
  /** Teacher logits, n × classes (distillation). */
  t?: Float32Array;
  n: number;
}

export interface BatchSource {
  /** Examples in one pass. */
  readonly n: number;
  /** Whether batches carry teacher logits. */
  readonly teacher: boolean;
  /**
   * One pass over every example in batches of `batchSize` (the last may be smaller): in an
   * order shuffled by `rng`, or in stored order without it. A batch's arrays may be reused by
   * the next batch.
   */
  batches(batchSize: number, rng?: Rng): AsyncIterable<Batch>;
}

export interface ArrayData {
  x: Float32Array;
  y: ArrayLike<number>;
  n: number;
  teacherLogits?: Float32Array;
}

export function isBatchSource(d: ArrayData | BatchSource): d is BatchSource {
  return typeof (d as BatchSource).batches === 'function';
}

/** Arrays as a source: a full shuffle per pass (the order fit always used). */
export function arraySource(d: ArrayData, classes: number): BatchSource {
  const per = d.n > 0 ? d.x.length / d.n : 0;
  return {
    n: d.n,
    teacher: d.teacherLogits !== undefined,
    async *batches(batchSize, rng) {
      const all = Array.from({ length: d.n }, (_, i) => i);
      const order = Int32Array.from(rng ? rng.shuffle(all) : all);
      // A batch larger than the data is the whole data: no buffer beyond it.
      const cap = Math.max(1, Math.min(batchSize, d.n));
      const buf = {
        x: new Float32Array(cap * per),
        y: new Int32Array(cap),
        t: d.teacherLogits ? new Float32Array(cap * classes) : undefined,
      };
      for (let s = 0; s < d.n; s += batchSize) {
        const idx = order.subarray(s, Math.min(s + batchSize, d.n));
        const x = buf.x.subarray(0, idx.length * per);
        const y = buf.y.subarray(0, idx.length);
        const t = buf.t?.subarray(0, idx.length * classes);
        idx.forEach((j, k) => {
          x.set(d.x.subarray(j * per, (j + 1) * per), k * per);
          y[k] = d.y[j]!;
          if (t) t.set(d.teacherLogits!.subarray(j * classes, (j + 1) * classes), k * classes);
        });
        yield { x, y, t, n: idx.length };
      }
    },
  };
}
