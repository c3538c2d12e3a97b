import type { PartitionSpecs } from './data.js';
// A sweep: every cut × head (× fold), each row one `trainRow` call. Where the rows run is an
// executor: `localExecutor` trains them here one after another; the queue executor
// (src/distributed) sends them to workers. Either way `runSweep` writes the same row files and
// models, pools folds the same way, and `writeSweepOutputs` writes the same tables and plots.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../graph/types.js';
import type { AccuracyStat, SweepRow } from '../report/types.js';
import { wilson } from '../report/stats.js';
import { paretoSvg } from '../report/charts.js';
import { renderSweepMarkdown } from '../report/markdown.js';
import { budgetViolations, selectCandidate, type Budget } from './budget.js';
import { writeFileAtomic } from '../io/atomic.js';
import {
  SessionPool,
  trainRow,
  UNPRUNED_CUT,
  UNPRUNED_HEAD,
  variantOf,
  type RowResult,
  type RowSettings,
  type RowSpec,
} from './row.js';
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

/** What a sweep trains: every head at every cut, on every fold. */
export interface SweepPlan {
  base: Graph;
  /** Identifies the model (content hash or path). */
  modelKey: string;
  /** The file `base` was read from (needed to send rows to a queue). */
  modelFile?: string;
  data: string;
  /** Separate validation / test sets (`--val-data`, `--test-data`). */
  partitions?: PartitionSpecs;
  cuts: string[];
  heads: string[];
  settings: RowSettings;
  /** K-fold cross-validation (K ≥ 3); absent: one 60/20/20 split. */
  folds?: number;
  /** Write each pruned model as .tflite under `models/`. */
  saveModels?: boolean;
}

/** A row that could not be trained (after the executor's retries). */
export interface FailedRow {
  cut: string;
  head: string;
  variant: string;
  /** 1-based fold, with K-fold cross-validation. */
  fold?: number;
  error: string;
}

/** A row's result as it travels (no graph): the row, its split, and the model bytes if asked. */
export type RowOutcome =
  { ok: true; result: Omit<RowResult, 'pruned'> } | { ok: false; error: string };

/** Runs a list of rows somewhere and returns one outcome per row, in order. */
export type RowExecutor = (rows: RowSpec[], dir: string) => Promise<RowOutcome[]>;

export interface SweepResult {
  rows: SweepRecord[];
  failed: FailedRow[];
  /** How the data was split (with folds: the pooled description). */
  split: string;
}

/** The rows of a plan: per fold, the unpruned model's row, then every cut × head. */
export function planRows(plan: SweepPlan): RowSpec[] {
  const folds = plan.folds
    ? Array.from({ length: plan.folds }, (_, index) => ({ index, count: plan.folds! }))
    : [undefined];
  const specs: RowSpec[] = [];
  for (const fold of folds) {
    const common = {
      base: plan.base,
      modelKey: plan.modelKey,
      ...(plan.modelFile && { modelFile: plan.modelFile }),
      data: plan.data,
      ...(plan.partitions && { partitions: plan.partitions }),
      settings: plan.settings,
      ...(fold && { fold }),
    };
    specs.push({ ...common, cut: UNPRUNED_CUT, head: UNPRUNED_HEAD });
    for (const cut of plan.cuts)
      for (const head of plan.heads)
        specs.push({ ...common, cut, head, ...(plan.saveModels && { saveModel: true }) });
  }
  return specs;
}

/** Where a row's files go: the sweep folder, or its fold's folder. */
function rowDir(dir: string, spec: RowSpec): string {
  return spec.fold ? join(dir, `fold-${spec.fold.index + 1}`) : dir;
}

function rowStem(spec: RowSpec): string {
  return `${spec.cut}-${spec.head.replace(/[^a-z0-9]+/gi, '_')}-${variantOf(spec.settings)}`;
}

/** The finished-row file of a (pruned) row; a rerun reads it instead of training again. */
export function rowFile(dir: string, spec: RowSpec): string {
  return join(rowDir(dir, spec), 'rows', `${rowStem(spec)}.json`);
}

/**
 * Trains rows here, one after another, sharing loaded data between consecutive rows of the same
 * fold. Rows finished by an earlier run (their row file exists) are read back, not trained.
 */
export function localExecutor(
  o: {
    log?: (line: string) => void;
    /** A progress display per trained row, ticked once per epoch. */
    progress?: (label: string, total: number) => Progress;
    sessions?: SessionPool;
  } = {},
): RowExecutor {
  const log = o.log ?? (() => {});
  const sessions = o.sessions ?? new SessionPool();
  return async (specs, dir) => {
    const out: RowOutcome[] = [];
    const total = specs.filter((s) => s.cut !== UNPRUNED_CUT).length;
    let k = 0;
    let fold = -1;
    for (const spec of specs) {
      if (spec.fold && spec.fold.index !== fold) {
        fold = spec.fold.index;
        log(`fold ${fold + 1}/${spec.fold.count}`);
      }
      if (spec.cut === UNPRUNED_CUT) {
        out.push({ ok: true, result: strip(await trainRow(spec, { sessions })) });
        continue;
      }
      k++;
      const label = `[${k}/${total}] ${spec.cut} + ${spec.head}`;
      const file = rowFile(dir, spec);
      const earlier = existsSync(file) ? readRowRecord(file, spec) : undefined;
      if (earlier) {
        out.push({ ok: true, result: { row: earlier, split: '', grouping: '', seconds: 0 } });
        log(`${label}: done earlier`);
        continue;
      }
      if (existsSync(file)) log(`${label}: its row file is damaged or foreign; training it again`);
      // A step-sized schedule becomes epochs only against the session's training set.
      const epochs = (await sessions.get(spec)).schedule(spec.settings).epochs;
      const bar = o.progress?.(label, epochs);
      try {
        const r = await trainRow(spec, {
          sessions,
          onEpochEnd: (e) => bar?.tick(1, `val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}%`),
        });
        bar?.done();
        // Saved now, not after the last row: a sweep killed later resumes from this row on.
        const { tflite: _saved, ...rest } = strip(r);
        out.push({ ok: true, result: { ...rest, row: saveRow(dir, spec, strip(r)) } });
        log(
          `${label}: ${r.row.params} params, val ${(r.row.val!.accuracy * 100).toFixed(1)}%, ` +
            `test ${(r.row.test.accuracy * 100).toFixed(1)}% (n=${r.row.test.n}, ${r.seconds.toFixed(0)} s)`,
        );
      } catch (e) {
        bar?.done();
        throw e; // Locally, a failing row stops the sweep (the user sees the error at once).
      }
    }
    return out;
  };
}

/**
 * A finished row's record, or undefined when the file is not one (truncated by a crash, edited,
 * or another row's): such a row is trained again instead of crashing the resume or reporting it.
 */
function readRowRecord(file: string, spec: RowSpec): SweepRecord | undefined {
  let r: SweepRecord;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as SweepRecord;
  } catch {
    return undefined;
  }
  const acc = (e: unknown) => {
    const a = (e as { accuracy?: unknown } | undefined)?.accuracy;
    return typeof a === 'number' && a >= 0 && a <= 1;
  };
  const ok =
    typeof r === 'object' &&
    r !== null &&
    r.cut === spec.cut &&
    r.head === spec.head &&
    acc(r.test) &&
    acc(r.val) &&
    Number.isInteger(r.params) &&
    r.params >= 0;
  return ok ? r : undefined;
}

/**
 * Writes a pruned row's model (when the result carries one) and its row file, each atomically,
 * the model first: a row file on disk means the row is finished. A row file already there and
 * valid is kept (written once); a damaged one is replaced. Returns the row as recorded.
 */
function saveRow(dir: string, spec: RowSpec, result: Omit<RowResult, 'pruned'>): SweepRecord {
  const row: SweepRecord = { ...result.row };
  const file = rowFile(dir, spec);
  if (result.tflite) {
    const models = join(rowDir(dir, spec), 'models');
    mkdirSync(models, { recursive: true });
    row.file = join(models, `${spec.cut}-${spec.head}-${variantOf(spec.settings)}.tflite`);
    writeFileAtomic(row.file, result.tflite);
  }
  if (!existsSync(file) || !readRowRecord(file, spec)) {
    mkdirSync(join(rowDir(dir, spec), 'rows'), { recursive: true });
    writeFileAtomic(file, JSON.stringify(row, null, 2));
  }
  return row;
}

function strip(r: RowResult): Omit<RowResult, 'pruned'> {
  const { pruned: _pruned, ...rest } = r;
  return rest;
}

/**
 * Runs a sweep's rows through `exec` (default: here), writes each finished row (and model, with
 * `saveModels`) under `dir`, and pools folds. Rows that failed are returned in `failed`; with
 * folds, a row failing in any fold fails as a whole.
 */
export async function runSweep(
  plan: SweepPlan,
  dir: string,
  exec: RowExecutor = localExecutor(),
): Promise<SweepResult> {
  const specs = planRows(plan);
  const outcomes = await exec(specs, dir);
  const foldCount = plan.folds ?? 1;
  const perFold: SweepRecord[][] = Array.from({ length: foldCount }, () => []);
  const failedKeys = new Map<string, FailedRow>();
  let split = '';
  let grouping = '';
  specs.forEach((spec, i) => {
    const o = outcomes[i]!;
    const f = spec.fold?.index ?? 0;
    const variant = spec.cut === UNPRUNED_CUT ? 'unpruned' : variantOf(spec.settings);
    if (!o.ok) {
      const key = `${spec.cut}|${spec.head}|${variant}`;
      if (!failedKeys.has(key))
        failedKeys.set(key, {
          cut: spec.cut,
          head: spec.head,
          variant,
          ...(spec.fold && { fold: spec.fold.index + 1 }),
          error: o.error,
        });
      return;
    }
    let row: SweepRecord = { ...o.result.row };
    if (spec.cut === UNPRUNED_CUT) {
      split = o.result.split;
      grouping = o.result.grouping;
    } else row = saveRow(dir, spec, o.result);
    perFold[f]!.push(row);
  });
  const failed = [...failedKeys.values()];
  const key = (r: { cut: string; head: string; variant: string }) =>
    `${r.cut}|${r.head}|${r.variant}`;
  // A row is reported only when every fold has it.
  const complete = perFold.map((rows) => rows.filter((r) => !failedKeys.has(key(r))));
  if (!plan.folds) return { rows: complete[0]!, failed, split };
  if (failedKeys.has(`${UNPRUNED_CUT}|${UNPRUNED_HEAD}|unpruned`))
    return { rows: [], failed, split: `${plan.folds}-fold cross-validation` };
  return {
    rows: poolFolds(complete),
    failed,
    split: `${plan.folds}-fold cross-validation (${grouping}): test predictions of the ${plan.folds} folds pooled, every example tested once`,
  };
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

/** Failed rows as a Markdown table (after the sweep's table). */
export function renderFailedMarkdown(failed: FailedRow[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\s+/g, ' ');
  return [
    '| cut | head | variant | fold | status |',
    '| --- | --- | --- | ---: | --- |',
    ...failed.map(
      (f) =>
        `| ${cell(f.cut)} | ${cell(f.head)} | ${f.variant} | ${f.fold ?? ''} | failed: ${cell(f.error)} |`,
    ),
  ].join('\n');
}

/** Writes sweep.json, sweep.md and the Pareto plots; returns the selection (with a budget). */
export function writeSweepOutputs(
  out: string,
  s: {
    model: string;
    data: string;
    settings: RowSettings;
    result: SweepResult;
    budget?: { rule: Budget; text: string };
  },
): { selection?: SweepSelection; table: string } {
  const { rows, failed, split } = s.result;
  const hasBase = rows.some((r) => r.variant === 'unpruned');
  const selection =
    s.budget && hasBase ? selectFromSweep(rows, s.budget.rule, s.budget.text) : undefined;
  const summary = {
    model: s.model,
    data: s.data,
    split,
    seed: s.settings.seed,
    settings: s.settings,
    rows,
    ...(failed.length > 0 && { failed }),
    selection,
  };
  mkdirSync(out, { recursive: true });
  writeFileAtomic(join(out, 'sweep.json'), JSON.stringify(summary, null, 2) + '\n');
  const table = renderSweepMarkdown(rows);
  const md = [
    `# Sweep: ${s.model}`,
    '',
    `Data: \`${s.data}\` (${split || 'split unknown: the unpruned row failed'}); test accuracy with its sample count and 95% Wilson interval.`,
    '',
    table,
  ];
  if (failed.length > 0)
    md.push(`${failed.length} row(s) failed:`, '', renderFailedMarkdown(failed), '');
  md.push('![accuracy vs parameters](pareto-params.svg) ![accuracy vs MACs](pareto-macs.svg)', '');
  if (selection)
    md.push(
      !selection.cut
        ? `No cut meets the budget ${selection.budget}.`
        : `Budget ${selection.budget}: **${String(selection.cut)} + ${String(selection.head)}**.`,
    );
  writeFileAtomic(join(out, 'sweep.md'), md.join('\n') + '\n');
  writeFileAtomic(
    join(out, 'pareto-params.svg'),
    paretoSvg(rows, 'params', { title: 'Test accuracy vs parameters' }),
  );
  writeFileAtomic(
    join(out, 'pareto-macs.svg'),
    paretoSvg(rows, 'macs', { title: 'Test accuracy vs MACs' }),
  );
  return {
    selection,
    table: failed.length > 0 ? `${table}\n${renderFailedMarkdown(failed)}\n` : table,
  };
}
