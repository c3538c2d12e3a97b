// Progress display for long CLI stages. On a terminal: one bar with ETA on stderr, redrawn in
// place (throttled). Otherwise: a plain log line every 10% or every 5 s. `json`: the same
// events as JSON lines (for tools). `quiet`: nothing.

/** The part of a stream progress needs (process.stderr fits; tests pass a fake). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  quiet?: boolean;
  json?: boolean;
  /** Default: process.stderr (stdout stays free for the command's result). */
  stream?: ProgressStream;
  /** Milliseconds clock (default Date.now); tests pass a fake one. */
  now?: () => number;
  /** Plain/JSON mode: log at least every this many ms while ticking (default 5000). */
  logEveryMs?: number;
  /** TTY mode: redraw at most every this many ms (default 100). */
  redrawMs?: number;
}

export interface Progress {
  /** Advance by `n` (default 1); `info` is a short status shown after the counts. */
  tick(n?: number, info?: string): void;
  /** Finish: the final line (bar completed on a TTY). Further calls do nothing. */
  done(info?: string): void;
}

/** Seconds as "m:ss" or "h:mm:ss"; "--:--" when unknown. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Seconds left at the average rate so far; undefined before the first step. */
export function etaSeconds(done: number, total: number, elapsedMs: number): number | undefined {
  if (done <= 0 || total <= 0) return undefined;
  return Math.max(0, ((elapsedMs / 1000) * (total - done)) / done);
}

/** One plain log line, e.g. "train: 30/100 (30%) elapsed 0:12, eta 0:28 · loss 0.41". */
export function formatProgressLine(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  info?: string,
): string {
  const pct = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : '';
  const eta = formatDuration(etaSeconds(done, total, elapsedMs));
  return `${label}: ${done}/${total}${pct} elapsed ${formatDuration(elapsedMs / 1000)}, eta ${eta}${info ? ` \u00b7 ${info}` : ''}`;
}

/** One terminal bar line fitting `columns`, e.g. "train [#####-----] 30/100 30% 0:12<0:28 loss". */
export function formatBar(
  label: string,
  done: number,
  total: number,
  elapsedMs: number,
  columns: number,
  info?: string,
): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const counts = `${done}/${total} ${String(Math.floor(frac * 100)).padStart(3)}%`;
  const times = `${formatDuration(elapsedMs / 1000)}<${formatDuration(etaSeconds(done, total, elapsedMs))}`;
  const fixed = `${label} [] ${counts} ${times}`;
  const barWidth = Math.max(5, Math.min(30, columns - fixed.length - 1));
  const filled = Math.round(frac * barWidth);
  const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${counts} ${times}`;
  // Never wrap (a wrapped line cannot be redrawn in place): the info gets what room is left.
  const room = columns - 1 - line.length - 1;
  if (!info || room < 4) return line.slice(0, Math.max(1, columns - 1));
  return `${line} ${info.length > room ? `${info.slice(0, room - 1)}\u2026` : info}`;
}

const NOOP: Progress = { tick() {}, done() {} };

/** Starts a progress display for `total` steps of `label`. */
export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (!Number.isFinite(total) || total < 0)
    throw new RangeError(`progress(${label}): total must be a finite number >= 0, got ${total}`);
  if (opts.quiet) return NOOP;
  const stream: ProgressStream = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  const logEveryMs = opts.logEveryMs ?? 5000;
  const redrawMs = opts.redrawMs ?? 100;
  const start = now();
  const mode = opts.json ? 'json' : stream.isTTY ? 'tty' : 'plain';
  let count = 0;
  let finished = false;
  let lastOut = start;
  let lastBucket = 0;
  let lastInfo: string | undefined;

  const emit = (event: 'progress' | 'done', info?: string) => {
    const elapsed = now() - start;
    if (mode === 'json') {
      const eta = etaSeconds(count, total, elapsed);
      const rec: Record<string, unknown> = {
        type: event === 'done' ? 'progress-done' : 'progress',
        label,
        done: count,
        total,
        elapsedS: Math.round(elapsed) / 1000,
      };
      if (event === 'progress' && eta !== undefined) rec.etaS = Math.round(eta * 1000) / 1000;
      if (info !== undefined) rec.info = info;
      stream.write(`${JSON.stringify(rec)}\n`);
    } else if (mode === 'tty') {
      const line = formatBar(label, count, total, elapsed, stream.columns ?? 80, info);
      stream.write(`\r${line}\x1b[K${event === 'done' ? '\n' : ''}`);
    } else if (event === 'done') {
      stream.write(
        `${label}: done ${count}/${total} in ${formatDuration(elapsed / 1000)}${info ? ` \u00b7 ${info}` : ''}\n`,
      );
    } else {
      stream.write(`${formatProgressLine(label, count, total, elapsed, info)}\n`);
    }
    lastOut = now();
  };

  return {
    tick(n = 1, info) {
      if (finished) return;
      count += n;
      if (info !== undefined) lastInfo = info;
      const t = now();
      if (mode === 'tty') {
        if (t - lastOut >= redrawMs || count >= total) emit('progress', lastInfo);
        return;
      }
      // Plain and JSON: each new 10% (the 100% line comes from done()) or every logEveryMs.
      const bucket = total > 0 ? Math.floor((count / total) * 10) : 0;
      if ((bucket > lastBucket && count < total) || t - lastOut >= logEveryMs) {
        lastBucket = Math.max(lastBucket, bucket);
        emit('progress', lastInfo);
      }
    },
    done(info) {
      if (finished) return;
      finished = true;
      emit('done', info ?? lastInfo);
    },
  };
}
