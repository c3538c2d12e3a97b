// Throughput of the prepared int8 interpreter on the real VWW and KWS int8 models (median of
// repeated timed batches). Usage: node --import tsx bench/int8.ts [runs]
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/io/load.js';
import { prepareInt8 } from '../src/quant/interpreter.js';

const SHARED = fileURLToPath(new URL('../../shared', import.meta.url));
// The bench runner may pass its own arguments: only a number sets the run count.
const runs = /^\d+$/.test(process.argv[2] ?? '') ? Number(process.argv[2]) : 7;

async function bench(name: string, file: string, inputs: Int8Array[]) {
  const p = prepareInt8(await loadModel(join(SHARED, 'models', 'mlperf_tiny', file)));
  for (const x of inputs.slice(0, 3)) p.run([x]);
  const perImage: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    for (const x of inputs) p.run([x]);
    perImage.push((performance.now() - t0) / inputs.length);
  }
  perImage.sort((a, b) => a - b);
  const med = perImage[Math.floor(perImage.length / 2)]!;
  console.log(
    `${name}: median ${med.toFixed(2)} ms/inference, ${(1000 / med).toFixed(1)} inferences/s`,
  );
}

async function main() {
  if (!existsSync(join(SHARED, 'models'))) {
    console.log(`bench/int8.ts skipped: ../shared is absent (expected at ${SHARED})`);
    return;
  }
  const vwwDir = join(SHARED, 'data', 'eembc_vww01');
  const vww = readdirSync(vwwDir)
    .filter((f) => f.endsWith('.bin'))
    .slice(0, 20)
    .map((f) => Int8Array.from(readFileSync(join(vwwDir, f)), (v) => v - 128));
  const kwsDir = join(SHARED, 'data', 'eembc_kws01', 'mfcc');
  const kws = readdirSync(kwsDir)
    .filter((f) => f.endsWith('.bin'))
    .slice(0, 50)
    .map((f) => new Int8Array(readFileSync(join(kwsDir, f))));
  await bench('VWW int8 (vww_96_int8.tflite)', 'vww_96_int8.tflite', vww);
  await bench('KWS int8 (kws_ref_model.tflite)', 'kws_ref_model.tflite', kws);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
