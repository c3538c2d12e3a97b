// Recipes: best (distilled, augmented views, schedule sized in optimiser steps) and paper (the
// paper's exact schedule), every knob settable by hand; and the default budget's MACs rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  budgetViolations,
  DEFAULT_BUDGET,
  MIN_EPOCHS,
  PAPER_SCHEDULES,
  parseBudget,
  resolveRecipe,
  selectCandidate,
  sizeSchedule,
  TinypruneError,
} from '../src/index.js';
import { parseCommandArgs } from '../src/cli/command.js';
import { pruneCommand, pruneOptionsFrom } from '../src/cli/commands/prune.js';

test('best sizes the schedule in steps: the validated settings on the shared sets', () => {
  const kws = resolveRecipe('best', 'kws');
  assert.equal(kws.views, 4);
  assert.deepEqual(kws.distill, { temperature: 4, alpha: 0.5 });
  // 1,888 training clips × (clean + 4 views) = 95 steps of 100 an epoch → 180 epochs, the
  // `--distill --views 4 --epoch-scale 6` run of docs/results (91.0%).
  const k = sizeSchedule(kws.schedule, 1888 * 5);
  assert.equal(k.epochs, 180);
  assert.deepEqual(k.lr.boundaries, [72, 144]);
  assert.deepEqual(k.lr.values, PAPER_SCHEDULES.kws.lr.values);
  assert.equal(k.steps, undefined, 'a sized schedule is concrete');
  // 428 images × 9 = 121 steps of 32 → 100 epochs: `--views 8 --epoch-scale 2` (79.9%).
  const vww = resolveRecipe('best', 'vww');
  assert.equal(vww.views, 8);
  const v = sizeSchedule(vww.schedule, 428 * 9);
  assert.equal(v.epochs, 100);
  assert.deepEqual(v.lr.boundaries, [40, 60]);
});

test('best does not over-train large sets: a few epochs, never fewer than MIN_EPOCHS', () => {
  const s = resolveRecipe('best', 'kws').schedule;
  // The full Speech Commands training partition (≈85k clips) with 4 views: 4,250 steps an epoch.
  const full = sizeSchedule(s, 85_000 * 5);
  assert.equal(full.epochs, 4);
  assert.ok(full.epochs * Math.ceil((85_000 * 5) / 100) < 20_000);
  assert.deepEqual(full.lr.boundaries, [2, 3]);
  assert.equal(sizeSchedule(s, 10_000_000).epochs, MIN_EPOCHS);
  // Steps per epoch change with the batch size; the step budget does not.
  const b = sizeSchedule(resolveRecipe('best', 'kws', { batchSize: 50 }).schedule, 1888 * 5);
  assert.equal(b.epochs, 90);
});

test('--epochs too few for whole-epoch phases: the learning-rate boundaries stay in proportion', () => {
  // Rounded, 1 epoch of [12, 24] of 30 would be [0, 1]: the first phase (the highest rate) gone.
  assert.deepEqual(resolveRecipe('best', 'kws', { epochs: 1 }).schedule.lr.boundaries, [0.4, 0.8]);
  assert.deepEqual(resolveRecipe('paper', 'kws', { epochs: 2 }).schedule.lr.boundaries, [0.8, 1.6]);
  // Whole epochs whenever every phase keeps one (the results in docs/results are unchanged).
  assert.deepEqual(resolveRecipe('paper', 'kws', { epochs: 5 }).schedule.lr.boundaries, [2, 4]);
});

test('paper is the paper: fixed epochs, labels only, no views', () => {
  const p = resolveRecipe('paper', 'kws');
  assert.deepEqual(p.schedule, PAPER_SCHEDULES.kws);
  assert.equal(p.views, 0);
  assert.equal(p.distill, undefined);
  assert.deepEqual(sizeSchedule(p.schedule, 123_456), PAPER_SCHEDULES.kws);
  const v = resolveRecipe('paper', 'vww');
  assert.deepEqual(v.schedule, PAPER_SCHEDULES.vww);
  // Other image tasks get the MLPerf image schedule.
  assert.deepEqual(resolveRecipe('paper', 'image').schedule, PAPER_SCHEDULES.vww);
});

test('every knob overrides the recipe', () => {
  const e = resolveRecipe('best', 'kws', { epochs: 10, views: 2, distill: false, lr: 1e-3 });
  assert.equal(e.schedule.epochs, 10);
  assert.equal(e.schedule.steps, undefined, '--epochs fixes the length');
  assert.deepEqual(e.schedule.lr.boundaries, [4, 8]);
  assert.deepEqual(e.schedule.lr.values, [1e-3, 2e-4, 4e-5]);
  assert.equal(e.views, 2);
  assert.equal(e.distill, undefined);
  const t = resolveRecipe('best', 'vww', { temperature: 2, alpha: 0.3, steps: 500 });
  assert.deepEqual(t.distill, { temperature: 2, alpha: 0.3 });
  assert.equal(sizeSchedule(t.schedule, 32 * 100).epochs, 5);
  // --epoch-scale stretches steps under best and epochs under paper.
  assert.equal(resolveRecipe('best', 'kws', { epochScale: 2 }).schedule.steps, 34_200);
  assert.equal(resolveRecipe('paper', 'kws', { epochScale: 6 }).schedule.epochs, 180);
  const pd = resolveRecipe('paper', 'kws', { distill: true, views: 4 });
  assert.deepEqual(pd.distill, { temperature: 4, alpha: 0.5 });
  assert.equal(pd.views, 4);
  assert.throws(() => resolveRecipe('paper', 'kws', { steps: 100 }), /--steps: the paper recipe/);
  assert.throws(
    () => resolveRecipe('fast' as 'best', 'kws'),
    (e: Error) =>
      e instanceof TinypruneError && /--recipe: expected one of best, paper/.test(e.message),
  );
});

test('the CLI resolves --recipe with its options in one place', () => {
  const opts = (...argv: string[]) =>
    pruneOptionsFrom(parseCommandArgs(pruneCommand, argv), 'prune', 'kws');
  const best = opts();
  assert.equal(best.recipe, 'best');
  assert.equal(best.views, 4);
  assert.ok(best.distill);
  assert.equal(best.schedule.steps, 17_100);
  const paper = opts('--recipe', 'paper');
  assert.equal(paper.views, 0);
  assert.equal(paper.distill, undefined);
  assert.equal(paper.schedule.epochs, 30);
  const hand = opts('--no-distill', '--views', '1', '--steps', '900', '--batch-size', '64');
  assert.equal(hand.distill, undefined);
  assert.equal(hand.views, 1);
  assert.equal(hand.schedule.steps, 900);
  assert.equal(hand.schedule.batchSize, 64);
  assert.throws(() => opts('--distill', '--no-distill'), /contradict/);
  assert.throws(() => opts('--recipe', 'quick'), /--recipe: expected one of best, paper/);
  assert.throws(() => opts('--steps', '0'), /--steps expects an integer >= 1/);
});

const REF = { valAccuracy: 0.86, params: 200_000, macs: 7_500_000 };
const cand = (cut: string, params: number, macs: number, valAccuracy: number) => ({
  cut,
  head: 'aux',
  params,
  macs,
  peakActivationBytes: 0,
  valAccuracy,
});

test('the default budget never picks a model that costs more MACs than the unpruned one', () => {
  // VWW block 1 + aux on small data: −90% parameters but +29% MACs, and the best validation.
  const block1 = cand('block1', 20_000, 9_700_000, 0.85);
  const block5 = cand('block5', 13_000, 3_600_000, 0.84);
  const budget = parseBudget(DEFAULT_BUDGET);
  assert.equal(selectCandidate([block1, block5], budget, REF)?.cut, 'block5');
  assert.deepEqual(budgetViolations(block1, budget, REF), [
    'MACs 9700000 > 7500000 of the unpruned model (macs=any allows it)',
  ]);
  // Asked for: macs=any, or an explicit MACs limit above the unpruned model's.
  assert.equal(
    selectCandidate([block1, block5], parseBudget(`${DEFAULT_BUDGET},macs=any`), REF)?.cut,
    'block1',
  );
  assert.equal(
    selectCandidate([block1, block5], parseBudget('params=50%,macs=10M'), REF)?.cut,
    'block1',
  );
  assert.equal(
    selectCandidate([block1, block5], parseBudget('params=50%,macs=150%'), REF)?.cut,
    'block1',
  );
  assert.deepEqual(parseBudget('macs=any'), { anyMacs: true });
});

/** The settings a recorded run of docs/results trained with. */
function recorded(folder: string) {
  const file = fileURLToPath(new URL(`../docs/results/${folder}/sweep.json`, import.meta.url));
  const s = JSON.parse(readFileSync(file, 'utf8')).settings;
  const picked = { schedule: s.schedule, views: s.views, distill: s.distill, finetune: s.finetune };
  return JSON.parse(JSON.stringify(picked));
}

test('the recipes train exactly as the recorded runs of docs/results', () => {
  const resolved = (task: 'kws' | 'vww', trainClips: number, ...argv: string[]) => {
    const o = pruneOptionsFrom(parseCommandArgs(pruneCommand, argv), 'prune', task);
    const schedule = sizeSchedule(o.schedule, trainClips * ((o.views ?? 0) + 1));
    return JSON.parse(
      JSON.stringify({ schedule, views: o.views, distill: o.distill, finetune: o.finetune }),
    );
  };
  // --recipe paper: the 10-fold run that reproduces the paper (block 2 + aux 69.31%).
  assert.deepEqual(resolved('kws', 2540, '--recipe', 'paper'), recorded('kws-block2-paper-10fold'));
  // The default on the shared clips' 1,888 training clips: the 91.00% run.
  assert.deepEqual(resolved('kws', 1888), recorded('kws-block2-distill-long'));
  // The default on the 428 training images of the EEMBC VWW set: the 80.28% run (60/20/20).
  assert.deepEqual(resolved('vww', 428), recorded('vww-block5-distill'));
});
