// One self-contained HTML report: inline CSS and inline SVG, no scripts, no external URLs.
import { reportCharts } from './charts.js';
import type { ReportChart } from './charts.js';
import { escapeXml } from './format.js';
import { headlineTable, kernelTables, settingsTable, sweepTable } from './tables.js';
import type { TableModel } from './tables.js';
import type { ReportData } from './types.js';

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: #1f2328;
  font: 14px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 24px 48px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header .meta { color: #57606a; margin: 0; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 16px 20px;
  margin-top: 20px; }
h2 { font-size: 18px; margin: 0 0 12px; }
.note { color: #57606a; font-size: 13px; margin: 8px 0 0; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; border-bottom: 1px solid #d0d7de; white-space: nowrap; }
tbody th { background: none; border-bottom-color: #eaeef2; }
.sub { color: #57606a; font-size: 12px; }
table.sweep { font-size: 13px; }
table.sweep th, table.sweep td { padding: 4px 7px; }
td.num, th.num { text-align: right; white-space: nowrap; }
tbody tr:hover { background: #f6f8fa; }
.table-wrap { overflow-x: auto; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px; }
.charts.wide { grid-template-columns: 1fr; }
figure { margin: 0; border: 1px solid #eaeef2; border-radius: 6px; padding: 8px; background: #fff;
  overflow-x: auto; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
pre { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: 10px 12px;
  overflow-x: auto; white-space: pre-wrap; word-break: break-all; margin: 0; }
ul { margin: 0; padding-left: 20px; }
footer { color: #57606a; font-size: 12px; margin-top: 24px; text-align: center; }
`;

/** A cell's first line as the value, further lines as a smaller note under it. */
function cellHtml(text: string): string {
  const [first, ...rest] = text.split('\n');
  return rest.length
    ? `${escapeXml(first)}<br><span class="sub">${rest.map(escapeXml).join('<br>')}</span>`
    : escapeXml(first);
}

/** A TableModel as an HTML table. */
export function htmlTable(t: TableModel, className = ''): string {
  const th = t.header
    .map((h, i) => `<th${t.numeric[i] ? ' class="num"' : ''} scope="col">${escapeXml(h)}</th>`)
    .join('');
  const body = t.rows
    .map(
      (r) =>
        `<tr>${r
          .map((c, i) =>
            i === 0
              ? `<th scope="row">${escapeXml(c)}</th>`
              : `<td${t.numeric[i] ? ' class="num"' : ''}>${cellHtml(c)}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('\n');
  return `<div class="table-wrap"><table${className ? ` class="${className}"` : ''}><thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody></table></div>`;
}

function figures(charts: ReportChart[], wide = false): string {
  return `<div class="charts${wide ? ' wide' : ''}">${charts
    .map((c) => `<figure data-file="${escapeXml(c.file)}">${c.svg}</figure>`)
    .join('\n')}</div>`;
}

/** The whole report as one HTML document. */
export function renderHtml(data: ReportData): string {
  const charts = reportCharts(data);
  const bySection = (s: ReportChart['section']) => charts.filter((c) => c.section === s);
  const meta = [
    `Created ${data.createdAt}`,
    data.target ? `target ${data.target.name} @ ${data.target.clockMHz} MHz` : '',
  ].filter(Boolean);
  const parts: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(data.title)}</title>`,
    `<style>${CSS}</style></head><body><main>`,
    `<header><h1>${escapeXml(data.title)}</h1><p class="meta">${escapeXml(meta.join(' \u00b7 '))}</p></header>`,
    `<section id="headline"><h2>Unpruned vs pruned</h2>${htmlTable(headlineTable(data), 'headline')}`,
    '<p class="note">Accuracy: correct/n with the 95% Wilson score interval. Change: relative for counts, percentage points (pp) for accuracy.</p>',
  ];
  if (data.paper) {
    parts.push(`<p class="note">Paper figures: ${escapeXml(data.paper.source)}</p>`);
    for (const n of data.paper.notes ?? []) parts.push(`<p class="note">${escapeXml(n)}</p>`);
  }
  parts.push('</section>');
  const pareto = bySection('pareto');
  if (pareto.length)
    parts.push(
      `<section id="pareto"><h2>Accuracy vs cost</h2>${figures(pareto)}` +
        '<p class="note">Error bars: 95% Wilson interval of test accuracy. Dashed line: Pareto front (cheapest model for each accuracy).</p></section>',
    );
  const layers = bySection('layers');
  const kernels = kernelTables(data);
  if (layers.length || kernels.length)
    parts.push(
      `<section id="layers"><h2>Per-layer cost</h2>${figures(layers)}${kernels
        .map(
          ([label, t]) =>
            `<h3>${escapeXml(label)}: kernels on the target</h3>${htmlTable(t, 'kernels')}`,
        )
        .join('')}</section>`,
    );
  const confusion = bySection('confusion');
  if (confusion.length)
    parts.push(
      `<section id="confusion"><h2>Confusion matrices</h2>${figures(confusion)}` +
        '<p class="note">Rows: true class; columns: predicted class; shade: share of the true class.</p></section>',
    );
  if (data.sweep.length)
    parts.push(
      `<section id="sweep"><h2>Sweep</h2>${htmlTable(sweepTable(data.sweep), 'sweep')}` +
        '<p class="note">\u2605 Pareto front in parameters vs test accuracy.</p></section>',
    );
  if (data.notes?.length)
    parts.push(
      `<section id="notes"><h2>Notes</h2><ul>${data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul></section>`,
    );
  parts.push(
    `<section id="settings"><h2>Settings and seeds</h2>${htmlTable(settingsTable(data.settings), 'settings')}</section>`,
    `<section id="command"><h2>Command</h2><pre><code>${escapeXml(data.command)}</code></pre></section>`,
    '<footer>Generated by tinyprune</footer>',
    '</main></body></html>',
    '',
  );
  return parts.join('\n');
}
