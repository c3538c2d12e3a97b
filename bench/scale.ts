// Full-size data on one machine (`npm run bench scale`): builds, from ../shared, a Speech
// Commands release layout and a VWW person/non_person JPEG folder set of up to 100,000
// examples each (seeded replicas with perturbation and new speaker ids, under a temp folder,
// reused when present), then runs `tinyprune prune` for one epoch at several sizes N:
// KWS block 2 + aux (distilled, 4 views) and VWW block 5 + aux (distilled, 8 views). Reports,
// per task and N:
// - peak resident memory of the prune process (/usr/bin/time -v), and its growth over N;
// - extraction examples/s: examples extracted per second of wall clock, where an example is one
//   source example in one view (clean or augmented) of one split: train × (views + 1) + val +
//   test, each loaded and preprocessed once (the unpruned model's outputs come from the same
//   loads); the seconds are the extraction stage's wall clock (loading, decoding, MFCC / image
//   preprocessing, the frozen tail, the teacher, encoding, writing);
// - the same per CPU: CPU-milliseconds of the whole process (every thread) per example, and
//   the 2-core capacity 2 / (CPU-s per example), what two otherwise idle cores would give;
// - head training examples/s: rows served in the one epoch (train × (views + 1)) per second.
// Env: BENCH_SCALE_N (default 10000,30000,100000), BENCH_SCALE_TASKS (kws,vww),
// BENCH_SCALE_DIR (default $TMPDIR/tinyprune-scale), BENCH_SCALE_KEEP=1 keeps feature caches.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../src/data/random.js';
import { parseWav } from '../src/data/wav.js';
import { openDataset } from '../src/data/open.js';
import { loadRange } from '../src/prune/features/views.js';
import type { BenchReport, BenchRow } from './run.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHARED = join(ROOT, '..', 'shared');
const DATA = join(SHARED, 'data');
const MODELS = join(SHARED, 'models', 'mlperf_tiny');
const DIR = process.env.BENCH_SCALE_DIR ?? join(tmpdir(), 'tinyprune-scale');
const SIZES = (process.env.BENCH_SCALE_N ?? '10000,30000,100000').split(',').map(Number);
const TASKS = (process.env.BENCH_SCALE_TASKS ?? 'kws,vww').split(',');
const MAX = Math.max(...SIZES);
const GB = 1e9;

const hex8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);

/** A canonical 16-bit mono 16 kHz WAV file. */
function wavBytes(samples: Int16Array): Buffer {
  const b = Buffer.alloc(44 + 2 * samples.length);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + 2 * samples.length, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(2 * samples.length, 40);
  Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).copy(b, 44);
  return b;
}

interface Clip {
  word: string;
  speaker: string;
  take: string;
  samples: Int16Array;
}

/** The shared test clips (keywords and unknown words; silence comes from the noise folder). */
function sharedClips(): Clip[] {
  const root = join(DATA, 'speech_commands_v2_test');
  const clips: Clip[] = [];
  for (const folder of readdirSync(root).sort()) {
    if (folder === '_silence_' || !statSync(join(root, folder)).isDirectory()) continue;
    for (const f of readdirSync(join(root, folder)).sort()) {
      // _unknown_/backward_0cb74144_nohash_2.wav.wav → word backward, speaker 0cb74144
      const m = /^(?:([a-z]+)_)?([0-9a-f]{8})_nohash_(\d+)\.wav/.exec(f);
      if (!m) continue;
      const word = folder === '_unknown_' ? m[1]! : folder;
      const samples = parseWav(readFileSync(join(root, folder, f)), f).samples;
      clips.push({ word, speaker: m[2]!, take: m[3]!, samples });
    }
  }
  return clips;
}

/** The N-clip layout: a prefix of the MAX-clip master set, hard-linked (no extra disk). */
export function kwsLayout(n: number): string {
  const master = join(DIR, `kws-master-${MAX}`);
  const done = join(master, '.complete');
  if (!existsSync(done)) {
    console.error(`building ${MAX} Speech Commands clips under ${master}…`);
    rmSync(master, { recursive: true, force: true });
    const clips = sharedClips();
    const order: string[] = [];
    const validation: string[] = [];
    const testing: string[] = [];
    for (let k = 0; order.length < MAX; k++) {
      const c = clips[k % clips.length]!;
      const r = Math.floor(k / clips.length);
      const rng = new Rng(k * 7919 + 13);
      // Replica r of a speaker is a new speaker; its clips are shifted, scaled and noised.
      const speaker = r === 0 ? c.speaker : hex8(`${c.speaker}/${r}`);
      const shift = r === 0 ? 0 : rng.int(3201) - 1600;
      const gain = r === 0 ? 1 : rng.uniform(0.6, 1.0);
      const noise = r === 0 ? 0 : rng.uniform(30, 300);
      const out = new Int16Array(c.samples.length);
      for (let i = 0; i < out.length; i++) {
        const j = i - shift;
        const v =
          (j >= 0 && j < c.samples.length ? c.samples[j]! : 0) * gain + noise * rng.normal();
        out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
      }
      const rel = `${c.word}/${speaker}_nohash_${c.take}.wav`;
      mkdirSync(join(master, c.word), { recursive: true });
      if (existsSync(join(master, rel))) continue; // same speaker, word and take twice
      writeFileSync(join(master, rel), wavBytes(out));
      order.push(rel);
      // The release's rule: a speaker's clips all go to one partition, by a hash of the name.
      const bucket = parseInt(hex8(speaker), 16) % 10;
      if (bucket === 0) validation.push(rel);
      else if (bucket === 1) testing.push(rel);
    }
    writeFileSync(join(master, 'order.txt'), order.join('\n') + '\n');
    writeFileSync(join(master, 'validation_list.txt'), validation.join('\n') + '\n');
    writeFileSync(join(master, 'testing_list.txt'), testing.join('\n') + '\n');
    writeFileSync(done, '');
  }
  const dir = join(DIR, `kws-${n}`);
  if (!existsSync(join(dir, '.complete'))) {
    rmSync(dir, { recursive: true, force: true });
    const order = readFileSync(join(master, 'order.txt'), 'utf8').split('\n').filter(Boolean);
    const keep = new Set(order.slice(0, n));
    for (const rel of keep) {
      mkdirSync(join(dir, rel.split('/')[0]!), { recursive: true });
      linkSync(join(master, rel), join(dir, rel));
    }
    for (const list of ['validation_list.txt', 'testing_list.txt']) {
      const rows = readFileSync(join(master, list), 'utf8').split('\n');
      writeFileSync(join(dir, list), rows.filter((r) => keep.has(r)).join('\n') + '\n');
    }
    const noise = join(dir, '_background_noise_');
    mkdirSync(noise);
    const src = join(DATA, 'speech_commands_background_noise');
    for (const f of readdirSync(src))
      if (f.endsWith('.wav')) linkOrCopy(join(src, f), join(noise, f));
    writeFileSync(join(dir, '.complete'), '');
  }
  return dir;
}

function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    writeFileSync(to, readFileSync(from));
  }
}

/** The N-image VWW folder set (person/ non_person/ JPEG), a hard-linked prefix of the master. */
export async function vwwLayout(n: number): Promise<string> {
  const master = join(DIR, `vww-master-${MAX}`);
  const done = join(master, '.complete');
  if (!existsSync(done)) {
    console.error(`building ${MAX} VWW JPEG images under ${master}…`);
    rmSync(master, { recursive: true, force: true });
    const src = join(DATA, 'eembc_vww01');
    const rows = readFileSync(join(src, 'y_labels.csv'), 'utf8')
      .split(/\r?\n/)
      .filter((l) => l.trim())
      .map((l) => l.split(',').map((c) => c.trim()));
    const images = rows.map(([file, , label]) => ({
      cls: label === '1' ? 'person' : 'non_person',
      rgb: readFileSync(join(src, file!)),
    }));
    for (const c of ['person', 'non_person']) mkdirSync(join(master, c), { recursive: true });
    const order: string[] = [];
    const one = async (k: number) => {
      const im = images[k % images.length]!;
      const r = Math.floor(k / images.length);
      const rng = new Rng(k * 104729 + 7);
      // Replicas: mirrored on odd rounds, shifted up to 4 px, brightness ×0.8–1.2, pixel noise.
      const flip = r % 2 === 1;
      const dx = r === 0 ? 0 : rng.int(9) - 4;
      const dy = r === 0 ? 0 : rng.int(9) - 4;
      const gain = r === 0 ? 1 : rng.uniform(0.8, 1.2);
      const noise = r === 0 ? 0 : rng.uniform(0, 6);
      const out = Buffer.alloc(96 * 96 * 3);
      for (let y = 0; y < 96; y++)
        for (let x = 0; x < 96; x++) {
          const sx = Math.min(95, Math.max(0, (flip ? 95 - x : x) + dx));
          const sy = Math.min(95, Math.max(0, y + dy));
          for (let ch = 0; ch < 3; ch++) {
            const v = im.rgb[(sy * 96 + sx) * 3 + ch]! * gain + noise * rng.normal();
            out[(y * 96 + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(v)));
          }
        }
      const rel = `${im.cls}/img_${String(k).padStart(6, '0')}.jpg`;
      await sharp(out, { raw: { width: 96, height: 96, channels: 3 } })
        .jpeg({ quality: 90 })
        .toFile(join(master, rel));
      return rel;
    };
    for (let k = 0; k < MAX; k += 64) {
      const batch = Array.from({ length: Math.min(64, MAX - k) }, (_, i) => one(k + i));
      order.push(...(await Promise.all(batch)));
    }
    writeFileSync(join(master, 'order.txt'), order.join('\n') + '\n');
    writeFileSync(done, '');
  }
  const dir = join(DIR, `vww-${n}`);
  if (!existsSync(join(dir, '.complete'))) {
    rmSync(dir, { recursive: true, force: true });
    for (const c of ['person', 'non_person']) mkdirSync(join(dir, c), { recursive: true });
    const order = readFileSync(join(master, 'order.txt'), 'utf8').split('\n').filter(Boolean);
    for (const rel of order.slice(0, n)) linkSync(join(master, rel), join(dir, rel));
    writeFileSync(join(dir, '.complete'), '');
  }
  return dir;
}

interface Measured {
  task: string;
  n: number;
  maxRssBytes: number;
  cpuSeconds: number;
  wallSeconds: number;
  extracted: number;
  extractSeconds: number;
  /** CPU-seconds of the whole process (all threads) during extraction. */
  extractCpu: number;
  trainExamples: number;
  trainSeconds: number;
  testAccuracy: number;
}

function prune(task: string, n: number, data: string): Measured {
  const out = join(DIR, `out-${task}-${n}`);
  rmSync(out, { recursive: true, force: true });
  const args =
    task === 'kws'
      ? ['--model', join(MODELS, 'kws_ref_model_float32.tflite'), '--cut', 'block2', '--views', '4']
      : ['--model', join(MODELS, 'vww_96_float.tflite'), '--cut', 'block5', '--views', '8'];
  const cmd = [
    '-v',
    process.execPath,
    '--import',
    'tsx',
    join(ROOT, 'src', 'cli', 'run.ts'),
    'prune',
    ...args,
    '--data',
    data,
    '--head',
    'aux',
    '--distill',
    '--epochs',
    '1',
    '--out',
    out,
  ];
  console.error(`prune ${task} N=${n}…`);
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', cmd, { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`prune ${task} N=${n} failed:\n${r.stderr.slice(-3000)}`);
  const err = r.stderr;
  const num = (re: RegExp) => Number(re.exec(err)?.[1] ?? NaN);
  const maxRss = num(/Maximum resident set size \(kbytes\): (\d+)/) * 1024;
  const cpu = num(/User time \(seconds\): ([\d.]+)/) + num(/System time \(seconds\): ([\d.]+)/);
  let extracted = 0;
  let extractSeconds = 0;
  let extractCpu = 0;
  for (const m of err.matchAll(
    /extracted (\d+) examples in ([\d.]+) s \(\d+\/s, ([\d.]+) CPU-s/g,
  )) {
    extracted += Number(m[1]);
    extractSeconds += Number(m[2]);
    extractCpu += Number(m[3]);
  }
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
    train: { n: number };
    test: { accuracy: number };
  };
  const epoch = /epoch 1: .*\(([\d.]+) s\)/.exec(readFileSync(join(out, 'train.log'), 'utf8'));
  const views = task === 'kws' ? 4 : 8;
  if (process.env.BENCH_SCALE_KEEP !== '1')
    rmSync(join(out, 'feature-cache'), { recursive: true, force: true });
  return {
    task,
    n,
    maxRssBytes: maxRss,
    cpuSeconds: cpu,
    wallSeconds: wall,
    extracted,
    extractSeconds,
    extractCpu,
    trainExamples: result.train.n * (views + 1),
    trainSeconds: Number(epoch?.[1] ?? NaN),
    testAccuracy: result.test.accuracy,
  };
}

/** vww-folders decoding alone (sharp's threads, 16 images in flight): wall and CPU rates. */
async function decodeRate(dir: string): Promise<{ wall: number; cpu: number; n: number }> {
  const ds = await openDataset(`vww-folders:${dir}`);
  const view = {
    length: ds.length,
    inputShape: ds.inputShape,
    load: async (i: number) => ({ x: await ds.load(i), y: ds.labels[i]! }),
  };
  const n = Math.min(ds.length, 4000);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await loadRange(view, 0, n);
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: n / wall, cpu: n / ((c.user + c.system) / 1e6), n };
}

export async function bench(): Promise<BenchReport> {
  if (!existsSync(join(MODELS, 'kws_ref_model_float32.tflite')))
    return { title: 'Full-size data (skipped: ../shared is absent)', rows: [] };
  if (!existsSync('/usr/bin/time'))
    throw new Error(
      'bench/scale.ts measures peak memory with /usr/bin/time -v: apt-get install time',
    );
  mkdirSync(DIR, { recursive: true });
  const rows: BenchRow[] = [];
  const notes: string[] = [];
  const runs: Measured[] = [];
  for (const task of TASKS) {
    for (const n of SIZES) {
      const dir = task === 'kws' ? kwsLayout(n) : await vwwLayout(n);
      const spec = task === 'kws' ? `speech-commands:${dir}` : `vww-folders:${dir}`;
      const m = prune(task, n, spec);
      runs.push(m);
      console.error(JSON.stringify(m));
      const label = `${task} N=${n}`;
      rows.push(
        { name: `${label}: peak resident memory`, value: m.maxRssBytes / GB, unit: 'GB' },
        {
          name: `${label}: extraction, ${m.extracted} examples (all views and splits; wall clock)`,
          value: m.extracted / m.extractSeconds,
          unit: 'examples/s',
          required: task === 'kws' ? 3000 : 1000,
        },
        {
          name: `${label}: extraction CPU per example (every thread of the process)`,
          value: (1000 * m.extractCpu) / m.extracted,
          unit: 'ms',
        },
        {
          // What two otherwise idle cores give: examples per CPU-second of every thread, × 2.
          name: `${label}: extraction, 2-core capacity (CPU time)`,
          value: (2 * m.extracted) / m.extractCpu,
          unit: 'examples/s',
          required: task === 'kws' ? 3000 : 1000,
        },
        {
          name: `${label}: head training, one epoch`,
          value: m.trainExamples / m.trainSeconds,
          unit: 'examples/s',
        },
      );
    }
    if (task === 'vww') {
      const d = await decodeRate(await vwwLayout(Math.min(...SIZES)));
      rows.push(
        { name: `vww-folders JPEG decode, ${d.n} images (wall)`, value: d.wall, unit: 'images/s' },
        {
          name: 'vww-folders JPEG decode, 2-core capacity (CPU time)',
          value: 2 * d.cpu,
          unit: 'images/s',
          required: 1000,
        },
      );
    }
    const mine = runs.filter((r) => r.task === task);
    if (mine.length > 0) {
      const rss = mine.map((r) => r.maxRssBytes);
      const growth = Math.max(...rss) / Math.min(...rss) - 1;
      const ok = Math.max(...rss) <= 3 * GB && growth <= 0.2;
      notes.push(
        `${task}: peak RSS ${mine.map((r) => `${(r.maxRssBytes / GB).toFixed(2)} GB at N=${r.n}`).join(', ')}; ` +
          `growth ${(growth * 100).toFixed(0)}% (limit ≤3 GB and ≤20%): ${ok ? 'PASS' : 'FAIL'}. ` +
          `Process CPU: ${mine.map((r) => `${r.cpuSeconds.toFixed(0)} s for ${r.wallSeconds.toFixed(0)} s wall`).join(', ')}.`,
      );
    }
  }
  notes.push(
    `Data and outputs under ${DIR}. Extraction examples: one per source example, view and split (train × (views + 1) + val + test), each loaded once (the unpruned model's outputs are computed from the same loads); rates are per second of the extraction stage's wall clock, and per CPU-second of the whole process × 2 for the 2-core capacity. Wall-clock rates depend on the machine's load (load average at the start: ${loadavg()[0]!.toFixed(1)}).`,
  );
  return { title: 'Full-size data: memory and throughput of prune', rows, notes };
}
