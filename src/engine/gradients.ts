// Loss and per-shard gradients on the wasm (tfjs) backend; shared by fit's wasm path and the
// data-parallel workers (a module of its own so that neither imports the trainer).
import { tf } from './backend.js';
import type { TfModel } from './model.js';

export interface Distillation {
  /** Weight of the label cross-entropy; (1 − alpha) weighs the T²-scaled KL term. */
  alpha: number;
  temperature: number;
}

/** One shard's contribution to a step. */
export interface ShardResult {
  grads: Float32Array[];
  lossSum: number;
  correct: number;
  n: number;
}

/** Loss on a batch: α·CE(labels) + (1−α)·T²·KL(teacher_T ‖ student_T), mean over examples. */
export function batchLoss(
  logits: tf.Tensor,
  labels: tf.Tensor,
  classes: number,
  teacher?: tf.Tensor,
  distill?: Distillation,
): tf.Scalar {
  return tf.tidy(() => {
    const l2 = logits.reshape([-1, classes]);
    const onehot = tf.oneHot(labels, classes).toFloat();
    const ce = tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(l2)), -1)));
    if (!teacher || !distill) return ce as tf.Scalar;
    const t = distill.temperature;
    const pt = tf.softmax(tf.div(teacher, t));
    const kl = tf.mean(
      tf.sum(
        tf.mul(pt, tf.sub(tf.logSoftmax(tf.div(teacher, t)), tf.logSoftmax(tf.div(l2, t)))),
        -1,
      ),
    );
    return tf.add(tf.mul(ce, distill.alpha), tf.mul(kl, (1 - distill.alpha) * t * t)) as tf.Scalar;
  });
}

/** Gradients of the mean loss over one shard (in this thread), in tfjs layouts. */
export function shardGradients(
  model: TfModel,
  x: Float32Array,
  y: Int32Array,
  n: number,
  teacher?: Float32Array,
  distill?: Distillation,
): ShardResult {
  const classes = model.outputSize;
  let correct = 0;
  const { value, grads } = tf.tidy(() => {
    const xt = tf.tensor(x, [n, ...model.inputShape]);
    const yt = tf.tensor1d(y, 'int32');
    const tt = teacher ? tf.tensor2d(teacher, [n, classes]) : undefined;
    return tf.variableGrads(() => {
      const { logits } = model.forward(xt, true);
      const pred = tf.argMax(logits.reshape([-1, classes]), -1);
      correct = tf.sum(tf.equal(pred, yt).toInt()).dataSync()[0]!;
      return batchLoss(logits, yt, classes, tt, distill);
    }, model.trainableVariables);
  });
  const out = model.trainableVariables.map((v) => {
    const gr = grads[v.name];
    // dataSync already returns a copy owned by the caller.
    return gr ? (gr.dataSync() as Float32Array) : new Float32Array(v.size);
  });
  const lossSum = value.dataSync()[0]! * n;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { grads: out, lossSum, correct, n };
}
