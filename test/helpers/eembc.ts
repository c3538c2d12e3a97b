// The EEMBC evaluation sets in ../shared as float model inputs: KWS MFCCs (int8 .bin files at
// kws_ref_model.tflite's input scale / zero point, dequantised) and VWW images (uint8 → /255).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../../src/io/load.js';
import { data, model } from './shared.js';

export interface Example {
  x: Float32Array;
  label: number;
}

/** The .bin files listed in a set's y_labels.csv, with their labels, in file order. */
export function labelRows(dir: string): { file: string; label: number }[] {
  return readFileSync(join(dir, 'y_labels.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((l) => l.split(',').map((s) => s.trim()))
    .filter((f) => f[0]!.endsWith('.bin'))
    .map((f) => ({ file: f[0]!, label: Number(f[2]) }));
}

/** Seeded Fisher-Yates pick of `n` examples. */
export function pick<T>(items: T[], n: number, seed: number): T[] {
  const a = [...items];
  let s = seed >>> 0;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, n);
}

export const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};

/** The 666 EEMBC KWS MFCCs as float inputs (dequantised at kws_ref_model.tflite's input q). */
export async function kwsExamples(): Promise<Example[]> {
  const dir = data('eembc_kws01', 'mfcc');
  const ref = await loadModel(model('kws_ref_model.tflite'));
  const iq = ref.tensors.get(ref.inputs[0]!)!.quant!;
  return labelRows(dir).map((r) => {
    const b = readFileSync(join(dir, r.file));
    const x = Float32Array.from(
      new Int8Array(b.buffer, b.byteOffset, b.length),
      (v) => (v - iq.zeroPoint[0]!) * iq.scale[0]!,
    );
    return { x, label: r.label };
  });
}

/** The 713 EEMBC VWW images as float inputs in [0, 1]. */
export function vwwExamples(): Example[] {
  const dir = data('eembc_vww01');
  return labelRows(dir).map((r) => ({
    x: Float32Array.from(readFileSync(join(dir, r.file)), (v) => v / 255),
    label: r.label,
  }));
}
