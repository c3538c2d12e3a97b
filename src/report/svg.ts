// Small, dependency-free SVG charts: XY scatter/line charts (linear or log axes, error bars,
// legend), horizontal grouped bar charts and confusion-matrix heat maps.
//
// Every chart is one <svg role="img"> with a <title>, styled with presentation attributes (so a
// chart saved as its own .svg file looks the same as inline in HTML), and with classes tests
// and tools can query: .axis-x, .axis-y, .axis-label, .tick, .point, .error-bar, .series-line,
// .bar, .cell, .legend. All text is escaped.
import { escapeXml, formatCompact } from './format.js';

export type Marker = 'circle' | 'square' | 'diamond' | 'triangle';

export interface ChartPoint {
  x: number;
  y: number;
  /** Error bar bounds (same units as y). */
  yLow?: number;
  yHigh?: number;
  /** Hover text (rendered as the point's <title>). */
  tooltip?: string;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  color?: string;
  marker?: Marker;
  /** Connect the points (in the given order) with a line. */
  line?: boolean;
  dashed?: boolean;
  /** Draw markers (default true); a line-only series has no .point elements. */
  showPoints?: boolean;
  /** Extra class on the series group, e.g. "front". */
  className?: string;
}

/** Formats a tick value; `step` is the tick spacing on a linear axis (0 on a log axis). */
export type TickFormat = (value: number, step: number) => string;

export interface AxisSpec {
  label: string;
  scale?: 'linear' | 'log';
  format?: TickFormat;
  /** Force the domain to include these values (e.g. 0 or 1 for accuracy). */
  include?: number[];
}

export interface XYChartSpec {
  id: string;
  title: string;
  x: AxisSpec;
  y: AxisSpec;
  series: ChartSeries[];
  width?: number;
  height?: number;
}

/** Okabe–Ito colours: distinguishable with the common colour-vision deficiencies. */
export const PALETTE = [
  '#0072B2',
  '#D55E00',
  '#009E73',
  '#CC79A7',
  '#E69F00',
  '#56B4E9',
  '#F0E442',
];
const MARKERS: Marker[] = ['circle', 'square', 'diamond', 'triangle'];
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const INK = '#1f2328';
const MUTED = '#57606a';
const GRID = '#e6e8eb';

/** Rough text width for layout (no font metrics in Node): ~0.6 em per character. */
function textWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.6;
}

const r2 = (v: number) => Math.round(v * 100) / 100;

function svgOpen(id: string, title: string, width: number, height: number, kind: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${kind}" id="${escapeXml(id)}" ` +
    `role="img" aria-labelledby="${escapeXml(id)}-title" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="${escapeXml(FONT)}" font-size="12" fill="${INK}">` +
    `<title id="${escapeXml(id)}-title">${escapeXml(title)}</title>` +
    `<rect class="background" x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>` +
    `<text class="chart-title" x="${width / 2}" y="20" text-anchor="middle" font-size="14" ` +
    `font-weight="600">${escapeXml(title)}</text>`
  );
}

// ---------------------------------------------------------------- scales and ticks

/** "Nice" linear ticks (1, 2, 5 × 10^k spacing) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; step: number } {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(min / step + 1e-9) * step;
  const last = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= last + step * 1e-6; v += step) ticks.push(Number(v.toPrecision(12)));
  return { ticks, step };
}

/** Ticks for a log axis over [min, max] (both > 0): 1-2-5 per decade, finer when narrow. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const within = (mults: number[]) => {
    const out: number[] = [];
    for (let e = lo; e <= hi; e++)
      for (const m of mults) {
        const v = Number((m * 10 ** e).toPrecision(12));
        if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
      }
    return out;
  };
  for (const mults of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
    const t = within(mults);
    if (t.length >= 3 && t.length <= 12) return t;
  }
  // Very narrow range: linear nice ticks read fine on a log axis too.
  return niceTicks(min, max, 4).ticks.filter((v) => v >= min && v <= max && v > 0);
}

interface Scale {
  map(v: number): number;
  ticks: number[];
  step: number;
}

function makeScale(
  values: number[],
  axis: AxisSpec,
  from: number,
  to: number,
  tickCount = 5,
): Scale {
  const vals = [...values, ...(axis.include ?? [])].filter((v) => Number.isFinite(v));
  if (axis.scale === 'log') {
    const pos = vals.filter((v) => v > 0);
    let lo = pos.length ? Math.min(...pos) : 1;
    let hi = pos.length ? Math.max(...pos) : 10;
    // Pad by 8% of the span in log space (or ×/÷1.5 for a single value).
    const span = Math.log10(hi) - Math.log10(lo);
    const pad = span > 0 ? span * 0.08 : Math.log10(1.5);
    lo = 10 ** (Math.log10(lo) - pad);
    hi = 10 ** (Math.log10(hi) + pad);
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    return {
      map: (v) => from + ((Math.log10(v) - l0) / (l1 - l0)) * (to - from),
      ticks: logTicks(lo, hi),
      step: 0,
    };
  }
  let lo = vals.length ? Math.min(...vals) : 0;
  let hi = vals.length ? Math.max(...vals) : 1;
  const span = hi - lo;
  if (span > 0) {
    // Pad, but never across zero (bars and counts start at 0).
    lo = lo >= 0 ? Math.max(0, lo - span * 0.05) : lo - span * 0.05;
    hi += span * 0.05;
  }
  const { ticks, step } = niceTicks(lo, hi, tickCount);
  const d0 = ticks[0]!;
  const d1 = ticks[ticks.length - 1]!;
  return { map: (v) => from + ((v - d0) / (d1 - d0)) * (to - from), ticks, step };
}

/** Default tick labels: compact SI on log axes, decimals matching the step on linear ones. */
export const defaultFormat: TickFormat = (v, step) => {
  if (step === 0 || Math.abs(v) >= 1000) return formatCompact(v);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(digits);
};

/** Fractions as percentages with as many decimals as the tick step needs. */
export const percentFormat: TickFormat = (v, step) => {
  const digits = step > 0 ? Math.max(0, -Math.floor(Math.log10(step * 100) + 1e-9)) : 1;
  return `${(v * 100).toFixed(digits)}%`;
};

// ---------------------------------------------------------------- markers and legend

function markerShape(m: Marker, x: number, y: number, color: string, size = 4.5): string {
  const common = `fill="${color}" stroke="#ffffff" stroke-width="1"`;
  switch (m) {
    case 'square':
      return `<rect x="${r2(x - size)}" y="${r2(y - size)}" width="${2 * size}" height="${2 * size}" ${common}/>`;
    case 'diamond': {
      const s = size * 1.3;
      return `<path d="M${r2(x)} ${r2(y - s)}L${r2(x + s)} ${r2(y)}L${r2(x)} ${r2(y + s)}L${r2(x - s)} ${r2(y)}Z" ${common}/>`;
    }
    case 'triangle': {
      const s = size * 1.25;
      return `<path d="M${r2(x)} ${r2(y - s)}L${r2(x + s)} ${r2(y + s * 0.8)}L${r2(x - s)} ${r2(y + s * 0.8)}Z" ${common}/>`;
    }
    default:
      return `<circle cx="${r2(x)}" cy="${r2(y)}" r="${size}" ${common}/>`;
  }
}

interface LegendItem {
  name: string;
  color: string;
  marker?: Marker;
  dashed?: boolean;
  line?: boolean;
}

/** A legend laid out in rows starting at (x, y); returns its markup and height. */
function legend(items: LegendItem[], x: number, y: number, maxWidth: number) {
  const parts: string[] = [];
  let cx = x;
  let cy = y;
  for (const it of items) {
    const w = 22 + textWidth(it.name, 12) + 16;
    if (cx > x && cx + w > x + maxWidth) {
      cx = x;
      cy += 18;
    }
    const swatch = it.marker
      ? markerShape(it.marker, cx + 8, cy, it.color)
      : `<line x1="${cx}" y1="${cy}" x2="${cx + 16}" y2="${cy}" stroke="${it.color}" stroke-width="2"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`;
    const line =
      it.marker && it.line
        ? `<line x1="${cx}" y1="${cy}" x2="${cx + 16}" y2="${cy}" stroke="${it.color}" stroke-width="1.5"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`
        : '';
    parts.push(
      `<g class="legend-item">${line}${swatch}<text x="${r2(cx + 22)}" y="${cy + 4}">${escapeXml(it.name)}</text></g>`,
    );
    cx += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: cy - y + 18 };
}

// ---------------------------------------------------------------- XY chart

/** Scatter / line chart with axes, ticks, grid, axis labels, legend and optional error bars. */
export function xyChart(spec: XYChartSpec): string {
  const width = spec.width ?? 560;
  const height = spec.height ?? 380;
  const fmtX = spec.x.format ?? defaultFormat;
  const fmtY = spec.y.format ?? defaultFormat;
  const styled = spec.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length]!,
    marker: s.marker ?? MARKERS[i % MARKERS.length]!,
  }));

  const leg = legend(
    styled.map((s) => ({
      name: s.name,
      color: s.color,
      marker: s.showPoints === false ? undefined : s.marker,
      dashed: s.dashed,
      line: s.line,
    })),
    16,
    40,
    width - 32,
  );
  const ys = styled.flatMap((s) => s.points.flatMap((p) => [p.y, p.yLow ?? p.y, p.yHigh ?? p.y]));
  const xs = styled.flatMap((s) => s.points.map((p) => p.x));
  const yScaleProbe = makeScale(ys, spec.y, 0, 1, 6);
  const yTickWidth = Math.max(
    ...yScaleProbe.ticks.map((t) => textWidth(fmtY(t, yScaleProbe.step), 11)),
    10,
  );
  const left = Math.round(yTickWidth + 36);
  const right = 20;
  const top = 40 + leg.height + 6;
  const bottom = 50;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const sx = makeScale(xs, spec.x, left, left + plotW);
  const sy = makeScale(ys, spec.y, top + plotH, top, 6);
  const out: string[] = [svgOpen(spec.id, spec.title, width, height, 'chart-xy'), leg.svg];

  // Grid, axes and ticks.
  const xTicks = sx.ticks.map((t) => {
    const x = r2(sx.map(t));
    return (
      `<g class="tick"><line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="${GRID}"/>` +
      `<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 5}" stroke="${MUTED}"/>` +
      `<text x="${x}" y="${top + plotH + 18}" text-anchor="middle" font-size="11" fill="${MUTED}">${escapeXml(fmtX(t, sx.step))}</text></g>`
    );
  });
  const yTicks = sy.ticks.map((t) => {
    const y = r2(sy.map(t));
    return (
      `<g class="tick"><line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="${GRID}"/>` +
      `<line x1="${left - 5}" y1="${y}" x2="${left}" y2="${y}" stroke="${MUTED}"/>` +
      `<text x="${left - 8}" y="${y + 4}" text-anchor="end" font-size="11" fill="${MUTED}">${escapeXml(fmtY(t, sy.step))}</text></g>`
    );
  });
  out.push(
    `<g class="axis-x">${xTicks.join('')}<line class="domain" x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="${MUTED}"/>` +
      `<text class="axis-label" x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(spec.x.label)}</text></g>`,
    `<g class="axis-y">${yTicks.join('')}<line class="domain" x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="${MUTED}"/>` +
      `<text class="axis-label" transform="translate(14 ${r2(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(spec.y.label)}</text></g>`,
  );

  if (xs.length === 0)
    out.push(
      `<text class="no-data" x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle" fill="${MUTED}">no data</text>`,
    );

  // Series: lines first, then error bars and points on top.
  for (const s of styled) {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
    const cls = `series${s.className ? ` ${escapeXml(s.className)}` : ''}`;
    const g: string[] = [];
    if (s.line && pts.length > 1) {
      const d = pts.map((p, i) => `${i ? 'L' : 'M'}${r2(sx.map(p.x))} ${r2(sy.map(p.y))}`).join('');
      g.push(
        `<path class="series-line" d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      );
    }
    if (s.showPoints !== false)
      for (const p of pts) {
        const x = sx.map(p.x);
        const y = sy.map(p.y);
        let bar = '';
        if (p.yLow !== undefined && p.yHigh !== undefined) {
          const y0 = r2(sy.map(p.yLow));
          const y1 = r2(sy.map(p.yHigh));
          bar = `<path class="error-bar" d="M${r2(x)} ${y0}V${y1}M${r2(x - 3)} ${y0}H${r2(x + 3)}M${r2(x - 3)} ${y1}H${r2(x + 3)}" stroke="${s.color}" stroke-width="1" fill="none" opacity="0.7"/>`;
        }
        const tip = p.tooltip ? `<title>${escapeXml(p.tooltip)}</title>` : '';
        g.push(
          `<g class="point" data-x="${p.x}" data-y="${p.y}">${tip}${bar}${markerShape(s.marker, x, y, s.color)}</g>`,
        );
      }
    out.push(`<g class="${cls}" data-series="${escapeXml(s.name)}">${g.join('')}</g>`);
  }
  out.push('</svg>');
  return out.join('');
}

// ---------------------------------------------------------------- bar chart

export interface BarSeries {
  name: string;
  /** One value per category; undefined = no bar (e.g. a layer the pruned model lacks). */
  values: (number | undefined)[];
  color?: string;
}

export interface BarChartSpec {
  id: string;
  title: string;
  categories: string[];
  series: BarSeries[];
  valueLabel: string;
  categoryLabel: string;
  format?: TickFormat;
  width?: number;
}

/** Horizontal grouped bars: one row per category (readable with many long layer names). */
export function barChart(spec: BarChartSpec): string {
  const width = spec.width ?? 560;
  const fmt = spec.format ?? defaultFormat;
  const colors = spec.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]!);
  const leg = legend(
    spec.series.map((s, i) => ({ name: s.name, color: colors[i]!, marker: 'square' as Marker })),
    16,
    40,
    width - 32,
  );
  const maxLabel = 28;
  const short = (c: string) => (c.length > maxLabel ? `${c.slice(0, maxLabel - 1)}\u2026` : c);
  const left = Math.round(
    Math.min(220, Math.max(60, ...spec.categories.map((c) => textWidth(short(c), 11)))) + 40,
  );
  const right = 24;
  const top = 40 + leg.height + 6;
  const barH = spec.series.length > 1 ? 7 : 10;
  const rowH = barH * spec.series.length + 6;
  const plotH = Math.max(rowH, rowH * spec.categories.length);
  const bottom = 50;
  const height = top + plotH + bottom;
  const plotW = width - left - right;
  const values = spec.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const sx = makeScale([0, ...values], { label: spec.valueLabel }, left, left + plotW);
  // Bars start at 0, so drop the padding the scale added below 0.
  const out: string[] = [svgOpen(spec.id, spec.title, width, height, 'chart-bar'), leg.svg];

  const ticks = sx.ticks.filter((t) => t >= 0);
  const xTicks = ticks.map((t) => {
    const x = r2(sx.map(t));
    return (
      `<g class="tick"><line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="${GRID}"/>` +
      `<text x="${x}" y="${top + plotH + 18}" text-anchor="middle" font-size="11" fill="${MUTED}">${escapeXml(fmt(t, sx.step))}</text></g>`
    );
  });
  const x0 = r2(sx.map(0));
  out.push(
    `<g class="axis-x">${xTicks.join('')}<line class="domain" x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="${MUTED}"/>` +
      `<text class="axis-label" x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(spec.valueLabel)}</text></g>`,
  );
  const cats = spec.categories.map((c, i) => {
    const y = top + i * rowH + rowH / 2;
    return `<g class="tick"><text x="${left - 8}" y="${r2(y + 4)}" text-anchor="end" font-size="11" fill="${MUTED}"><title>${escapeXml(c)}</title>${escapeXml(short(c))}</text></g>`;
  });
  out.push(
    `<g class="axis-y">${cats.join('')}<line class="domain" x1="${x0}" y1="${top}" x2="${x0}" y2="${top + plotH}" stroke="${MUTED}"/>` +
      `<text class="axis-label" transform="translate(14 ${r2(top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(spec.categoryLabel)}</text></g>`,
  );
  const bars: string[] = [];
  spec.categories.forEach((c, i) => {
    spec.series.forEach((s, j) => {
      const v = s.values[i];
      if (v === undefined || !Number.isFinite(v)) return;
      const y = top + i * rowH + 3 + j * barH;
      const w = Math.max(0, sx.map(v) - x0);
      bars.push(
        `<rect class="bar" data-series="${escapeXml(s.name)}" data-category="${escapeXml(c)}" data-value="${v}" ` +
          `x="${x0}" y="${r2(y)}" width="${r2(Math.max(w, v > 0 ? 1 : 0))}" height="${barH - 1}" fill="${colors[j]}">` +
          `<title>${escapeXml(`${c} (${s.name}): ${formatCompact(v)}`)}</title></rect>`,
      );
    });
  });
  out.push(`<g class="bars">${bars.join('')}</g></svg>`);
  return out.join('');
}

// ---------------------------------------------------------------- heat map

export interface HeatmapSpec {
  id: string;
  title: string;
  classes: string[];
  /** matrix[true][predicted] counts */
  matrix: number[][];
  xLabel?: string;
  yLabel?: string;
}

/** Confusion-matrix heat map; colour = share of the true class's examples (row-normalised). */
export function confusionHeatmap(spec: HeatmapSpec): string {
  const n = spec.classes.length;
  if (spec.matrix.length !== n || spec.matrix.some((r) => r.length !== n))
    throw new RangeError(
      `confusion matrix must be ${n}x${n} (one row and column per class), got ${spec.matrix.length} rows`,
    );
  const cell = n <= 4 ? 56 : n <= 8 ? 40 : 32;
  const labelW = Math.min(140, Math.max(40, ...spec.classes.map((c) => textWidth(c, 11)))) + 12;
  const left = 30 + labelW;
  const top = 40;
  const plotW = cell * n;
  const bottom = Math.round(labelW * 0.87) + 34; // class names rotated by 60°
  const width = Math.max(left + plotW + 20, textWidth(spec.title, 14) + 32);
  const height = top + plotW + bottom;
  const out: string[] = [svgOpen(spec.id, spec.title, width, height, 'chart-heatmap')];
  const cells: string[] = [];
  spec.matrix.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const share = total > 0 ? count / total : 0;
      // White → blue (#0b4f8a) by share.
      const mix = (a: number, b: number) => Math.round(a + (b - a) * share);
      const fill = `rgb(${mix(255, 11)},${mix(255, 79)},${mix(255, 138)})`;
      const x = left + j * cell;
      const y = top + i * cell;
      const tip = `true ${spec.classes[i]}, predicted ${spec.classes[j]}: ${count} (${(share * 100).toFixed(1)}% of ${total})`;
      cells.push(
        `<g class="cell" data-true="${escapeXml(spec.classes[i])}" data-pred="${escapeXml(spec.classes[j])}" data-count="${count}">` +
          `<title>${escapeXml(tip)}</title>` +
          `<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ffffff"/>` +
          (count > 0
            ? `<text x="${x + cell / 2}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="${cell >= 40 ? 12 : 10}" fill="${share > 0.5 ? '#ffffff' : INK}">${count}</text>`
            : '') +
          `</g>`,
      );
    });
  });
  out.push(`<g class="cells">${cells.join('')}</g>`);
  const xt = spec.classes.map((c, j) => {
    const x = left + j * cell + cell / 2;
    return `<g class="tick"><text transform="translate(${x + 4} ${top + plotW + 8}) rotate(-60)" text-anchor="end" font-size="11" fill="${MUTED}">${escapeXml(c)}</text></g>`;
  });
  const yt = spec.classes.map((c, i) => {
    const y = top + i * cell + cell / 2 + 4;
    return `<g class="tick"><text x="${left - 6}" y="${y}" text-anchor="end" font-size="11" fill="${MUTED}">${escapeXml(c)}</text></g>`;
  });
  out.push(
    `<g class="axis-x">${xt.join('')}<text class="axis-label" x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(spec.xLabel ?? 'Predicted class')}</text></g>`,
    `<g class="axis-y">${yt.join('')}<text class="axis-label" transform="translate(14 ${top + plotW / 2}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel ?? 'True class')}</text></g>`,
    '</svg>',
  );
  return out.join('');
}
