// One sweep row as one library call. A local sweep, `prune`, `run` and a queue worker all train
// rows through `trainRow`, so a row computed on another machine is the same computation as one
// computed here: same data preparation (spec, seed, fold), same session, same training call.
import { modelTotals } from '../graph/accounting.js';
import { findCutPoints } from '../graph/cutpoints.js';
import { TinypruneError, type Graph } from '../graph/types.js';
import type { EpochLogs } from '../engine/train.js';
import { writeTflite } from '../io/tflite/writer.js';
import { selectCandidate, type Budget } from './budget.js';
import { resolveCutPoint } from './cut.js';
import {
  partitionCounts,
  preparePruneData,
  type Fold,
  type PartitionSpecs,
  type PruneData,
} from './data.js';
import { deployableGraph } from './save.js';
import type { SweepRecord } from './sweep.js';
import { PruneSession, type PruneOptions, type PruneResult, type SessionOptions } from './train.js';

/** The row of the unpruned model: its cut and head names in tables. */
export const UNPRUNED_CUT = 'full';
export const UNPRUNED_HEAD = 'original';

/** Every training setting of a row: PruneOptions without its callbacks (plain JSON data). */
export type RowSettings = Omit<PruneOptions, 'onEpochEnd' | 'onStage'>;

/** What determines one row's result. */
export interface RowSpec {
  /** The trained model to prune. */
  base: Graph;
  /** Identifies `base` (a content hash or a path): rows of the same model share a session. */
  modelKey: string;
  /** The file `base` was read from: rows sent to other machines carry its bytes. */
  modelFile?: string;
  /** Dataset spec (docs/datasets.md). */
  data: string;
  /** Separate validation / test sets (`--val-data`, `--test-data`). */
  partitions?: PartitionSpecs;
  /** K-fold cross-validation: which fold this row trains on. */
  fold?: Fold;
  /** Cut point name, or UNPRUNED_CUT for the unpruned model's row. */
  cut: string;
  /** Head preset or spec (UNPRUNED_HEAD for the unpruned row). */
  head: string;
  settings: RowSettings;
  /** Also return the pruned model as .tflite bytes (BatchNorm folded). */
  saveModel?: boolean;
}

export interface RowResult {
  row: SweepRecord;
  /** How the data was split (for the sweep's summary). */
  split: string;
  grouping: string;
  /** The pruned model as .tflite, with `saveModel`. */
  tflite?: Uint8Array;
  /** Seconds spent on this row (not part of the result proper). */
  seconds: number;
  /** The full training result (local calls only; it holds the graph and never travels). */
  pruned?: PruneResult;
}

export interface RowHooks {
  onEpochEnd?: (logs: EpochLogs) => void;
  onStage?: (stage: string) => void;
  /** Reuses loaded data between rows (default: a pool private to this call). */
  sessions?: SessionPool;
}

export function variantOf(s: Pick<RowSettings, 'finetune' | 'distill'>): string {
  return s.finetune ? 'finetune' : s.distill ? 'distill' : 'frozen';
}

/**
 * Keeps the most recently used sessions (loaded splits, cached views and teacher outputs), keyed
 * by everything that determines them, so consecutive rows on the same data load it once.
 */
export class SessionPool {
  private sessions = new Map<string, Promise<PruneSession>>();
  constructor(
    private readonly keep = 1,
    private readonly options: SessionOptions = {},
  ) {}

  get(
    spec: Pick<RowSpec, 'base' | 'modelKey' | 'data' | 'partitions' | 'fold' | 'settings'>,
    /** The data already opened and split for this spec (saves opening it twice). */
    prepared?: PruneData,
  ) {
    const key = JSON.stringify([
      spec.modelKey,
      spec.data,
      spec.partitions ?? null,
      spec.settings.seed,
      spec.fold ?? null,
    ]);
    let s = this.sessions.get(key);
    if (s) {
      this.sessions.delete(key); // re-insert: most recent last
    } else {
      const data = prepared
        ? Promise.resolve(prepared)
        : preparePruneData(spec.data, spec.settings.seed, spec.fold, spec.partitions);
      s = data.then((d) => PruneSession.open(spec.base, d, this.options));
      s.catch(() => this.sessions.delete(key));
    }
    this.sessions.set(key, s);
    while (this.sessions.size > this.keep) this.sessions.delete(this.sessions.keys().next().value!);
    return s;
  }
}

/** Trains (or, for the unpruned row, evaluates) one row. */
export async function trainRow(spec: RowSpec, hooks: RowHooks = {}): Promise<RowResult> {
  const t0 = Date.now();
  const session = await (hooks.sessions ?? new SessionPool()).get(spec);
  // A cut row trains first: its extraction also fills the unpruned model's stores when they are
  // missing (one decode of the clean examples for both), which unprunedAccuracy() then reads.
  const trained =
    spec.cut === UNPRUNED_CUT
      ? undefined
      : await session.prune(resolveCutPoint(spec.base, spec.cut), spec.head, {
          ...spec.settings,
          onEpochEnd: hooks.onEpochEnd,
          onStage: hooks.onStage,
        });
  const unpruned = await session.unprunedAccuracy();
  const common = {
    split: `${session.data.split}; ${partitionCounts(session.data)}`,
    grouping: session.data.grouping,
  };
  if (spec.cut === UNPRUNED_CUT) {
    const row: SweepRecord = {
      cut: UNPRUNED_CUT,
      head: UNPRUNED_HEAD,
      variant: 'unpruned',
      ...modelTotals(spec.base),
      test: unpruned.test,
      val: unpruned.val,
      dropVsUnpruned: 0,
    };
    return { row, ...common, seconds: (Date.now() - t0) / 1000 };
  }
  const cut = resolveCutPoint(spec.base, spec.cut);
  const r = trained!;
  const row: SweepRecord = {
    cut: cut.name,
    head: spec.head,
    variant: variantOf(spec.settings),
    params: r.params,
    kerasParams: r.kerasParams,
    macs: r.macs,
    peakActivationBytes: r.peakActivationBytes,
    test: r.test,
    val: r.val,
    dropVsUnpruned: unpruned.test.accuracy - r.test.accuracy,
  };
  const tflite = spec.saveModel
    ? writeTflite(deployableGraph(r.graph), { description: r.graph.name })
    : undefined;
  return { row, ...common, tflite, seconds: (Date.now() - t0) / 1000, pruned: r };
}

/** `prune`'s job: train `head` at each cut (every cut with 'auto') and pick one by `budget`. */
export async function pruneAndSelect(o: {
  base: Graph;
  modelKey: string;
  data: string;
  /** A cut point name, or 'auto' (every cut, selected by `budget`). */
  cut: string;
  head: string;
  settings: RowSettings;
  budget?: { rule: Budget; text: string };
  log?: (line: string) => void;
  onEpochEnd?: (cut: string, logs: EpochLogs) => void;
  /** Feature-cache settings of the session. */
  session?: SessionOptions;
  partitions?: PartitionSpecs;
  /** The data, already opened and split with these settings' seed. */
  prepared?: PruneData;
}) {
  const log = o.log ?? (() => {});
  if (o.cut === 'auto' && !o.budget)
    throw new TinypruneError('tinyprune prune: --cut auto needs --budget');
  const cuts = (o.cut === 'auto' ? findCutPoints(o.base) : [resolveCutPoint(o.base, o.cut)]).map(
    (c) => c.name,
  );
  const sessions = new SessionPool(1, o.session);
  const spec = (cut: string): RowSpec => ({ ...o, cut, head: o.head, settings: o.settings });
  if (o.prepared) await sessions.get(spec(UNPRUNED_CUT), o.prepared);
  const results: PruneResult[] = [];
  for (const cut of cuts) {
    log(
      `${cut} + ${o.head}: training (${o.settings.finetune ? 'fine-tune' : 'frozen tail'}${o.settings.distill ? ', distilled' : ''})…`,
    );
    const r = (await trainRow(spec(cut), { sessions, onEpochEnd: (e) => o.onEpochEnd?.(cut, e) }))
      .pruned!;
    log(
      `${cut} + ${o.head}: val ${(r.val.accuracy * 100).toFixed(1)}%, test ${(r.test.accuracy * 100).toFixed(1)}% (n=${r.test.n}; trained on ${r.backend})`,
    );
    results.push(r);
  }
  // After the cuts: the first cut's extraction filled the unpruned model's stores from the same
  // loads, so this row only reads them.
  const unprunedRow = await trainRow(spec(UNPRUNED_CUT), { sessions });
  let chosen = results[0]!;
  if (o.cut === 'auto') {
    const pick = selectCandidate(
      results.map((r) => ({ ...r, valAccuracy: r.val.accuracy })),
      o.budget!.rule,
      { valAccuracy: unprunedRow.row.val!.accuracy, ...modelTotals(o.base) },
    );
    if (!pick)
      throw new TinypruneError(`tinyprune prune: no cut point meets the budget ${o.budget!.text}`);
    chosen = results.find((r) => r.cut === pick.cut)!;
  }
  const session = await sessions.get(spec(UNPRUNED_CUT));
  return {
    chosen,
    unpruned: session.unpruned!,
    split: unprunedRow.split,
    extraction: session.extraction,
  };
}
