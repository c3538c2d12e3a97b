/** Small helpers for readable terminal tables. */
import { logSafe } from '../io/sanitize.js';

export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatKB(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

/** Renders rows as an aligned text table; numeric-looking cells are right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  // Names come from model files: shown escaped (io/sanitize.ts), one line per row.
  const cells = [header, ...rows.map((r) => r.map((c) => logSafe(String(c))))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const numeric = header.map(
    (_, c) => rows.length > 0 && rows.every((r) => /^[-\d.,%]+$/.test(String(r[c] ?? ''))),
  );
  const line = (r: string[]) =>
    r
      .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map(line),
  ].join('\n');
}
