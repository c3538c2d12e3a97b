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

/**
 * Loads `htmlPath` in headless Chromium, optionally saving a full-page PNG to `pngPath`, and
 * returns what it found. Throws TinypruneError when Chromium or the file is missing.
 */
export async function inspectReport(
  htmlPath: string,
  opts: { pngPath?: string; width?: number } = {},
): Promise<ReportInspection> {
  const exe = chromiumPath();
  if (!exe)
    throw new TinypruneError(
      'report: Chromium not found (looked for /usr/bin/chromium; set TINYPRUNE_CHROMIUM to its path)',
    );
  const file = resolve(htmlPath);
  if (!existsSync(file)) throw new TinypruneError(`report: ${file} does not exist`);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: exe, args: LAUNCH_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: opts.width ?? 1280, height: 900 } });
    const url = pathToFileURL(file).href;
    const consoleErrors: string[] = [];
    const failedRequests: string[] = [];
    const otherRequests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    page.on('requestfailed', (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('request', (r) => {
      if (r.url() !== url) otherRequests.push(r.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const charts = (await page.evaluate(CHART_SUMMARY_SCRIPT)) as ChartSummary[];
    if (opts.pngPath) await page.screenshot({ path: opts.pngPath, fullPage: true });
    return { consoleErrors, failedRequests, otherRequests, charts, pageTitle: await page.title() };
  } finally {
    await browser.close();
  }
}

/** Saves a full-page screenshot of the report at `htmlPath` to `pngPath`. */
export async function screenshotReport(htmlPath: string, pngPath: string): Promise<void> {
  await inspectReport(htmlPath, { pngPath });
}
