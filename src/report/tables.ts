// The report's tables as plain cell text, shared by the HTML and Markdown renderers so both
// show the same content.
import {
  formatChange,
  formatCi,
  formatCompact,
  formatInt,
  formatKB,
  formatMs,
  formatPct,
  formatPp,
  formatSetting,
} from './format.js';
import { paretoFront } from './charts.js';
import type {
  AccuracyStat,
  ModelSummary,
  PaperModelFigures,
  ReportData,
  SweepRow,
} from './types.js';

export interface TableModel {
  header: string[];
  rows: string[][];
  /** Columns holding numbers (right-aligned). */
  numeric: boolean[];
}

const DASH = '\u2014';

interface HeadlineMetric {
  name: string;
  ours: (m: ModelSummary) => number | AccuracyStat | string | undefined;
  paper?: (p: PaperModelFigures) => number | undefined;
  show: (v: number) => string;
}

/** Unpruned vs pruned (and the paper's figures where given), one metric per row. */
export function headlineTable(data: ReportData): TableModel {
  const clock = data.target ? ` @ ${data.target.clockMHz} MHz` : '';
  const metrics: HeadlineMetric[] = [
    { name: 'Model', ours: (m) => m.label, show: String },
    { name: 'Cut point', ours: (m) => m.cut, show: String },
    { name: 'Head', ours: (m) => m.head, show: String },
    { name: 'Parameters', ours: (m) => m.params, paper: (p) => p.params, show: formatInt },
    { name: 'MACs per inference', ours: (m) => m.macs, paper: (p) => p.macs, show: formatInt },
    { name: 'Peak activation memory', ours: (m) => m.peakActivationBytes, show: formatKB },
    {
      name: 'Flash on target',
      ours: (m) => m.flashBytes,
      paper: (p) => p.flashBytes,
      show: formatKB,
    },
    { name: 'RAM on target', ours: (m) => m.ramBytes, show: formatKB },
    { name: 'Cycles per inference', ours: (m) => m.cycles, show: formatInt },
    {
      name: `Latency${clock}`,
      ours: (m) => m.latencyMs,
      paper: (p) => p.latencyMs,
      show: formatMs,
    },
    {
      name: 'Float test accuracy',
      ours: (m) => m.floatTest,
      paper: (p) => p.floatAccuracy,
      show: (v) => formatPct(v),
    },
    {
      name: 'Int8 test accuracy',
      ours: (m) => m.int8Test,
      paper: (p) => p.int8Accuracy,
      show: (v) => formatPct(v),
    },
  ];
  const pruned = data.pruned;
  const paper = data.paper;
  const header = ['Metric', 'Unpruned'];
  if (pruned) header.push('Pruned', 'Change');
  if (paper?.unpruned) header.push('Paper unpruned');
  if (paper?.pruned) header.push('Paper pruned');
  const rows: string[][] = [];
  for (const m of metrics) {
    const a = m.ours(data.unpruned);
    const b = pruned ? m.ours(pruned) : undefined;
    const pa = paper?.unpruned && m.paper ? m.paper(paper.unpruned) : undefined;
    const pb = paper?.pruned && m.paper ? m.paper(paper.pruned) : undefined;
    if (a === undefined && b === undefined && pa === undefined && pb === undefined) continue;
    const cell = (v: number | AccuracyStat | string | undefined) =>
      v === undefined
        ? DASH
        : typeof v === 'string'
          ? v
          : typeof v === 'number'
            ? m.show(v)
            : `${formatPct(v.accuracy)}\n${v.correct}/${v.n}, 95% CI ${formatCi(v)}`;
    const row = [m.name, cell(a)];
    if (pruned) {
      let change = DASH;
      if (typeof a === 'number' && typeof b === 'number') change = formatChange(a, b);
      else if (typeof a === 'object' && typeof b === 'object')
        change = formatPp(b.accuracy - a.accuracy);
      row.push(cell(b), change);
    }
    if (paper?.unpruned) row.push(m.name === 'Model' ? (paper.unpruned.label ?? DASH) : cell(pa));
    if (paper?.pruned) row.push(m.name === 'Model' ? (paper.pruned.label ?? DASH) : cell(pb));
    rows.push(row);
  }
  return { header, rows, numeric: header.map((_, i) => i > 0) };
}

/** The sweep, one row per model; ★ marks the Pareto front in parameters vs test accuracy. */
export function sweepTable(sweep: SweepRow[]): TableModel {
  const front = new Set(paretoFront(sweep, 'params'));
  const hasVal = sweep.some((r) => r.val);
  const hasLatency = sweep.some((r) => r.latencyMs !== undefined);
  const hasCycles = sweep.some((r) => r.cycles !== undefined);
  const header = [
    'Cut',
    'Head',
    'Variant',
    'Params',
    'MACs',
    'Peak act.',
    'Test acc.',
    '95% CI',
    'n',
  ];
  if (hasVal) header.push('Val acc.');
  header.push('\u0394 vs unpruned');
  if (hasLatency) header.push('Latency');
  if (hasCycles) header.push('Cycles');
  header.push('Pareto');
  const rows = sweep.map((r) => {
    const row = [
      r.cut,
      r.head,
      r.variant,
      formatCompact(r.params),
      formatCompact(r.macs),
      formatKB(r.peakActivationBytes),
      formatPct(r.test.accuracy),
      formatCi(r.test),
      String(r.test.n),
    ];
    if (hasVal) row.push(r.val ? `${formatPct(r.val.accuracy)} (n=${r.val.n})` : DASH);
    row.push(r.variant === 'unpruned' ? DASH : formatPp(-r.dropVsUnpruned));
    if (hasLatency) row.push(r.latencyMs !== undefined ? formatMs(r.latencyMs) : DASH);
    if (hasCycles) row.push(r.cycles !== undefined ? formatCompact(r.cycles) : DASH);
    row.push(front.has(r) ? '\u2605' : '');
    return row;
  });
  return { header, rows, numeric: header.map((_, i) => i >= 3 && header[i] !== 'Pareto') };
}

/** Every setting and seed, flattened one level (nested objects as dotted keys). */
export function settingsTable(settings: Record<string, unknown>): TableModel {
  const rows: string[][] = [];
  const walk = (prefix: string, v: unknown, depth: number) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 2) {
      for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x, depth + 1);
    } else rows.push([prefix, formatSetting(v)]);
  };
  walk('', settings, 0);
  return { header: ['Setting', 'Value'], rows, numeric: [false, false] };
}

/** Per layer on the target: the chosen kernel, cycles and cycles per MAC (layers with code). */
export function layerKernelTable(m: ModelSummary): TableModel | undefined {
  const layers = m.layers.filter((l) => l.kernel !== undefined);
  if (!layers.length) return undefined;
  const header = ['Layer', 'Kind', 'Kernel', 'MACs', 'Cycles', 'Cycles/MAC'];
  const rows = layers.map((l) => [
    l.name,
    l.kind,
    l.kernel!,
    formatInt(l.macs),
    l.cycles !== undefined ? formatInt(l.cycles) : DASH,
    l.cyclesPerMac !== undefined ? l.cyclesPerMac.toFixed(2) : DASH,
  ]);
  return { header, rows, numeric: header.map((_, i) => i >= 3) };
}

/** The kernel tables of the unpruned and pruned models, labelled, where deployed. */
export function kernelTables(data: ReportData): [string, TableModel][] {
  const out: [string, TableModel][] = [];
  for (const m of [data.unpruned, data.pruned]) {
    const t = m && layerKernelTable(m);
    if (t) out.push([m.label, t]);
  }
  return out;
}
