// Number and text formatting shared by the HTML, Markdown and SVG renderers.
import type { AccuracyStat } from './types.js';

/** Escapes text for HTML/XML content and attribute values; drops characters XML forbids. */
export function escapeXml(text: unknown): string {
  return String(text)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/**
 * Escapes text for Markdown (a table cell or a line): pipes, newlines, HTML-ish characters, and
 * the characters that start links, images, code and emphasis, so a name from a model file stays
 * text (no `[x](javascript:…)`, no `![](tracker)`).
 */
export function escapeMd(text: unknown): string {
  return String(text)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '\uFFFD')
    .replace(/[\\|`*_[\]~]/g, (c) => `\\${c}`)
    .replace(/[<>&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&amp;'))
    .replace(/\r?\n|\r/g, ' ');
}

/** 221794 → "221,794" */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Compact SI count: 950 → "950", 15400 → "15.4K", 7490000 → "7.49M". */
export function formatCompact(n: number): string {
  const a = Math.abs(n);
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, suffix] of units)
    if (a >= size) return `${trimZeros((n / size).toPrecision(3))}${suffix}`;
  return Number.isInteger(n) ? String(n) : trimZeros(n.toPrecision(3));
}

function trimZeros(s: string): string {
  return s.includes('.') && !s.includes('e') ? s.replace(/\.?0+$/, '') : s;
}

/** Bytes as KB (1024) with one decimal: 344064 → "336.0 KB". */
export function formatKB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** Fraction as a percentage: 0.8562 → "85.62%". */
export function formatPct(fraction: number, digits = 2): string {
  return `${(fraction * 100).toFixed(digits)}%`;
}

/** Signed percentage-point difference: -0.0065 → "−0.65 pp". */
export function formatPp(fraction: number, digits = 2): string {
  const v = fraction * 100;
  const s = Math.abs(v).toFixed(digits);
  return `${v < 0 && Number(s) !== 0 ? '\u2212' : v > 0 && Number(s) !== 0 ? '+' : ''}${s} pp`;
}

/** Signed relative change of `after` vs `before`: (15.4K, 221.8K) → "−93.1%". */
export function formatChange(before: number, after: number): string {
  if (before === 0) return after === 0 ? '0%' : 'n/a';
  const v = ((after - before) / before) * 100;
  const s = Math.abs(v).toFixed(1);
  return `${v < 0 && Number(s) !== 0 ? '\u2212' : v > 0 && Number(s) !== 0 ? '+' : ''}${s}%`;
}

/** "85.62% (856/1000, 95% CI 83.3–87.7%)" */
export function formatAccuracy(a: AccuracyStat): string {
  return `${formatPct(a.accuracy)} (${a.correct}/${a.n}, 95% CI ${formatCi(a)})`;
}

/** "83.3–87.7%" */
export function formatCi(a: AccuracyStat): string {
  return `${(a.ci95[0] * 100).toFixed(1)}\u2013${(a.ci95[1] * 100).toFixed(1)}%`;
}

/** Milliseconds: 904.2 → "904 ms", 12.34 → "12.3 ms", 0.5 → "0.50 ms". */
export function formatMs(ms: number): string {
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** Settings values as one readable line. */
export function formatSetting(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}
