import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelTotals } from '../graph/accounting.js';
import type { CutPoint } from '../graph/cutpoints.js';
import type { AccuracyStat, SweepRow } from '../report/types.js';
import { wilson } from '../report/stats.js';
import { budgetViolations, selectCandidate, type Budget } from './budget.js';
import { saveTflite } from './save.js';
import { writeFileAtomic } from '../io/atomic.js';
import type { PruneOptions, PruneSession } from './train.js';
import type { Progress } from '../cli/progress.js';

export type SweepRecord = SweepRow & { file?: string; kerasParams?: number };

export interface SweepSelection {
  budget: string;
  cut?: string;
  head?: string;
  /** Why each candidate missed the budget, when none fits. */
  reasons?: string[];
}

export interface SweepOutcome {
  rows: SweepRecord[];
  selection?: SweepSelection;
}

function variantOf(opts: PruneOptions): string {
  return opts.finetune ? 'finetune' : opts.distill ? 'distill' : 'frozen';
}

/**
 * Trains every head at every cut and returns one row each, after the unpruned model's row.
 * Each finished row is written atomically under `dir/rows`, so a killed sweep resumes where it
 * stopped; with `saveModels` each pruned model is also written as .tflite under `dir/models`.
 */
export async function runSweep(
  session: PruneSession,
  cuts: CutPoint[],
  heads: string[],
  opts: PruneOptions,
  dir: string,
  o: {
    saveModels?: boolean;
    log?: (line: string) => void;
    /** A progress display per trained row, ticked once per epoch. */
    progress?: (label: string, total: number) => Progress;
  } = {},
): Promise<SweepRecord[]> {
  const log = o.log ?? (() => {});
  const variant = variantOf(opts);
  const unpruned = await session.unprunedAccuracy();
  const rows: SweepRecord[] = [
    {
      cut: 'full',
      head: 'original',
      variant: 'unpruned',
      ...modelTotals(session.base),
      test: unpruned.test,
      val: unpruned.val,
      dropVsUnpruned: 0,
    },
  ];
  mkdirSync(join(dir, 'rows'), { recursive: true });
  const total = cuts.length * heads.length;
  let k = 0;
  for (const cut of cuts)
    for (const head of heads) {
      k++;
      const file = join(
        dir,
        'rows',
        `${cut.name}-${head.replace(/[^a-z0-9]+/gi, '_')}-${variant}.json`,
      );
      if (existsSync(file)) {
        rows.push(JSON.parse(readFileSync(file, 'utf8')) as SweepRecord);
        log(`[${k}/${total}] ${cut.name} + ${head}: done earlier`);
        continue;
      }
      const t0 = Date.now();
      const bar = o.progress?.(
        `[${k}/${total}] ${cut.name} + ${head}`,
        session.schedule(opts).epochs,
      );
      const r = await session.prune(cut, head, {
        ...opts,
        onEpochEnd: (e) => {
          bar?.tick(1, `val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}%`);
          opts.onEpochEnd?.(e);
        },
      });
      bar?.done();
      const row: SweepRecord = {
        cut: cut.name,
        head,
        variant,
        params: r.params,
        kerasParams: r.kerasParams,
        macs: r.macs,
        peakActivationBytes: r.peakActivationBytes,
        test: r.test,
        val: r.val,
        dropVsUnpruned: unpruned.test.accuracy - r.test.accuracy,
      };
      if (o.saveModels)
        row.file = saveTflite(
          join(dir, 'models'),
          `${cut.name}-${head}-${variant}.tflite`,
          r.graph,
        );
      writeFileAtomic(file, JSON.stringify(row, null, 2));
      rows.push(row);
      log(
        `[${k}/${total}] ${cut.name} + ${head}: ${r.params} params, val ${(r.val.accuracy * 100).toFixed(1)}%, ` +
          `test ${(r.test.accuracy * 100).toFixed(1)}% (n=${r.test.n}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  return rows;
}

/** Applies the shared selection rule to a sweep's rows (validation accuracy, never test). */
export function selectFromSweep(
  rows: SweepRecord[],
  budget: Budget,
  budgetText: string,
): SweepSelection {
  const base = rows.find((r) => r.variant === 'unpruned')!;
  const ref = { valAccuracy: base.val!.accuracy, params: base.params, macs: base.macs };
  const candidates = rows
    .filter((r) => r.variant !== 'unpruned')
    .map((r) => ({ ...r, valAccuracy: r.val!.accuracy }));
  const pick = selectCandidate(candidates, budget, ref);
  if (pick) return { budget: budgetText, cut: pick.cut, head: pick.head };
  return {
    budget: budgetText,
    reasons: candidates.map(
      (c) => `${c.cut}+${c.head}: ${budgetViolations(c, budget, ref).join('; ')}`,
    ),
  };
}

/**
 * Pools the rows of a K-fold sweep: per cut and head, test (and validation) counts summed over
 * the folds, so each example counts once; sizes are the same in every fold.
 */
export function poolFolds(perFold: SweepRecord[][]): SweepRecord[] {
  const sum = (stats: (AccuracyStat | undefined)[]): AccuracyStat | undefined =>
    stats.every(Boolean)
      ? wilson(
          stats.reduce((a, s) => a + s!.correct, 0),
          stats.reduce((a, s) => a + s!.n, 0),
        )
      : undefined;
  const key = (r: SweepRecord) => `${r.cut}|${r.head}|${r.variant}`;
  const pooled = perFold[0]!.map((first) => {
    const same = perFold.map((rows) => rows.find((r) => key(r) === key(first))!);
    const { file: _file, ...rest } = first;
    return { ...rest, test: sum(same.map((r) => r.test))!, val: sum(same.map((r) => r.val)) };
  });
  const base = pooled.find((r) => r.variant === 'unpruned')!;
  for (const r of pooled) r.dropVsUnpruned = base.test.accuracy - r.test.accuracy;
  return pooled;
}
