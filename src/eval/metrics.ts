import { wilson } from '../report/stats.js';
import type { AccuracyStat } from '../report/types.js';

export interface Evaluation extends AccuracyStat {
  classes: string[];
  perClass: Record<string, { correct: number; n: number; accuracy: number }>;
  /** confusion[true][predicted] */
  confusion: number[][];
}

/** Accuracy (with its 95% Wilson interval), per-class accuracy and confusion matrix. */
export function evaluatePredictions(
  labels: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: string[],
): Evaluation {
  const k = classes.length;
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    confusion[labels[i]!]![predicted[i]!]! += 1;
    if (labels[i] === predicted[i]) correct++;
  }
  const perClass: Evaluation['perClass'] = {};
  classes.forEach((name, c) => {
    const n = confusion[c]!.reduce((a, b) => a + b, 0);
    const ok = confusion[c]![c]!;
    perClass[name] = { correct: ok, n, accuracy: n ? ok / n : 0 };
  });
  return { ...wilson(correct, labels.length), classes, perClass, confusion };
}
