// Why our int8 interpreter (bit-exact with TFLite Micro's reference kernels and with the generated
// C) and the official TFLite runtime (tfjs-tflite's wasm) disagree on a few top-1s: TFLite Micro
// requantises conv, depthwise and fully connected outputs with TWO roundings (gemmlowp); the
// official runtime's default XNNPACK delegate with ONE (float32 scale, ties to even); its builtin
// kernels with one for conv and FC (ruy: x·M / 2^(31−shift), ties up) and two for depthwise.
// For the inputs of each reference model this prints ours vs the official runtime, its builtin
// kernels vs XNNPACK, and independent forward passes (test/helpers/requantRounding.ts) rounded
// each of those ways against the runtime they mimic.
//
//   node --import tsx bench/tflite-rounding.ts        # all 144 IC, 100 VWW, 100 KWS inputs
//   BENCH_ROUNDING_N=20 BENCH_ROUNDING_MODELS=ic node --import tsx bench/tflite-rounding.ts
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '../src/data/open.js';
import { loadModel } from '../src/io/load.js';
import { prepareInt8 } from '../src/quant/interpreter.js';
import { createRoundingForward } from '../test/helpers/requantRounding.js';
import { createBuiltinTfliteRunner } from '../test/helpers/tfliteBuiltin.js';
import { createTfliteRunner } from '../test/helpers/tfliteRuntime.js';

const SHARED = fileURLToPath(new URL('../../shared', import.meta.url));
const MODELS = join(SHARED, 'models', 'mlperf_tiny');
const DATA = join(SHARED, 'data');
const limit = Number(process.env.BENCH_ROUNDING_N ?? 0) || Infinity;
const only = (process.env.BENCH_ROUNDING_MODELS ?? 'ic,vww,kws').split(',');

function listed(dir: string, count: number): string[] {
  return readFileSync(join(dir, 'y_labels.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((l) => l.split(',')[0]!.trim())
    .filter((f) => f.endsWith('.bin'))
    .slice(0, count);
}

const CASES: { key: string; file: string; inputs: () => Promise<Int8Array[]> }[] = [
  {
    key: 'ic',
    file: 'ic_resnet8_int8.tflite',
    inputs: async () => {
      const ds = await openDataset(`eembc-ic:${join(DATA, 'eembc_ic01')}`);
      const xs: Int8Array[] = [];
      for (let i = 0; i < Math.min(ds.length, limit); i++)
        xs.push(Int8Array.from(await ds.load(i), (v) => v - 128));
      return xs;
    },
  },
  {
    key: 'vww',
    file: 'vww_96_int8.tflite',
    inputs: async () => {
      const dir = join(DATA, 'eembc_vww01');
      return listed(dir, Math.min(100, limit)).map((f) =>
        Int8Array.from(readFileSync(join(dir, f)), (v) => v - 128),
      );
    },
  },
  {
    key: 'kws',
    file: 'kws_ref_model.tflite',
    inputs: async () => {
      const dir = join(DATA, 'eembc_kws01', 'mfcc');
      return listed(dir, Math.min(100, limit)).map(
        (f) => new Int8Array(readFileSync(join(dir, f))),
      );
    },
  },
];

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};
const maxLsb = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Agreement of two output streams: top-1 agreements, identical outputs, largest difference. */
class Tally {
  top1 = 0;
  identical = 0;
  max = 0;
  add(a: ArrayLike<number>, b: ArrayLike<number>) {
    const d = maxLsb(a, b);
    if (argmax(a) === argmax(b)) this.top1++;
    if (d === 0) this.identical++;
    this.max = Math.max(this.max, d);
  }
  row(what: string, n: number) {
    return `| ${what} | ${this.top1}/${n} | ${this.identical}/${n} | ${this.max} |`;
  }
}

async function main() {
  if (!existsSync(MODELS)) {
    console.log(`bench/tflite-rounding.ts skipped: ../shared is absent (expected at ${SHARED})`);
    return;
  }
  for (const c of CASES.filter((k) => only.includes(k.key))) {
    const path = join(MODELS, c.file);
    const g = await loadModel(path);
    const xs = await c.inputs();
    const ours = prepareInt8(g);
    const xnnpack = await createTfliteRunner(new Uint8Array(readFileSync(path)));
    const builtin = await createBuiltinTfliteRunner(g);
    const single = createRoundingForward(g, 'single');
    const double = createRoundingForward(g, 'double');
    const fp32 = createRoundingForward(g, 'fp32');
    // TFLite's builtin kernels: conv and FC through ruy (one rounding), depthwise its own (two).
    const mixed = createRoundingForward(g, { conv2d: 'single', fullyConnected: 'single' });
    const t = {
      ours: new Tally(),
      builtin: new Tally(),
      single: new Tally(),
      double: new Tally(),
      mixed: new Tally(),
      fp32: new Tally(),
    };
    const t0 = performance.now();
    for (const x of xs) {
      const a = ours.run([x])[0]!;
      const b = xnnpack.run([x])[0] as Int8Array;
      t.ours.add(a, b);
      const c = builtin.run([x])[0]!;
      t.builtin.add(c, b);
      t.mixed.add(mixed(x), c);
      t.single.add(single(x), b);
      t.fp32.add(fp32(x), b);
      t.double.add(double(x), a);
    }
    xnnpack.close();
    builtin.close();
    const n = xs.length;
    console.log(`\n### ${c.file}: ${n} inputs, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    console.log('| compared | top-1 agrees | outputs identical | max LSB |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(t.ours.row('ours (TFLite Micro rounding) vs official (XNNPACK)', n));
    console.log(t.builtin.row('official builtin kernels vs official XNNPACK', n));
    console.log(t.single.row('single-rounding forward vs official (XNNPACK)', n));
    console.log(
      t.fp32.row('float32-requantising forward (XNNPACK formula) vs official (XNNPACK)', n),
    );
    console.log(t.double.row('double-rounding forward vs ours', n));
    console.log(t.mixed.row('conv/FC single, depthwise double forward vs official builtin', n));
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
