// The data a report is rendered from. Other stages fill these; src/report only renders them.
//
// Conventions: accuracies are fractions in [0, 1]; sizes are bytes; latency is milliseconds on
// the target; `cycles` are CPU cycles of one inference on the target.

/** Accuracy on `n` examples with its 95% Wilson score interval (build with `wilson()`). */
export interface AccuracyStat {
  correct: number;
  n: number;
  /** correct / n */
  accuracy: number;
  /** 95% Wilson score interval [low, high], fractions. */
  ci95: [number, number];
}

/** What a sweep row's head was trained as. `unpruned` is the original model's own row. */
export type SweepVariant = 'frozen' | 'finetune' | 'distill' | 'unpruned';

/** One model of a depth-pruning sweep: the tail up to `cut` plus a `head`. */
export interface SweepRow {
  /** Cut point name (e.g. "block_5"); "full" for the unpruned model. */
  cut: string;
  /** Head kind ("aux", "dense", …; "original" for the unpruned model). */
  head: string;
  variant: SweepVariant | string;
  params: number;
  macs: number;
  peakActivationBytes: number;
  test: AccuracyStat;
  val?: AccuracyStat;
  /** unpruned test accuracy − this row's test accuracy (fraction; positive = worse). */
  dropVsUnpruned: number;
  latencyMs?: number;
  cycles?: number;
}

/** Cost of one layer (op) of a model. */
export interface LayerCost {
  name: string;
  kind: string;
  params: number;
  macs: number;
  cycles?: number;
  /** The kernel the MCU code generator chose for the layer, and its cycles per MAC. */
  kernel?: string;
  cyclesPerMac?: number;
}

/** Rows are true classes, columns predicted classes, both in `classes` order. */
export interface ConfusionMatrix {
  classes: string[];
  matrix: number[][];
  /** Which model form and data set it counts, e.g. "int8, test set". */
  source?: string;
}

/** Everything measured about one model (the unpruned one or the chosen pruned one). */
export interface ModelSummary {
  label: string;
  cut?: string;
  head?: string;
  params: number;
  macs: number;
  peakActivationBytes: number;
  /** Firmware/model flash bytes on the target. */
  flashBytes?: number;
  /** RAM (arena + stack + data) bytes on the target. */
  ramBytes?: number;
  cycles?: number;
  latencyMs?: number;
  floatTest?: AccuracyStat;
  int8Test?: AccuracyStat;
  layers: LayerCost[];
  confusion?: ConfusionMatrix;
}

/** A model's figures as the paper reports them (any subset). */
export interface PaperModelFigures {
  label?: string;
  params?: number;
  macs?: number;
  flashBytes?: number;
  latencyMs?: number;
  /** fractions */
  floatAccuracy?: number;
  int8Accuracy?: number;
}

/** The paper's corresponding numbers, shown beside ours. */
export interface PaperFigures {
  /** Citation, e.g. "De Leon & Atienza, ICASSP 2022, Table 2". */
  source: string;
  unpruned?: PaperModelFigures;
  pruned?: PaperModelFigures;
  /** Free-form remarks (e.g. "paper measured on a real Pico4ML board"). */
  notes?: string[];
}

export interface ReportTarget {
  name: string;
  clockMHz: number;
}

export interface ReportData {
  title: string;
  /** ISO 8601 timestamp. */
  createdAt: string;
  /** The exact command line that produced the report. */
  command: string;
  /** Every setting and seed the run used (rendered as a key/value table). */
  settings: Record<string, unknown>;
  target?: ReportTarget;
  unpruned: ModelSummary;
  pruned?: ModelSummary;
  sweep: SweepRow[];
  paper?: PaperFigures;
  notes?: string[];
}
