// The report as Markdown: the same tables as the HTML; charts are referenced as the .svg files
// `writeReport` puts beside report.md.
import { reportCharts } from './charts.js';
import type { ReportChart } from './charts.js';
import { escapeMd } from './format.js';
import { headlineTable, kernelTables, settingsTable, sweepTable } from './tables.js';
import type { TableModel } from './tables.js';
import type { ReportData, SweepRow } from './types.js';

/** A TableModel as a GitHub-flavoured Markdown table. */
export function markdownTable(t: TableModel): string {
  // A cell's further lines (e.g. "n, CI" under an accuracy) go in parentheses on the same line.
  const cell = (c: string) => {
    const [first, ...rest] = c.split('\n');
    return escapeMd(rest.length ? `${first} (${rest.join('; ')})` : first);
  };
  const line = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${t.numeric.map((n) => (n ? ' ---: ' : ' --- ')).join('|')}|`;
  return [line(t.header), rule, ...t.rows.map(line)].join('\n');
}

/** The sweep table alone (for `tinyprune sweep`). */
export function renderSweepMarkdown(rows: SweepRow[]): string {
  return `${markdownTable(sweepTable(rows))}\n\n\u2605 Pareto front in parameters vs test accuracy.\n`;
}

function images(charts: ReportChart[]): string[] {
  return charts.map((c) => `![${escapeMd(c.title)}](${c.file})`);
}

/** Longest run of backticks in `s`, so a code fence can always be longer. */
function fenceFor(s: string): string {
  const longest = Math.max(0, ...(s.match(/`+/g) ?? []).map((m) => m.length));
  return '`'.repeat(Math.max(3, longest + 1));
}

/** The whole report as Markdown. */
export function renderMarkdown(data: ReportData): string {
  const charts = reportCharts(data);
  const bySection = (s: ReportChart['section']) => charts.filter((c) => c.section === s);
  const out: string[] = [`# ${escapeMd(data.title)}`, ''];
  const meta = [
    `Created ${data.createdAt}`,
    data.target ? `target ${data.target.name} @ ${data.target.clockMHz} MHz` : '',
  ].filter(Boolean);
  out.push(escapeMd(meta.join(' \u00b7 ')), '', '## Unpruned vs pruned', '');
  out.push(markdownTable(headlineTable(data)), '');
  out.push(
    'Accuracy: correct/n with the 95% Wilson score interval. Change: relative for counts, percentage points (pp) for accuracy.',
    '',
  );
  if (data.paper) {
    out.push(`Paper figures: ${escapeMd(data.paper.source)}`, '');
    for (const n of data.paper.notes ?? []) out.push(escapeMd(n), '');
  }
  const pareto = bySection('pareto');
  if (pareto.length)
    out.push(
      '## Accuracy vs cost',
      '',
      ...images(pareto),
      '',
      'Error bars: 95% Wilson interval of test accuracy. Dashed line: Pareto front.',
      '',
    );
  const layers = bySection('layers');
  const kernels = kernelTables(data);
  if (layers.length || kernels.length) out.push('## Per-layer cost', '', ...images(layers), '');
  for (const [label, t] of kernels)
    out.push(`### ${escapeMd(label)}: kernels on the target`, '', markdownTable(t), '');
  const confusion = bySection('confusion');
  if (confusion.length)
    out.push(
      '## Confusion matrices',
      '',
      ...images(confusion),
      '',
      'Rows: true class; columns: predicted class.',
      '',
    );
  if (data.sweep.length) out.push('## Sweep', '', renderSweepMarkdown(data.sweep));
  if (data.notes?.length)
    out.push('## Notes', '', ...data.notes.map((n) => `- ${escapeMd(n)}`), '');
  out.push('## Settings and seeds', '', markdownTable(settingsTable(data.settings)), '');
  const fence = fenceFor(data.command);
  out.push('## Command', '', `${fence}sh`, data.command, fence, '');
  return out.join('\n');
}
