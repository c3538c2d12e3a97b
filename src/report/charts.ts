// The report's charts, built from ReportData: Pareto plots of the sweep, per-layer cost bars
// and confusion matrices. Each chart has a stable file name so Markdown can reference the
// .svg written beside it and HTML can inline the same markup.
import { formatCi, formatCompact, formatMs, formatPct } from './format.js';
import { barChart, confusionHeatmap, percentFormat, xyChart, PALETTE } from './svg.js';
import type { ChartSeries, Marker } from './svg.js';
import type { LayerCost, ModelSummary, ReportData, SweepRow } from './types.js';

export type ParetoX = 'params' | 'macs' | 'latencyMs';

const X_LABEL: Record<ParetoX, string> = {
  params: 'Parameters (log scale)',
  macs: 'MACs per inference (log scale)',
  latencyMs: 'Latency on target, ms (log scale)',
};
const X_NAME: Record<ParetoX, string> = {
  params: 'parameters',
  macs: 'MACs',
  latencyMs: 'latency',
};

function xValue(row: SweepRow, x: ParetoX): number | undefined {
  const v = row[x];
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * The Pareto-optimal rows: no other row is at least as cheap in `x` and at least as accurate on
 * test with one of the two strictly better. Sorted by `x` ascending. Rows without `x` are left out.
 */
export function paretoFront(rows: SweepRow[], x: ParetoX): SweepRow[] {
  const sorted = rows
    .filter((r) => xValue(r, x) !== undefined)
    .sort((a, b) => a[x]! - b[x]! || b.test.accuracy - a.test.accuracy);
  const front: SweepRow[] = [];
  let best = -Infinity;
  for (const r of sorted)
    if (r.test.accuracy > best) {
      front.push(r);
      best = r.test.accuracy;
    }
  return front;
}

/** Series name for a row: the head kind, with the variant when a head has several. */
function seriesKey(row: SweepRow, multiVariant: Set<string>): string {
  if (row.variant === 'unpruned') return 'unpruned';
  return multiVariant.has(row.head) ? `${row.head} (${row.variant})` : row.head;
}

function rowTooltip(r: SweepRow): string {
  const parts = [
    `${r.head} @ ${r.cut}${r.variant !== 'unpruned' ? ` (${r.variant})` : ''}`,
    `${formatCompact(r.params)} params, ${formatCompact(r.macs)} MACs`,
    r.latencyMs !== undefined ? formatMs(r.latencyMs) : '',
    `test ${formatPct(r.test.accuracy)} (n=${r.test.n}, 95% CI ${formatCi(r.test)})`,
  ];
  return parts.filter(Boolean).join('; ');
}

/** Test accuracy (with 95% CI error bars) against cost `x` on a log axis, one series per head. */
export function paretoSvg(
  rows: SweepRow[],
  x: ParetoX,
  opts: { id?: string; title?: string; width?: number; height?: number } = {},
): string {
  const usable = rows.filter((r) => xValue(r, x) !== undefined);
  const variantsByHead = new Map<string, Set<string>>();
  for (const r of usable)
    if (r.variant !== 'unpruned')
      variantsByHead.set(r.head, (variantsByHead.get(r.head) ?? new Set()).add(r.variant));
  const multi = new Set([...variantsByHead].filter(([, v]) => v.size > 1).map(([h]) => h));
  const groups = new Map<string, SweepRow[]>();
  for (const r of usable) {
    const k = seriesKey(r, multi);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const markers: Marker[] = ['circle', 'square', 'triangle', 'diamond'];
  let colourIndex = 0;
  const series: ChartSeries[] = [...groups].map(([name, rs]) => {
    const unpruned = name === 'unpruned';
    const i = unpruned ? 0 : colourIndex++;
    return {
      name,
      color: unpruned ? '#1f2328' : PALETTE[i % PALETTE.length],
      marker: unpruned ? 'diamond' : markers[i % 3],
      className: unpruned ? 'unpruned' : undefined,
      points: rs
        .sort((a, b) => a[x]! - b[x]!)
        .map((r) => ({
          x: r[x]!,
          y: r.test.accuracy,
          yLow: r.test.ci95[0],
          yHigh: r.test.ci95[1],
          tooltip: rowTooltip(r),
        })),
    };
  });
  const front = paretoFront(usable, x);
  if (front.length > 1)
    series.push({
      name: 'Pareto front',
      color: '#8c959f',
      line: true,
      dashed: true,
      showPoints: false,
      className: 'front',
      points: front.map((r) => ({ x: r[x]!, y: r.test.accuracy })),
    });
  return xyChart({
    id: opts.id ?? `pareto-${x}`,
    title: opts.title ?? `Test accuracy vs ${X_NAME[x]}`,
    x: { label: X_LABEL[x], scale: 'log' },
    y: { label: 'Test accuracy (95% CI)', format: percentFormat },
    series,
    width: opts.width,
    height: opts.height,
  });
}

/**
 * BatchNorm layers (unfolded, as Keras has them) merged into the layer before, as deployment
 * folds them: keeps the per-layer charts to the layers that do the work.
 */
export function mergeBatchNormLayers(layers: LayerCost[]): LayerCost[] {
  const out: LayerCost[] = [];
  for (const l of layers) {
    const prev = out[out.length - 1];
    if (l.kind === 'batchNorm' && prev) {
      out[out.length - 1] = {
        ...prev,
        params: prev.params + l.params,
        macs: prev.macs + l.macs,
        cycles:
          prev.cycles !== undefined || l.cycles !== undefined
            ? (prev.cycles ?? 0) + (l.cycles ?? 0)
            : undefined,
      };
    } else out.push({ ...l });
  }
  return out;
}

export type LayerMetric = 'params' | 'macs' | 'cycles';

const METRIC_LABEL: Record<LayerMetric, string> = {
  params: 'Parameters',
  macs: 'MACs per inference',
  cycles: 'Cycles per inference on target',
};

/**
 * Per-layer `metric` of the unpruned model beside the pruned one (layers matched by name; the
 * pruned model's own head layers follow). Layers with no cost in any model are left out.
 */
export function layerBarsSvg(
  unpruned: ModelSummary,
  pruned: ModelSummary | undefined,
  metric: LayerMetric,
  opts: { id?: string } = {},
): string {
  const models = pruned ? [unpruned, pruned] : [unpruned];
  const names: string[] = [];
  const seen = new Set<string>();
  for (const m of models)
    for (const l of mergeBatchNormLayers(m.layers))
      if (!seen.has(l.name)) {
        seen.add(l.name);
        names.push(l.name);
      }
  const byName = models.map((m) => new Map(mergeBatchNormLayers(m.layers).map((l) => [l.name, l])));
  const value = (i: number, name: string) => byName[i]!.get(name)?.[metric];
  const kept = names.filter((n) => models.some((_, i) => (value(i, n) ?? 0) > 0));
  return barChart({
    id: opts.id ?? `layers-${metric}`,
    title: `${METRIC_LABEL[metric]} per layer`,
    categories: kept,
    series: models.map((m, i) => ({
      name: m.label,
      values: kept.map((n) => value(i, n)),
      color: i === 0 ? '#8c959f' : PALETTE[0],
    })),
    valueLabel: METRIC_LABEL[metric],
    categoryLabel: 'Layer',
  });
}

/** One chart of a report, with the file name it gets beside report.md. */
export interface ReportChart {
  file: string;
  title: string;
  section: 'pareto' | 'layers' | 'confusion';
  svg: string;
}

/** Every chart the report data supports, in display order. */
export function reportCharts(data: ReportData): ReportChart[] {
  const charts: ReportChart[] = [];
  const xs: ParetoX[] = ['params', 'macs', 'latencyMs'];
  if (data.sweep.length > 0)
    for (const x of xs) {
      if (!data.sweep.some((r) => xValue(r, x) !== undefined)) continue;
      const id = `pareto-${x === 'latencyMs' ? 'latency' : x}`;
      charts.push({
        file: `${id}.svg`,
        title: `Test accuracy vs ${X_NAME[x]}`,
        section: 'pareto',
        svg: paretoSvg(data.sweep, x, { id }),
      });
    }
  const models = data.pruned ? [data.unpruned, data.pruned] : [data.unpruned];
  for (const metric of ['params', 'macs', 'cycles'] as LayerMetric[]) {
    const has = models.some((m) => m.layers.some((l) => (l[metric] ?? 0) > 0));
    if (!has) continue;
    const id = `layers-${metric}`;
    charts.push({
      file: `${id}.svg`,
      title: `${METRIC_LABEL[metric]} per layer`,
      section: 'layers',
      svg: layerBarsSvg(data.unpruned, data.pruned, metric, { id }),
    });
  }
  models.forEach((m, i) => {
    if (!m.confusion) return;
    const id = `confusion-${i === 0 ? 'unpruned' : 'pruned'}`;
    const { classes, matrix, source } = m.confusion;
    const title = `Confusion matrix: ${m.label}${source ? ` (${source})` : ''}`;
    charts.push({
      file: `${id}.svg`,
      title,
      section: 'confusion',
      svg: confusionHeatmap({ id, title, classes, matrix }),
    });
  });
  return charts;
}
