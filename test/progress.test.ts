import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  etaSeconds,
  formatBar,
  formatDuration,
  formatProgressLine,
  progress,
} from '../src/cli/progress.js';

/** A stream that records writes, and a clock the test moves by hand. */
function fakes(isTTY = false, columns = 80) {
  const writes: string[] = [];
  let t = 1_000_000;
  return {
    writes,
    stream: { write: (s: string) => writes.push(s), isTTY, columns },
    now: () => t,
    advance: (ms: number) => (t += ms),
  };
}

test('durations format as m:ss / h:mm:ss, unknown as --:--', () => {
  assert.equal(formatDuration(0), '0:00');
  assert.equal(formatDuration(5), '0:05');
  assert.equal(formatDuration(59.6), '1:00');
  assert.equal(formatDuration(65), '1:05');
  assert.equal(formatDuration(3725), '1:02:05');
  assert.equal(formatDuration(36000), '10:00:00');
  assert.equal(formatDuration(undefined), '--:--');
  assert.equal(formatDuration(NaN), '--:--');
  assert.equal(formatDuration(Infinity), '--:--');
});

test('ETA is the remaining work at the average rate so far', () => {
  assert.equal(etaSeconds(0, 100, 5000), undefined);
  assert.equal(etaSeconds(25, 100, 10_000), 30);
  assert.equal(etaSeconds(100, 100, 10_000), 0);
  assert.equal(
    formatProgressLine('train', 25, 100, 10_000, 'loss 0.41'),
    'train: 25/100 (25%) elapsed 0:10, eta 0:30 \u00b7 loss 0.41',
  );
});

test('non-TTY: one line per 10% and a final done line, none in between', () => {
  const f = fakes(false);
  const p = progress('sweep', 100, { stream: f.stream, now: f.now });
  for (let i = 0; i < 100; i++) {
    f.advance(20); // 2 s in all: the 5 s time trigger never fires
    p.tick();
  }
  p.done();
  const lines = f.writes.join('').trimEnd().split('\n');
  assert.equal(lines.length, 10, lines.join('\n'));
  for (let k = 1; k <= 9; k++)
    assert.match(lines[k - 1]!, new RegExp(`^sweep: ${k * 10}/100 \\(${k * 10}%\\)`));
  // At 50/100 after 1 s, 50 more steps take 1 s.
  assert.match(lines[4]!, /elapsed 0:01, eta 0:01$/);
  assert.equal(lines[9], 'sweep: done 100/100 in 0:02');
  assert.ok(!f.writes.join('').includes('\r'), 'no carriage returns off a terminal');
});

test('non-TTY: slow steps log every 5 s even inside one 10% bucket', () => {
  const f = fakes(false);
  const p = progress('train', 1000, { stream: f.stream, now: f.now });
  for (let i = 0; i < 30; i++) {
    f.advance(1000);
    p.tick(1, `step ${i + 1}`);
  }
  const lines = f.writes.join('').trimEnd().split('\n');
  assert.equal(lines.length, 6); // at 5, 10, …, 30 s
  assert.match(lines[0]!, /^train: 5\/1000 \(0%\) elapsed 0:05, eta 16:35 · step 5$/);
});

test('quiet writes nothing; JSON writes parseable progress events', () => {
  const q = fakes(false);
  const p = progress('x', 10, { quiet: true, stream: q.stream, now: q.now });
  for (let i = 0; i < 10; i++) p.tick();
  p.done();
  assert.deepEqual(q.writes, []);

  const f = fakes(true);
  const j = progress('calib', 4, { json: true, stream: f.stream, now: f.now });
  for (let i = 0; i < 4; i++) {
    f.advance(500);
    j.tick(1, `batch ${i}`);
  }
  j.done();
  const events = f.writes
    .join('')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(events.length, 4); // 25%, 50%, 75%, done
  assert.deepEqual(events[0], {
    type: 'progress',
    label: 'calib',
    done: 1,
    total: 4,
    elapsedS: 0.5,
    etaS: 1.5,
    info: 'batch 0',
  });
  assert.deepEqual(events[3], {
    type: 'progress-done',
    label: 'calib',
    done: 4,
    total: 4,
    elapsedS: 2,
    info: 'batch 3',
  });
});

test('TTY: redraws in place, throttled, within the terminal width, newline at the end', () => {
  const f = fakes(true, 60);
  const p = progress('deploy', 1000, { stream: f.stream, now: f.now, redrawMs: 100 });
  for (let i = 0; i < 1000; i++) {
    f.advance(1); // 1 s in all → about 10 redraws, not 1000
    p.tick(1, 'a long status message that would not fit on the line at all');
  }
  p.done();
  assert.ok(f.writes.length >= 9 && f.writes.length <= 12, `${f.writes.length} writes`);
  for (const w of f.writes) {
    assert.ok(w.startsWith('\r') && w.includes('\x1b[K'));
    const visible = w.replace('\r', '').replace('\x1b[K', '').replace('\n', '');
    assert.ok(visible.length <= 59, `${visible.length}: ${visible}`);
  }
  assert.ok(f.writes.at(-1)!.endsWith('\n'));
  assert.match(f.writes.at(-1)!, /\[#+\] 1000\/1000 100% 0:01<0:00/);
  const withInfo = formatBar('q', 5, 10, 2000, 70, 'loss 0.4123456789 acc 0.91');
  assert.ok(withInfo.length <= 69 && withInfo.includes(' 5/10  50% 0:02<0:02 loss 0.41'), withInfo);
  assert.ok(withInfo.endsWith('\u2026'));
  assert.equal(
    formatBar('q', 5, 10, 2000, 80),
    'q [###############---------------] 5/10  50% 0:02<0:02',
  );
});

test('done is idempotent; ticks after done are ignored; bad totals are rejected', () => {
  const f = fakes(false);
  const p = progress('x', 2, { stream: f.stream, now: f.now });
  p.tick(2);
  p.done();
  p.tick();
  p.done();
  assert.deepEqual(f.writes, ['x: done 2/2 in 0:00\n']);
  assert.throws(() => progress('x', -1), RangeError);
  assert.throws(() => progress('x', NaN), RangeError);
});
