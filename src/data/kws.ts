// Keyword-spotting datasets: Speech Commands v2 (full release or the canonical test-set layout)
// and the EEMBC EnergyRunner KWS evaluation files.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import { audioAugmenter, type AudioAugmentOptions } from './augment-audio.js';
import { type Dataset, parseLabelsCsv, viewDataset } from './dataset.js';
import { CLIP_SAMPLES, FEATURE_SHAPE, lfbe, mfcc, peakGain, peakNormalize } from './frontend.js';
import { dequantize, KWS_REF_INPUT_QUANT, type QuantParams } from './quantize.js';
import { exampleSeed, Rng } from './random.js';
import { readClipInto, readWav, toOneSecond } from './wav.js';
import { flatString, readFileBounded, readTextBounded } from '../io/files.js';

/** The KWS model's output order (indices 0..11). */
export const KWS_CLASSES = [
  'down',
  'go',
  'left',
  'no',
  'off',
  'on',
  'right',
  'stop',
  'up',
  'yes',
  'silence',
  'unknown',
];
const SILENCE = 10;
const UNKNOWN = 11;

export type KwsFeatures = 'mfcc' | 'lfbe';

export interface SpeechCommandsOptions {
  /** Frontend (default mfcc). */
  features?: KwsFeatures;
  /** Full-release layout only: which split (default 'train'). */
  split?: 'train' | 'validation' | 'test';
  /** Folder of background-noise wavs for augmentation (default DIR/_background_noise_). */
  noiseDir?: string;
  /** Mix in noise / shift on every load, seeded (disables the feature cache). */
  augment?: AudioAugmentOptions & { seed: number };
  /** Cache computed features (default true unless augmenting). */
  cache?: boolean;
}

/** Speaker of a Speech Commands file name: `<speaker>_nohash_<n>.wav` (any prefix). */
export function speakerOf(file: string): string | undefined {
  return /(?:^|_)([0-9a-f]{8})_nohash_/.exec(basename(file))?.[1];
}

function listDir(dir: string, what: string): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new TinypruneError(`${dir}: ${what} folder not found`);
  }
  return readdirSync(dir).sort();
}

/** int16 samples / 32768 (a loop: Float32Array.from with a callback is several times slower). */
function int16ToFloat(samples: Int16Array): Float32Array {
  const out = new Float32Array(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! / 32768;
  return out;
}

/** Reads every wav of a folder as floats (background recordings; minutes long). */
export async function readNoiseDir(dir: string): Promise<Float32Array[]> {
  const files = listDir(dir, 'background noise').filter((f) => f.endsWith('.wav'));
  if (files.length === 0)
    throw new TinypruneError(`${dir}: expected background-noise .wav files, found none`);
  return Promise.all(files.map(async (f) => int16ToFloat((await readWav(join(dir, f))).samples)));
}

interface ClipRef {
  file: string;
  /** Start sample for clips cut from a long background recording. */
  offset?: number;
}

function featureFn(features: KwsFeatures | undefined): (x: Float32Array) => Float32Array {
  if (features === undefined || features === 'mfcc') return (x) => mfcc(x);
  if (features === 'lfbe') return (x) => lfbe(x);
  throw new TinypruneError(`features option: expected 'mfcc' or 'lfbe', found '${features}'`);
}

/**
 * True when DIR is laid out as the full Speech Commands release (word folders and the two list
 * files) rather than the canonical test layout (`_silence_/`, `_unknown_/`).
 */
export function isSpeechCommandsRelease(dir: string): boolean {
  const entries = listDir(dir, 'Speech Commands');
  return !entries.includes('_silence_') && !entries.includes('_unknown_');
}

/**
 * `speech-commands:DIR`. The canonical test layout has `_silence_/` and `_unknown_/` folders.
 * The full release has word folders, `_background_noise_/`, validation_list.txt and
 * testing_list.txt; splits follow the MLPerf reference (tfds speech_commands): every non-keyword
 * word is `unknown`; `silence` clips are 1 s cuts every 0.5 s of the background recordings,
 * running_tap.wav for validation and the others for training.
 */
export async function openSpeechCommands(
  dir: string,
  opts: SpeechCommandsOptions = {},
): Promise<Dataset> {
  const entries = listDir(dir, 'Speech Commands');
  const clips: ClipRef[] = [];
  const labels: number[] = [];
  const groups: string[] = [];
  const canonical = entries.includes('_silence_') || entries.includes('_unknown_');
  const addFile = (rel: string, label: number) => {
    clips.push({ file: flatString(join(dir, rel)) });
    labels.push(label);
    groups.push(speakerOf(rel) ?? `file:${rel}`);
  };
  const wordLabel = (word: string) => {
    const k = KWS_CLASSES.indexOf(word);
    return k >= 0 && k < SILENCE ? k : UNKNOWN;
  };
  const noiseDir = opts.noiseDir ?? join(dir, '_background_noise_');
  if (canonical) {
    if (opts.split !== undefined && opts.split !== 'test') {
      throw new TinypruneError(
        `${dir}: split option: the canonical test layout has only 'test', found '${opts.split}'`,
      );
    }
    for (const folder of entries) {
      const path = join(dir, folder);
      if (!statSync(path).isDirectory()) continue;
      const label =
        folder === '_silence_'
          ? SILENCE
          : folder === '_unknown_'
            ? UNKNOWN
            : KWS_CLASSES.indexOf(folder);
      if (label < 0)
        throw new TinypruneError(
          `${path}: unexpected class folder (expected the 10 keywords, _silence_, _unknown_)`,
        );
      for (const f of readdirSync(path).sort())
        if (f.endsWith('.wav')) addFile(join(folder, f), label);
    }
  } else {
    const split = opts.split ?? 'train';
    if (!['train', 'validation', 'test'].includes(split)) {
      throw new TinypruneError(
        `split option: expected train, validation or test, found '${split}'`,
      );
    }
    const readList = (name: string) => {
      const p = join(dir, name);
      if (!existsSync(p))
        throw new TinypruneError(
          `${p}: not found (the full Speech Commands layout needs it; or use the canonical test layout with _silence_/ and _unknown_/)`,
        );
      return new Set(
        readTextBounded(p, 'data', 'list file')
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter(Boolean),
      );
    };
    const validation = readList('validation_list.txt');
    const testing = readList('testing_list.txt');
    // A clip in both lists would be validated and tested on: the release never does that.
    for (const rel of validation) {
      if (testing.has(rel))
        throw new TinypruneError(
          `${join(dir, rel)}: listed in both validation_list.txt and testing_list.txt (a clip must be in one partition)`,
        );
    }
    for (const word of entries) {
      if (word.startsWith('_')) continue;
      const path = join(dir, word);
      if (!statSync(path).isDirectory()) continue;
      for (const f of readdirSync(path).sort()) {
        if (!f.endsWith('.wav')) continue;
        const rel = `${word}/${f}`;
        const where = validation.has(rel) ? 'validation' : testing.has(rel) ? 'test' : 'train';
        if (where === split) addFile(rel, wordLabel(word));
      }
    }
    if (split !== 'test' && existsSync(noiseDir)) {
      for (const f of listDir(noiseDir, 'background noise').filter((n) => n.endsWith('.wav'))) {
        if ((f === 'running_tap.wav') !== (split === 'validation')) continue;
        const { samples } = await readWav(join(noiseDir, f));
        for (let start = 0; start < samples.length - CLIP_SAMPLES; start += CLIP_SAMPLES / 2) {
          clips.push({ file: join(noiseDir, f), offset: start });
          labels.push(SILENCE);
          groups.push(`noise:${f}`);
        }
      }
    }
  }
  if (clips.length === 0)
    throw new TinypruneError(`${dir}: expected .wav clips in class folders, found none`);

  const features = featureFn(opts.features);
  const augment = opts.augment && audioAugmenter(await readNoiseDir(noiseDir), opts.augment);
  const noiseCache = new Map<string, Int16Array>();
  // Per-thread buffers for the file bytes, the clip and its augmented copy: loads run to the end
  // without awaiting once they touch them (so concurrent loads never share them mid-way), and
  // only the features leave a load.
  const scratch = {
    file: {},
    clip: new Float32Array(CLIP_SAMPLES),
    augmented: new Float32Array(CLIP_SAMPLES),
  };
  const cache = (opts.cache ?? !augment) ? new Map<number, Float32Array>() : undefined;
  return viewDataset(
    {
      name: `speech-commands:${dir}`,
      classes: KWS_CLASSES,
      inputShape: [...FEATURE_SHAPE],
      labels: Int32Array.from(labels),
      groups,
      ids: clips.map((c) => (c.offset === undefined ? c.file : `${c.file}@${c.offset}`)),
      async load(i) {
        const c = clips[i]!;
        let rec: Int16Array | undefined;
        if (c.offset !== undefined) {
          rec = noiseCache.get(c.file);
          if (!rec) noiseCache.set(c.file, (rec = (await readWav(c.file)).samples));
        }
        // From here on synchronous (see scratch).
        let x = rec
          ? toOneSecond(rec.subarray(c.offset, c.offset! + CLIP_SAMPLES), scratch.clip)
          : readClipInto(c.file, scratch.clip, scratch.file);
        // Each clip draws from its own seeded stream, so any clip loads the same in any order
        // (parallel and resumable feature extraction). The augmentation's copy normalises.
        if (augment) {
          const rng = new Rng(exampleSeed(opts.augment!.seed, i));
          x = augment(x, rng, scratch.augmented, peakGain(x));
        } else peakNormalize(x);
        return features(x);
      },
    },
    undefined,
    cache,
  );
}

export interface EembcKwsOptions {
  /** td_samples only: frontend (default mfcc). */
  features?: KwsFeatures;
  /** Input quantisation of the int8 mfcc files (default: kws_ref_model.tflite's). */
  quant?: QuantParams;
  /** Return the stored integers (as floats) instead of dequantised values (mfcc, lfbe). */
  quantized?: boolean;
}

/**
 * `eembc-kws:DIR` with DIR one of the EEMBC folders `mfcc` (49x10 int8), `lfbe` (49x10 uint8,
 * scale 1/255) or `td_samples` (16000 int16 samples, run through our frontend); the kind comes
 * from the folder name. Labels from DIR/y_labels.csv.
 */
export async function openEembcKws(dir: string, opts: EembcKwsOptions = {}): Promise<Dataset> {
  const present = new Set(listDir(dir, 'EEMBC KWS'));
  const kind = basename(dir.replace(/[\\/]+$/, ''));
  if (!['mfcc', 'lfbe', 'td_samples'].includes(kind)) {
    throw new TinypruneError(
      `${dir}: expected an EEMBC KWS folder named mfcc, lfbe or td_samples, found '${kind}'`,
    );
  }
  const rows = await readLabels(dir, present);
  const quant = opts.quant ?? KWS_REF_INPUT_QUANT;
  const size = FEATURE_SHAPE[0] * FEATURE_SHAPE[1];
  const features = featureFn(opts.features);
  const decode = (bytes: Uint8Array, file: string): Float32Array => {
    const expect = kind === 'td_samples' ? 2 * CLIP_SAMPLES : size;
    if (bytes.length !== expect)
      throw new TinypruneError(
        `${file}: expected ${expect} bytes (${kind}), found ${bytes.length}`,
      );
    if (kind === 'mfcc') {
      const q = new Int8Array(bytes.buffer, bytes.byteOffset, size);
      return opts.quantized ? Float32Array.from(q) : dequantize(q, quant.scale, quant.zeroPoint);
    }
    if (kind === 'lfbe')
      return opts.quantized ? Float32Array.from(bytes) : dequantize(bytes, 1 / 255, 0);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const x = new Float32Array(CLIP_SAMPLES);
    for (let i = 0; i < CLIP_SAMPLES; i++) x[i] = dv.getInt16(2 * i, true) / 32768;
    return features(peakNormalize(x));
  };
  return viewDataset(
    {
      name: `eembc-kws:${dir}`,
      classes: KWS_CLASSES,
      inputShape: [...FEATURE_SHAPE],
      labels: Int32Array.from(rows, (r) => r.label),
      ids: rows.map((r) => join(dir, r.file)),
      async load(i) {
        const file = join(dir, rows[i]!.file);
        return decode(readFileBounded(file, 'data'), file);
      },
    },
    undefined,
    kind === 'td_samples' ? new Map() : undefined,
  );
}

/** y_labels.csv of an EEMBC folder, every named file checked to exist. */
export async function readLabels(dir: string, present: Set<string>) {
  const csv = join(dir, 'y_labels.csv');
  if (!present.has('y_labels.csv'))
    throw new TinypruneError(`${csv}: not found (expected 'file, n_classes, label' rows)`);
  const rows = parseLabelsCsv(readTextBounded(csv, 'data', 'label file'), csv);
  for (const [i, r] of rows.entries()) {
    if (!present.has(r.file))
      throw new TinypruneError(`${csv}:${i + 1}: names ${r.file}, which is not in ${dir}`);
  }
  return rows;
}
