// Opens a report in headless Chromium (playwright-core, Debian's /usr/bin/chromium): screenshots
// it and reports what a reader would hit — console errors, failed or external requests — and
// what each chart contains.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { TinypruneError } from '../graph/types.js';

/** Where Chromium is looked for (override with TINYPRUNE_CHROMIUM). */
export function chromiumPath(): string | undefined {
  const candidates = [
    process.env.TINYPRUNE_CHROMIUM,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
  ];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

const LAUNCH_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** What one chart in the page contains (counts of its queryable parts). */
export interface ChartSummary {
  id: string;
  title: string;
  kind: string;
  axisX: number;
  axisY: number;
  axisLabels: string[];
  ticks: number;
  points: number;
  errorBars: number;
  bars: number;
  cells: number;
  /** Rendered size in CSS pixels. */
  width: number;
  height: number;
}

// Runs in the page. A string, not a function: tsx/esbuild would wrap a function with helpers
// (e.g. __name) that do not exist in the browser.
const CHART_SUMMARY_SCRIPT = `[...document.querySelectorAll('svg.chart')].map((svg) => {
  const count = (sel) => svg.querySelectorAll(sel).length;
  const box = svg.getBoundingClientRect();
  return {
    id: svg.id,
    title: svg.querySelector(':scope > title')?.textContent ?? '',
    kind: [...svg.classList].filter((c) => c !== 'chart').join(' '),
    axisX: count('.axis-x'),
    axisY: count('.axis-y'),
    axisLabels: [...svg.querySelectorAll('.axis-label')].map((e) => e.textContent ?? ''),
    ticks: count('.tick'),
    points: count('.point'),
    errorBars: count('.error-bar'),
    bars: count('.bar'),
    cells: count('.cell'),
    width: box.width,
    height: box.height,
  };
})`;

export interface ReportInspection {
  consoleErrors: string[];
  failedRequests: string[];
  /** Requests for anything but the report file itself (a self-contained report makes none). */
  otherRequests: string[];
  charts: ChartSummary[];
  pageTitle: string;
}

export interface InspectTarget {
  /** An .html report or a standalone .svg chart. */
  path: string;
  /** Save a full-page PNG screenshot here. */
  pngPath?: string;
}

/**
 * Loads each file in one headless Chromium (one launch for all: launching is the slow part),
 * optionally saving full-page PNGs, and returns what it found in each. Throws TinypruneError
 * when Chromium or a file is missing.
 */
export async function inspectReports(
  targets: InspectTarget[],
  opts: { width?: number } = {},
): Promise<ReportInspection[]> {
  const exe = chromiumPath();
  if (!exe)
    throw new TinypruneError(
      'report: Chromium not found (looked for /usr/bin/chromium; set TINYPRUNE_CHROMIUM to its path)',
    );
  const files = targets.map((t) => resolve(t.path));
  for (const file of files)
    if (!existsSync(file)) throw new TinypruneError(`report: ${file} does not exist`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: exe, args: LAUNCH_ARGS });
  try {
    // One page for all files (opening a page costs seconds); events go to the current file.
    const page = await browser.newPage({ viewport: { width: opts.width ?? 1280, height: 900 } });
    let cur = {
      url: '',
      consoleErrors: [] as string[],
      failedRequests: [] as string[],
      otherRequests: [] as string[],
    };
    page.on('console', (m) => {
      if (m.type() === 'error') cur.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => cur.consoleErrors.push(e.message));
    page.on('requestfailed', (r) =>
      cur.failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`),
    );
    page.on('request', (r) => {
      if (r.url() !== cur.url) cur.otherRequests.push(r.url());
    });
    const results: ReportInspection[] = [];
    for (const [i, file] of files.entries()) {
      cur = {
        url: pathToFileURL(file).href,
        consoleErrors: [],
        failedRequests: [],
        otherRequests: [],
      };
      await page.goto(cur.url, { waitUntil: 'load' });
      const charts = (await page.evaluate(CHART_SUMMARY_SCRIPT)) as ChartSummary[];
      const png = targets[i]!.pngPath;
      if (png) await page.screenshot({ path: png, fullPage: true });
      const { consoleErrors, failedRequests, otherRequests } = cur;
      results.push({
        consoleErrors,
        failedRequests,
        otherRequests,
        charts,
        pageTitle: await page.title(),
      });
    }
    return results;
  } finally {
    await browser.close();
  }
}

/** {@link inspectReports} for one file. */
export async function inspectReport(
  path: string,
  opts: { pngPath?: string; width?: number } = {},
): Promise<ReportInspection> {
  const [r] = await inspectReports([{ path, pngPath: opts.pngPath }], opts);
  return r!;
}

/** Saves a full-page screenshot of the report at `htmlPath` to `pngPath`. */
export async function screenshotReport(htmlPath: string, pngPath: string): Promise<void> {
  await inspectReport(htmlPath, { pngPath });
}
