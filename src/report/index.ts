// The report layer's public API (re-exported from src/index.ts).
export type * from './types.js';
export { wilson, Z95 } from './stats.js';
export {
  escapeXml,
  formatAccuracy,
  formatChange,
  formatCi,
  formatCompact,
  formatMs,
  formatPct,
  formatPp,
} from './format.js';
export {
  xyChart,
  barChart,
  confusionHeatmap,
  niceTicks,
  logTicks,
  percentFormat,
  PALETTE,
  type ChartPoint,
  type ChartSeries,
  type XYChartSpec,
  type AxisSpec,
  type BarChartSpec,
  type BarSeries,
  type HeatmapSpec,
  type Marker,
  type TickFormat,
} from './svg.js';
export {
  paretoFront,
  paretoSvg,
  layerBarsSvg,
  mergeBatchNormLayers,
  reportCharts,
  type ParetoX,
  type LayerMetric,
  type ReportChart,
} from './charts.js';
export { headlineTable, sweepTable, settingsTable, type TableModel } from './tables.js';
export { renderHtml, htmlTable } from './html.js';
export { renderMarkdown, renderSweepMarkdown, markdownTable } from './markdown.js';
export { writeReport, writeFileAtomic, type WrittenReport } from './write.js';
export { layerCosts, graphSummary } from './layers.js';
export {
  chromiumPath,
  inspectReport,
  inspectReports,
  screenshotReport,
  type ReportInspection,
  type ChartSummary,
  type InspectTarget,
} from './browser.js';
