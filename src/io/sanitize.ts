// Strings from model files (model, layer, tensor and op names, descriptions) are data: wherever
// they cross into another language they go through one of these. C: names only ever appear in
// comments and string literals, identifiers come from our own counters. Terminal: control
// characters and bidirectional overrides are shown escaped, so a name cannot forge log lines,
// move the cursor or reorder what is displayed. (HTML/SVG/Markdown: src/report/format.ts.)

/** Longest name kept in generated comments (longer ones are cut with "…"). */
const MAX_COMMENT = 120;

/** Unicode bidirectional controls ("Trojan Source"): invisible, they reorder displayed text. */
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/**
 * `s` for a terminal or log line: C0/C1 controls, DEL and bidi controls as `\xHH` / `\u{HHHH}`,
 * so the result is one line that shows what the string holds.
 */
export function logSafe(s: string): string {
  return s
    .replace(
      /[\u0000-\u001F\u007F-\u009F]/g,
      (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    )
    .replace(BIDI, (c) => `\\u{${c.charCodeAt(0).toString(16).toUpperCase()}}`);
}

/**
 * Text that is safe inside a C block comment `/* … *\/` on one line: printable ASCII only
 * (others become '?'), no comment delimiters, no trigraphs (`??/` would be a backslash that
 * splices lines), no line ends, at most MAX_COMMENT characters.
 */
export function cComment(s: string): string {
  let t = s.replace(/[^\x20-\x7E]/g, '?');
  // Repeat until stable: removing one delimiter must not create another ("*//*/").
  for (let prev = ''; prev !== t;) {
    prev = t;
    t = t.replace(/\*\//g, '*_/').replace(/\/\*/g, '/_*').replace(/\?\?/g, '?_?');
  }
  if (t.length > MAX_COMMENT) t = `${t.slice(0, MAX_COMMENT - 3)}...`;
  return t;
}

/**
 * The contents of a C string literal (without the quotes) holding `s` as UTF-8: `"`, `\` and
 * `?` (trigraphs) escaped, everything outside printable ASCII as three-digit octal escapes
 * (hex escapes would swallow following hex digits).
 */
export function cString(s: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(byte);
    if (c === '"' || c === '\\' || c === '?') out += `\\${c}`;
    else if (byte >= 0x20 && byte <= 0x7e) out += c;
    else out += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** A C identifier from our own counter: `prefix` + index (never from a name in a file). */
export function cIdentifierFrom(prefix: string, index: number): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(prefix))
    throw new Error(`cIdentifierFrom: "${prefix}" is not a C identifier prefix`);
  if (!Number.isSafeInteger(index) || index < 0)
    throw new Error(`cIdentifierFrom: ${index} is not a non-negative integer`);
  return `${prefix}${index}`;
}
