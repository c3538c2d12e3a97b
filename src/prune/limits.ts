// Limits checked once the data is known, before any training: every part of a split must hold
// examples (an empty test part ends in a Wilson interval over n = 0 after all the training).
// (Augmented views need no memory budget: they stream from the feature cache on disk.)

import { TinypruneError } from '../graph/types.js';

/**
 * Throws when a part of a split is empty. `sizes` are the parts' example counts, `names` what
 * each part is for (train, validation, test or fold k), `total` the examples of the dataset.
 */
export function checkSplitSizes(
  spec: string,
  sizes: readonly number[],
  names: readonly string[],
  total: number,
  folds?: number,
): void {
  const empty = sizes.findIndex((n) => n < 1);
  if (empty < 0) return;
  if (folds !== undefined)
    throw new TinypruneError(
      `--folds ${folds}: dataset ${spec} has ${total} examples, which leaves ${names[empty]} empty; use fewer folds`,
    );
  throw new TinypruneError(
    `dataset ${spec} has ${total} examples, too few to split: the ${names[empty]} part is empty (the 60/20/20 split needs at least about 5 examples per class)`,
  );
}
