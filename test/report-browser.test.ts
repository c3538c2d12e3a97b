// Opens a written report in headless Chromium: no console errors, no requests beyond the file,
// every chart with both axes, axis labels and its data, the SVG files well-formed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumPath, inspectReport, inspectReports } from '../src/report/browser.js';
import { writeReport } from '../src/report/write.js';
import { TinypruneError } from '../src/graph/types.js';
import { sampleReport } from './report-sample.js';
import { KWS_CLASSES } from '../src/data/kws.js';

const KWS = [...KWS_CLASSES];
const skip = chromiumPath()
  ? false
  : 'Chromium not found at /usr/bin/chromium (set TINYPRUNE_CHROMIUM): browser check skipped';

test(
  'report.html renders in Chromium with complete charts and no errors',
  { skip, timeout: 120_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-report-browser-'));
    try {
      const data = sampleReport({ withLatency: true, classes: KWS, n: 1200 });
      // Each chart SVG file is also loaded as a standalone document in the page below.
      const out = writeReport(dir, data);
      const png = join(tmpdir(), `tinyprune-report-${process.pid}.png`);
      const [r, ...svgs] = await inspectReports([
        { path: out.html, pngPath: png },
        ...out.charts.map((path) => ({ path })),
      ]);
      assert.deepEqual(r!.consoleErrors, []);
      assert.deepEqual(r!.failedRequests, []);
      assert.deepEqual(r!.otherRequests, []);
      assert.equal(r!.pageTitle, data.title);
      assert.equal(r!.charts.length, out.charts.length);
      for (const c of r!.charts) {
        assert.equal(c.axisX, 1, `${c.id} x axis`);
        assert.equal(c.axisY, 1, `${c.id} y axis`);
        assert.equal(c.axisLabels.length, 2, `${c.id} axis labels`);
        assert.ok(c.axisLabels.every((l) => l.length > 0));
        assert.ok(c.ticks >= 3, `${c.id} ticks`);
        assert.ok(c.width > 200 && c.height > 150, `${c.id} is ${c.width}x${c.height}`);
        assert.ok(c.title.length > 0);
      }
      const byId = new Map(r!.charts.map((c) => [c.id, c]));
      for (const id of ['pareto-params', 'pareto-macs', 'pareto-latency']) {
        assert.equal(byId.get(id)?.points, data.sweep.length, id);
        assert.equal(byId.get(id)?.errorBars, data.sweep.length, id);
      }
      assert.equal(byId.get('confusion-unpruned')?.cells, KWS.length ** 2);
      assert.equal(byId.get('confusion-pruned')?.cells, KWS.length ** 2);
      for (const id of ['layers-params', 'layers-macs', 'layers-cycles'])
        assert.ok(byId.get(id)!.bars > 10, id);
      // A PNG was written (signature + a real image's size).
      const head = readFileSync(png).subarray(0, 8);
      assert.deepEqual([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.ok(statSync(png).size > 50_000);
      t.diagnostic(`screenshot: ${png}`);
      // The standalone chart files are well-formed SVG documents.
      for (const [i, s] of svgs.entries()) {
        assert.equal(s.charts.length, 1, `${out.charts[i]} parses as one svg.chart`);
        assert.deepEqual(s.consoleErrors, []);
        assert.equal(s.charts[0]!.id, r!.charts[i]!.id);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('inspectReport names a missing file', { skip }, async () => {
  await assert.rejects(
    inspectReport('/nonexistent/report.html'),
    (e: unknown) => e instanceof TinypruneError && /does not exist/.test((e as Error).message),
  );
});
