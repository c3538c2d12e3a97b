// MFCC / LFBE frontend throughput on the real EEMBC clips (clips per second, median of runs).
// Run alone: node --import tsx bench/mfcc.ts [runs]

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { lfbe, mfcc, peakNormalize } from '../src/data/index.js';

const DIR = fileURLToPath(new URL('../../shared/data/eembc_kws01/td_samples', import.meta.url));

function loadClips(): Float32Array[] {
  if (!existsSync(DIR)) {
    console.log(`skipped: ${DIR} is absent (bench needs ../shared)`);
    process.exit(0);
  }
  return readdirSync(DIR)
    .filter((f) => f.endsWith('.bin'))
    .map((f) => {
      const b = readFileSync(`${DIR}/${f}`);
      return peakNormalize(
        Float32Array.from(new Int16Array(b.buffer, b.byteOffset, 16000), (v) => v / 32768),
      );
    });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface FrontendBenchRow {
  name: string;
  /** Wall clock (what a user sees; noisy on a shared machine). */
  clipsPerSecond: number;
  usPerClip: number;
  /** Per second of this process's CPU time (less sensitive to other load). */
  clipsPerCpuSecond: number;
}

export function benchFrontends(runs = 5): FrontendBenchRow[] {
  const clips = loadClips();
  const out = new Float32Array(490);
  const rows: FrontendBenchRow[] = [];
  for (const [name, fn] of [
    ['mfcc', mfcc],
    ['lfbe', lfbe],
  ] as const) {
    for (const c of clips.slice(0, 50)) fn(c, out); // warm-up (JIT)
    const rates: number[] = [];
    const cpuRates: number[] = [];
    for (let r = 0; r < runs; r++) {
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      for (const c of clips) fn(c, out);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(c0);
      rates.push(clips.length / s);
      cpuRates.push(clips.length / ((cpu.user + cpu.system) / 1e6));
    }
    const rate = median(rates);
    rows.push({
      name,
      clipsPerSecond: rate,
      usPerClip: 1e6 / rate,
      clipsPerCpuSecond: median(cpuRates),
    });
  }
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const runs = Number(process.argv[2] ?? 5);
  const rows = benchFrontends(runs);
  console.log(`frontend throughput, ${runs} runs over the EEMBC KWS clips (median)`);
  console.log('| frontend | clips/s (wall) | µs/clip (wall) | clips per CPU-second |');
  console.log('| --- | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.clipsPerSecond.toFixed(0)} | ${r.usPerClip.toFixed(0)} | ${r.clipsPerCpuSecond.toFixed(0)} |`,
    );
}
