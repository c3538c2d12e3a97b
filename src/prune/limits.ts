// Limits checked once the data is known, before any training: every part of a split must hold
// examples (an empty test part ends in a Wilson interval over n = 0 after all the training), and
// the augmented views a session caches must fit a memory budget.

import { totalmem } from 'node:os';
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

/** Bytes the cached training views may take: env TINYPRUNE_MEMORY_BUDGET_BYTES, else half of RAM. */
export function memoryBudget(): number {
  const raw = process.env.TINYPRUNE_MEMORY_BUDGET_BYTES;
  if (raw === undefined || raw === '') return Math.floor(totalmem() / 2);
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1)
    throw new TinypruneError(
      `TINYPRUNE_MEMORY_BUDGET_BYTES expects a positive number of bytes, got "${raw}"`,
    );
  return Number(raw);
}

/**
 * Throws before caching when `views` augmented copies (plus the clean one) of `examples`
 * training examples, `bytesPerExample` each (inputs and features), exceed the budget.
 */
export function checkViewBudget(views: number, examples: number, bytesPerExample: number): void {
  const need = (views + 1) * examples * bytesPerExample;
  const budget = memoryBudget();
  if (need <= budget) return;
  const fit = Math.max(0, Math.floor(budget / (examples * bytesPerExample)) - 1);
  throw new TinypruneError(
    `--views ${views}: caching ${views + 1} views of ${examples} training examples at ${bytesPerExample} bytes each needs ${gb(need)}, over the memory budget of ${gb(budget)}; use --views ${fit} or less (or set TINYPRUNE_MEMORY_BUDGET_BYTES)`,
  );
}

function gb(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
