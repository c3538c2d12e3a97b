// Writes a report directory: report.html, report.md, report.json and the charts as .svg files.
// Every file is written to a temporary name and renamed into place, so a reader never sees a
// half-written file under its final name.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import { reportCharts } from './charts.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import type { ReportData } from './types.js';

export { writeFileAtomic };

function ensureDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (!st.isDirectory())
    throw new TinypruneError(`report: output folder ${dir} is a file, expected a folder`);
}

/** Every chart file name reportCharts can produce. */
const KNOWN_CHART_FILES = [
  'pareto-params.svg',
  'pareto-macs.svg',
  'pareto-latency.svg',
  'layers-params.svg',
  'layers-macs.svg',
  'layers-cycles.svg',
  'confusion-unpruned.svg',
  'confusion-pruned.svg',
];

export interface WrittenReport {
  html: string;
  markdown: string;
  json: string;
  charts: string[];
}

/** Writes the report files into `dir` (created if needed) and returns their paths. */
export function writeReport(dir: string, data: ReportData): WrittenReport {
  ensureDir(dir);
  // Render everything first: a rendering bug must not leave a partial set of files behind.
  const charts = reportCharts(data);
  const html = renderHtml(data);
  const markdown = renderMarkdown(data);
  const json = `${JSON.stringify(data, null, 2)}\n`;
  const chartPaths = charts.map((c) => {
    const p = join(dir, c.file);
    writeFileAtomic(p, `<?xml version="1.0" encoding="UTF-8"?>\n${c.svg}\n`);
    return p;
  });
  const out: WrittenReport = {
    json: join(dir, 'report.json'),
    markdown: join(dir, 'report.md'),
    html: join(dir, 'report.html'),
    charts: chartPaths,
  };
  writeFileAtomic(out.json, json);
  writeFileAtomic(out.markdown, markdown);
  writeFileAtomic(out.html, html);
  // A chart an earlier report in this folder had and this one lacks would look current: remove it.
  const current = new Set(charts.map((c) => c.file));
  for (const name of KNOWN_CHART_FILES)
    if (!current.has(name)) rmSync(join(dir, name), { force: true });
  return out;
}
