import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wilson, Z95 } from '../src/report/stats.js';
import { formatChange, formatCompact, formatPp, escapeXml } from '../src/report/format.js';
import { logTicks, niceTicks, confusionHeatmap } from '../src/report/svg.js';
import {
  paretoFront,
  paretoSvg,
  layerBarsSvg,
  mergeBatchNormLayers,
} from '../src/report/charts.js';
import { renderHtml } from '../src/report/html.js';
import { renderMarkdown, renderSweepMarkdown } from '../src/report/markdown.js';
import { writeReport } from '../src/report/write.js';
import { TinypruneError } from '../src/graph/types.js';
import type { SweepRow } from '../src/report/types.js';
import { sampleReport, sampleSweep } from './report-sample.js';

// ---------------------------------------------------------------- Wilson interval

test('Wilson interval matches published values (Newcombe 1998, Table I, method 3)', () => {
  const cases: [number, number, number, number][] = [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ];
  for (const [c, n, lo, hi] of cases) {
    const w = wilson(c, n);
    assert.equal(w.accuracy, c / n);
    assert.ok(Math.abs(w.ci95[0] - lo) < 6e-5, `${c}/${n} low ${w.ci95[0]}`);
    assert.ok(Math.abs(w.ci95[1] - hi) < 6e-5, `${c}/${n} high ${w.ci95[1]}`);
  }
  assert.deepEqual(wilson(20, 20).ci95[1], 1);
});

test('Wilson bounds solve the score-test equation (independent bisection)', () => {
  // The interval is {p : |p̂ − p| ≤ z·sqrt(p(1−p)/n)}; find its ends by bisection.
  const f = (p: number, ph: number, n: number) =>
    Math.abs(ph - p) - Z95 * Math.sqrt((p * (1 - p)) / n);
  const root = (a: number, b: number, ph: number, n: number) => {
    for (let i = 0; i < 100; i++) {
      const m = (a + b) / 2;
      if (Math.sign(f(m, ph, n)) === Math.sign(f(a, ph, n))) a = m;
      else b = m;
    }
    return (a + b) / 2;
  };
  for (const [c, n] of [
    [3, 7],
    [856, 1000],
    [499, 500],
    [1, 1000],
    [50, 100],
  ] as const) {
    const ph = c / n;
    const w = wilson(c, n);
    assert.ok(Math.abs(w.ci95[0] - root(0, ph, ph, n)) < 1e-9);
    assert.ok(Math.abs(w.ci95[1] - root(ph, 1, ph, n)) < 1e-9);
  }
  assert.throws(() => wilson(0, 0), RangeError);
  assert.throws(() => wilson(11, 10), RangeError);
  assert.throws(() => wilson(1.5, 10), RangeError);
});

// ---------------------------------------------------------------- formatting and ticks

test('formatting: compact counts, signed changes, escaping', () => {
  assert.equal(formatCompact(221794), '222K');
  assert.equal(formatCompact(15400), '15.4K');
  assert.equal(formatCompact(7490000), '7.49M');
  assert.equal(formatCompact(950), '950');
  // The paper's VWW block-5 cut: 221.8K → 15.4K params is −93%.
  assert.equal(formatChange(221800, 15400), '\u221293.1%');
  assert.equal(formatChange(100, 100), '0.0%');
  assert.equal(formatPp(-0.0065), '\u22120.65 pp');
  assert.equal(formatPp(0.0000001), '0.00 pp');
  assert.equal(escapeXml(`<a href="x">&'\u0001`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;\uFFFD');
});

test('ticks: nice linear steps cover the range; log ticks are 1-2-5 and inside it', () => {
  const { ticks, step } = niceTicks(0.63, 0.91, 6);
  assert.equal(step, 0.05);
  assert.ok(ticks[0]! <= 0.63 && ticks.at(-1)! >= 0.91);
  assert.deepEqual(logTicks(1500, 300000), [2000, 5000, 10000, 20000, 50000, 100000, 200000]);
  const narrow = logTicks(260, 350);
  assert.ok(narrow.length >= 2 && narrow.every((t) => t >= 260 && t <= 350), String(narrow));
});

// ---------------------------------------------------------------- Pareto

function dominated(r: SweepRow, rows: SweepRow[]): boolean {
  return rows.some(
    (o) =>
      o !== r &&
      o.params <= r.params &&
      o.test.accuracy >= r.test.accuracy &&
      (o.params < r.params || o.test.accuracy > r.test.accuracy),
  );
}

test('Pareto front equals the brute-force non-dominated set', () => {
  for (const seed of [1, 2, 3, 7]) {
    const rows = sampleSweep({ seed });
    const front = paretoFront(rows, 'params');
    const brute = rows.filter((r) => !dominated(r, rows));
    // Exact duplicates (same cost and accuracy) are kept once by the sweep, all by brute force.
    assert.deepEqual(
      new Set(front.map((r) => `${r.params}/${r.test.accuracy}`)),
      new Set(brute.map((r) => `${r.params}/${r.test.accuracy}`)),
    );
    for (let i = 1; i < front.length; i++) {
      assert.ok(front[i]!.params > front[i - 1]!.params);
      assert.ok(front[i]!.test.accuracy > front[i - 1]!.test.accuracy);
    }
  }
});

/** [x, y] of each .point's marker and its data-x/data-y. */
function points(svg: string) {
  const re =
    /<g class="point" data-x="([^"]+)" data-y="([^"]+)">(?:<title>[^<]*<\/title>)?(?:<path class="error-bar"[^>]*\/>)?<(circle|rect|path) ([^>]*)\/>/g;
  return [...svg.matchAll(re)].map((m) => {
    const attrs = m[4]!;
    let cx: number;
    let cy: number;
    if (m[3] === 'circle') {
      cx = Number(/cx="([^"]+)"/.exec(attrs)![1]);
      cy = Number(/cy="([^"]+)"/.exec(attrs)![1]);
    } else if (m[3] === 'rect') {
      cx = Number(/x="([^"]+)"/.exec(attrs)![1]) + Number(/width="([^"]+)"/.exec(attrs)![1]) / 2;
      cy = Number(/y="([^"]+)"/.exec(attrs)![1]) + Number(/height="([^"]+)"/.exec(attrs)![1]) / 2;
    } else {
      // Diamond and triangle both start "M x (y−s) L (x+s) …", which gives the centre.
      const [x, ys, xs] = /d="M([\d.]+) ([\d.]+)L([\d.]+) /.exec(attrs)!.slice(1).map(Number);
      cx = x!;
      cy = ys! + (xs! - x!);
    }
    return { x: Number(m[1]), y: Number(m[2]), cx, cy };
  });
}

test('Pareto SVG: one point and error bar per row, log-x and linear-y placement', () => {
  const rows = sampleSweep();
  const svg = paretoSvg(rows, 'params');
  assert.match(svg, /^<svg [^>]*role="img"/);
  assert.match(svg, /<title id="pareto-params-title">Test accuracy vs parameters<\/title>/);
  assert.equal(svg.match(/class="point"/g)?.length, rows.length);
  assert.equal(svg.match(/class="error-bar"/g)?.length, rows.length);
  assert.match(svg, /class="axis-x"/);
  assert.match(svg, /class="axis-y"/);
  assert.equal(svg.match(/class="axis-label"/g)?.length, 2);
  assert.match(svg, /class="series front"/);
  const pts = points(svg);
  assert.equal(pts.length, rows.length);
  // Screen x is affine in log10(params); screen y is affine in accuracy, upward.
  const a = pts[0]!;
  const b = pts.find((p) => Math.abs(Math.log10(p.x / a.x)) > 1)!;
  const kx = (b.cx - a.cx) / Math.log10(b.x / a.x);
  const c = pts.find((p) => Math.abs(p.y - a.y) > 0.05)!;
  const ky = (c.cy - a.cy) / (c.y - a.y);
  assert.ok(kx > 0 && ky < 0);
  for (const p of pts) {
    if (p.x !== a.x)
      assert.ok(Math.abs(p.cx - a.cx - kx * Math.log10(p.x / a.x)) < 0.05, `x of ${p.x}`);
    assert.ok(Math.abs(p.cy - a.cy - ky * (p.y - a.y)) < 0.05, `y of ${p.y}`);
  }
});

test('Pareto SVG by latency leaves out rows without latency and says so when none have it', () => {
  const rows = sampleSweep({ withLatency: true });
  rows[3] = { ...rows[3]!, latencyMs: undefined };
  assert.equal(paretoSvg(rows, 'latencyMs').match(/class="point"/g)?.length, rows.length - 1);
  const none = paretoSvg(sampleSweep(), 'latencyMs');
  assert.equal(none.match(/class="point"/g), null);
  assert.match(none, /class="no-data"/);
});

// ---------------------------------------------------------------- bars and heat maps

test('layer bars: BatchNorm folded into the layer before, one bar per non-zero value', () => {
  const data = sampleReport();
  const folded = mergeBatchNormLayers(data.unpruned.layers);
  assert.equal(
    folded.reduce((s, l) => s + l.params, 0),
    data.unpruned.layers.reduce((s, l) => s + l.params, 0),
  );
  assert.ok(!folded.some((l) => l.kind === 'batchNorm'));
  const svg = layerBarsSvg(data.unpruned, data.pruned, 'params');
  const expected =
    folded.filter((l) => l.params > 0).length +
    mergeBatchNormLayers(data.pruned!.layers).filter((l) => l.params > 0).length;
  assert.equal(svg.match(/class="bar"/g)?.length, expected);
  // Bar lengths are proportional to values.
  const bars = [...svg.matchAll(/data-value="([^"]+)" x="[^"]+" y="[^"]+" width="([^"]+)"/g)].map(
    (m) => [Number(m[1]), Number(m[2])],
  );
  const [v0, w0] = bars.reduce((a, b) => (b[0]! > a[0]! ? b : a));
  for (const [v, w] of bars)
    if (v! * (w0! / v0!) > 1) assert.ok(Math.abs(w! - (v! * w0!) / v0!) < 0.02);
});

test('confusion heat map: n² cells with the counts; a ragged matrix is rejected', () => {
  const classes = ['down', 'go', '<silence>'];
  const matrix = [
    [50, 2, 0],
    [3, 40, 7],
    [0, 0, 48],
  ];
  const svg = confusionHeatmap({ id: 'cm', title: 'CM', classes, matrix });
  const cells = [
    ...svg.matchAll(/class="cell" data-true="([^"]*)" data-pred="([^"]*)" data-count="(\d+)"/g),
  ];
  assert.equal(cells.length, 9);
  assert.equal(
    cells.reduce((s, m) => s + Number(m[3]), 0),
    150,
  );
  assert.equal(cells[5]![1], 'go');
  assert.equal(cells[5]![2], '&lt;silence&gt;');
  assert.equal(cells[5]![3], '7');
  assert.ok(!svg.includes('<silence>'));
  assert.throws(
    () =>
      confusionHeatmap({
        id: 'x',
        title: 'x',
        classes,
        matrix: [
          [1, 2],
          [3, 4],
        ],
      }),
    RangeError,
  );
});

// ---------------------------------------------------------------- HTML / Markdown / files

test('HTML: self-contained, escaped, with every section and the numbers from the data', () => {
  const data = sampleReport({ withLatency: true });
  data.title = 'Report <script>alert(1)</script> & "quotes"';
  const html = renderHtml(data);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(!/<script/i.test(html), 'no scripts');
  assert.ok(!/(src|href)=|url\(|@import/i.test(html), 'no external references');
  assert.match(
    html,
    /<h1>Report &lt;script&gt;alert\(1\)&lt;\/script&gt; &amp; &quot;quotes&quot;<\/h1>/,
  );
  for (const id of [
    'headline',
    'pareto',
    'layers',
    'confusion',
    'sweep',
    'notes',
    'settings',
    'command',
  ])
    assert.match(html, new RegExp(`<section id="${id}">`));
  assert.equal(html.match(/<svg /g)?.length, 8); // 3 Pareto, 3 layer, 2 confusion
  assert.ok(html.includes(data.unpruned.params.toLocaleString('en-US')));
  assert.ok(html.includes(formatChange(data.unpruned.params, data.pruned!.params)));
  const f = data.unpruned.floatTest!;
  assert.ok(html.includes(`${f.correct}/${f.n}, 95% CI ${(f.ci95[0] * 100).toFixed(1)}\u2013`));
  assert.ok(html.includes('Paper unpruned') && html.includes('904 ms'));
  assert.ok(html.includes(escapeXml(data.command)));
  assert.ok(html.includes('train.optimizer') && html.includes('[0.001,0.0005,0.00025]'));
  // Sweep table: one body row per sweep row.
  const sweep = /<table class="sweep">[\s\S]*?<\/table>/.exec(html)![0];
  assert.equal(sweep.match(/<tr>/g)!.length, data.sweep.length + 1);
});

test('HTML without pruned model, paper or latency still renders, leaving those parts out', () => {
  const data = sampleReport();
  delete data.pruned;
  delete data.paper;
  delete data.notes;
  const html = renderHtml(data);
  assert.ok(
    !html.includes('Paper unpruned') && !html.includes('<th class="num" scope="col">Pruned</th>'),
  );
  assert.ok(!html.includes('pareto-latency') && !html.includes('id="notes"'));
  assert.equal(html.match(/<svg /g)?.length, 6);
});

test('Markdown: aligned tables, same sweep rows, images that writeReport writes', () => {
  const data = sampleReport({ withLatency: true });
  data.command += ' --label "a|b"';
  const md = renderMarkdown(data);
  const tables = md.split('\n\n').filter((b) => b.startsWith('| '));
  assert.ok(tables.length >= 3);
  for (const t of tables) {
    const cols = t
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map((l) => l.replace(/\\\|/g, '').split('|').length);
    assert.ok(
      cols.every((c) => c === cols[0]),
      `ragged table:\n${t}`,
    );
  }
  const sweepMd = renderSweepMarkdown(data.sweep);
  assert.equal(sweepMd.split('\n').filter((l) => l.startsWith('| ')).length, data.sweep.length + 2);
  assert.equal(sweepMd.match(/\u2605 \|/g)?.length, paretoFront(data.sweep, 'params').length);
  assert.ok(md.includes(sweepMd.trim().split('\n')[2]!));
  assert.ok(md.includes(`\`\`\`sh\n${data.command}\n\`\`\``));

  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-report-'));
  try {
    const out = writeReport(dir, data);
    const refs = [...md.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]!);
    assert.equal(refs.length, 8);
    for (const r of refs) assert.ok(existsSync(join(dir, r)), r);
    assert.deepEqual(out.charts.map((p) => p.slice(dir.length + 1)).sort(), [...refs].sort());
    assert.equal(readFileSync(out.markdown, 'utf8'), md);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeReport: JSON round trip, no temp files left, replaces old files, rejects a file as folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-report-'));
  try {
    const data = sampleReport();
    writeFileSync(join(dir, 'report.html'), 'old');
    const out = writeReport(join(dir, 'sub'), data);
    assert.deepEqual(JSON.parse(readFileSync(out.json, 'utf8')), data);
    assert.equal(readFileSync(out.html, 'utf8'), renderHtml(data));
    writeReport(dir, sampleReport({ withLatency: true }));
    assert.ok(existsSync(join(dir, 'pareto-latency.svg')));
    const again = writeReport(dir, data);
    assert.ok(!existsSync(join(dir, 'pareto-latency.svg')), 'stale chart removed');
    assert.equal(readFileSync(again.html, 'utf8'), renderHtml(data));
    const files = [...readdirSync(dir), ...readdirSync(join(dir, 'sub'))];
    assert.ok(!files.some((f) => f.endsWith('.tmp')), files.join(' '));
    for (const svg of out.charts)
      assert.match(
        readFileSync(svg, 'utf8'),
        /^<\?xml [^\n]+\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/,
      );
    assert.throws(
      () => writeReport(join(dir, 'report.html'), data),
      (e: unknown) =>
        e instanceof TinypruneError && /is a file, expected a folder/.test((e as Error).message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
