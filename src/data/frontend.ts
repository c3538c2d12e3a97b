// The MLPerf Tiny KWS feature frontends (training/keyword_spotting/get_dataset.py), in float
// arithmetic with everything that does not depend on the clip precomputed once:
//   MFCC: STFT (frame 480, step 320, FFT 512, periodic Hann) → |X| → 40 mel bins 20–4000 Hz
//         (tf.signal.linear_to_mel_weight_matrix) → log(x + 1e-6) → DCT-II with HTK scaling
//         (tf.signal.mfccs_from_log_mel_spectrograms: every coefficient × sqrt(2/40)) → first 10.
//   LFBE: pre-emphasis (1 − 2^-5) → STFT (symmetric Hamming) → |X|²/480 clipped to
//         [1e-30, clip max] → 10 mel bins 0–8000 Hz → 10·log10 → (x + 52)/64 clipped to [0, 1].
// Frames are taken without end padding (tf.signal.stft pad_end=False): 49 frames per second.
// The reference divides each clip by its peak value (max, not max |x|) before either frontend;
// that is a dataset step here (`peakNormalize`), not part of these functions.

import { RealFft } from './fft.js';
import { loadNativeKernels, type NativeMfcc } from './nativeKernels.js';

export const SAMPLE_RATE = 16000;
export const CLIP_SAMPLES = 16000;
export const FRAME_LENGTH = 480;
export const FRAME_STEP = 320;
export const FFT_SIZE = 512;
export const NUM_FRAMES = 1 + Math.floor((CLIP_SAMPLES - FRAME_LENGTH) / FRAME_STEP); // 49
export const MFCC_COEFFICIENTS = 10;
export const MFCC_MEL_BINS = 40;
export const LFBE_MEL_BINS = 10;
/** Features per clip for both frontends: 49 × 10. */
export const FEATURE_SHAPE = [NUM_FRAMES, MFCC_COEFFICIENTS, 1] as const;

/** tf.signal.hann_window(periodic=True). */
export function hannWindow(length: number): Float64Array {
  const w = new Float64Array(length);
  for (let n = 0; n < length; n++) w[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / length);
  return w;
}

/** tf.signal.hamming_window(periodic=False). */
export function hammingWindowSymmetric(length: number): Float64Array {
  const w = new Float64Array(length);
  for (let n = 0; n < length; n++) w[n] = 0.54 - 0.46 * Math.cos((2 * Math.PI * n) / (length - 1));
  return w;
}

const hzToMel = (hz: number) => 1127 * Math.log(1 + hz / 700);

/** Triangular mel filters, stored per mel bin as a first FFT bin and its run of weights. */
export interface MelFilterbank {
  numMelBins: number;
  numSpectrogramBins: number;
  /** First spectrogram bin with a non-zero weight, per mel bin. */
  start: Int32Array;
  /** Weights of bins start..start+weights.length-1, per mel bin. */
  weights: Float64Array[];
}

/**
 * tf.signal.linear_to_mel_weight_matrix semantics: HTK mel scale; the spectrogram bins are
 * linspace(0, nyquist, numSpectrogramBins) with the DC bin given zero weight; band edges are
 * numMelBins + 2 points evenly spaced in mel between the lower and upper edge.
 */
export function melFilterbank(
  numMelBins: number,
  numSpectrogramBins: number,
  sampleRate: number,
  lowerHz: number,
  upperHz: number,
): MelFilterbank {
  const nyquist = sampleRate / 2;
  const binMel = new Float64Array(numSpectrogramBins);
  for (let k = 0; k < numSpectrogramBins; k++) {
    binMel[k] = hzToMel((nyquist * k) / (numSpectrogramBins - 1));
  }
  const lo = hzToMel(lowerHz);
  const hi = hzToMel(upperHz);
  const edge = (i: number) => lo + ((hi - lo) * i) / (numMelBins + 1);
  const start = new Int32Array(numMelBins);
  const weights: Float64Array[] = [];
  for (let m = 0; m < numMelBins; m++) {
    const left = edge(m);
    const centre = edge(m + 1);
    const right = edge(m + 2);
    const w: number[] = [];
    let first = -1;
    for (let k = 1; k < numSpectrogramBins; k++) {
      const up = (binMel[k]! - left) / (centre - left);
      const down = (right - binMel[k]!) / (right - centre);
      const v = Math.max(0, Math.min(up, down));
      if (v > 0) {
        if (first < 0) first = k;
        // Keep interior zeros so the run stays contiguous.
        while (first + w.length < k) w.push(0);
        w.push(v);
      }
    }
    start[m] = Math.max(first, 0);
    weights.push(Float64Array.from(w));
  }
  return { numMelBins, numSpectrogramBins, start, weights };
}

function lastWeightedBin(mel: MelFilterbank): number {
  let last = 0;
  for (let m = 0; m < mel.numMelBins; m++)
    last = Math.max(last, mel.start[m]! + mel.weights[m]!.length - 1);
  return last;
}

/** HTK-scaled DCT-II rows: c[k][n] = sqrt(2/N) · cos(π k (2n + 1) / 2N), for k < count. */
export function dctMatrix(count: number, n: number): Float64Array {
  const m = new Float64Array(count * n);
  const s = Math.sqrt(2 / n);
  for (let k = 0; k < count; k++) {
    for (let i = 0; i < n; i++) m[k * n + i] = s * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
  }
  return m;
}

/** Scratch buffers and constants for one frontend instance (not shared between threads). */
class Stft {
  readonly fft = new RealFft(FFT_SIZE);
  readonly frame = new Float64Array(FFT_SIZE);
  readonly re = new Float64Array(FFT_SIZE / 2 + 1);
  readonly im = new Float64Array(FFT_SIZE / 2 + 1);
  constructor(readonly window: Float64Array) {}

  /** Windowed spectrum of the frame starting at `offset` into re/im. */
  spectrum(samples: ArrayLike<number>, offset: number, maxBin?: number): void {
    const { frame, window } = this;
    for (let i = 0; i < FRAME_LENGTH; i++) frame[i] = samples[offset + i]! * window[i]!;
    this.fft.transform(frame, this.re, this.im, maxBin);
  }
}

function checkClip(samples: ArrayLike<number>, what: string): void {
  if (samples.length !== CLIP_SAMPLES) {
    throw new RangeError(
      `${what} needs ${CLIP_SAMPLES} samples (1 s at 16 kHz), got ${samples.length}`,
    );
  }
}

function checkOut(out: Float32Array | undefined): Float32Array {
  const size = NUM_FRAMES * MFCC_COEFFICIENTS;
  if (out === undefined) return new Float32Array(size);
  if (out.length !== size)
    throw new RangeError(`feature output needs ${size} values, got ${out.length}`);
  return out;
}

/** Everything the MFCC of a clip needs besides the clip, built once per thread. */
interface MfccPlan {
  fft: RealFft;
  window: Float64Array;
  /** Highest spectrogram bin any mel filter weights (bins above it are never computed). */
  maxBin: number;
  /** Mel filter m weights bins melStart[m]..melStart[m+1]-1 offset by melFirst[m]: flat runs. */
  melFirst: Int32Array;
  melStart: Int32Array;
  melWeights: Float64Array;
  dct: Float64Array;
  re: Float64Array;
  im: Float64Array;
  magnitude: Float64Array;
  logMel: Float64Array;
}

let mfccPlan: MfccPlan | null = null;
/** The native twin of this thread's plan; null when the addon is not there. */
let nativeMfcc: NativeMfcc | null | undefined;

function planNativeMfcc(p: MfccPlan): NativeMfcc | null {
  const { addon } = loadNativeKernels();
  if (!addon) return null;
  return new addon.Mfcc({
    size: FFT_SIZE,
    frameStep: FRAME_STEP,
    frames: NUM_FRAMES,
    coefficients: MFCC_COEFFICIENTS,
    maxBin: p.maxBin,
    window: p.window,
    ...p.fft.tables(),
    melFirst: p.melFirst,
    melStart: p.melStart,
    melWeights: p.melWeights,
    dct: p.dct,
  });
}

function planMfcc(): MfccPlan {
  const mel = melFilterbank(MFCC_MEL_BINS, FFT_SIZE / 2 + 1, SAMPLE_RATE, 20, 4000);
  const melStart = new Int32Array(MFCC_MEL_BINS + 1);
  for (let m = 0; m < MFCC_MEL_BINS; m++) melStart[m + 1] = melStart[m]! + mel.weights[m]!.length;
  const melWeights = new Float64Array(melStart[MFCC_MEL_BINS]!);
  for (let m = 0; m < MFCC_MEL_BINS; m++) melWeights.set(mel.weights[m]!, melStart[m]!);
  const hann = hannWindow(FRAME_LENGTH);
  return {
    fft: new RealFft(FFT_SIZE),
    // Zero-padded to the FFT size: the FFT then reads every frame without bounds tests (the
    // padding multiplies samples of the next frame by 0).
    window: Float64Array.from({ length: FFT_SIZE }, (_, i) => hann[i] ?? 0),
    maxBin: lastWeightedBin(mel),
    melFirst: Int32Array.from(mel.start),
    melStart,
    melWeights,
    dct: dctMatrix(MFCC_COEFFICIENTS, MFCC_MEL_BINS),
    re: new Float64Array(FFT_SIZE / 2 + 1),
    im: new Float64Array(FFT_SIZE / 2 + 1),
    magnitude: new Float64Array(FFT_SIZE / 2 + 1),
    logMel: new Float64Array(MFCC_MEL_BINS),
  };
}

/**
 * MFCC features of one 1 s clip (16000 samples, floats in [-1, 1]) as 490 floats, row-major
 * [49 frames][10 coefficients]. Pass `out` to reuse a buffer. Runs natively when the addon is
 * built (nativeKernels.ts), else mfccJs: the same values either way.
 */
export function mfcc(samples: ArrayLike<number>, out?: Float32Array): Float32Array {
  const p = (mfccPlan ??= planMfcc());
  if (nativeMfcc === undefined) nativeMfcc = planNativeMfcc(p);
  if (!nativeMfcc) return mfccJs(samples, out);
  checkClip(samples, 'mfcc');
  const result = checkOut(out);
  nativeMfcc.run(samples instanceof Float32Array ? samples : Float32Array.from(samples), result);
  return result;
}

/**
 * mfcc in JavaScript. Nothing is allocated per frame: the window is applied while the FFT packs
 * its input, only bins up to the top mel edge are computed, and each mel filter sums only its
 * non-zero run.
 */
export function mfccJs(samples: ArrayLike<number>, out?: Float32Array): Float32Array {
  checkClip(samples, 'mfcc');
  const result = checkOut(out);
  const x = samples instanceof Float32Array ? samples : Float32Array.from(samples);
  const p = (mfccPlan ??= planMfcc());
  const { fft, window, maxBin, melFirst, melStart, melWeights, dct, re, im, magnitude, logMel } = p;
  for (let f = 0; f < NUM_FRAMES; f++) {
    fft.transformWindowed(x, f * FRAME_STEP, window, re, im, maxBin);
    for (let k = 1; k <= maxBin; k++) magnitude[k] = Math.sqrt(re[k]! * re[k]! + im[k]! * im[k]!);
    for (let m = 0; m < MFCC_MEL_BINS; m++) {
      const from = melStart[m]!;
      const to = melStart[m + 1]!;
      const shift = melFirst[m]! - from;
      let acc = 0;
      for (let j = from; j < to; j++) acc += melWeights[j]! * magnitude[shift + j]!;
      logMel[m] = Math.log(acc + 1e-6);
    }
    const row = f * MFCC_COEFFICIENTS;
    for (let c = 0; c < MFCC_COEFFICIENTS; c++) {
      let acc = 0;
      const d = c * MFCC_MEL_BINS;
      for (let m = 0; m < MFCC_MEL_BINS; m++) acc += dct[d + m]! * logMel[m]!;
      result[row + c] = acc;
    }
  }
  return result;
}

const PREEMPHASIS = 1 - 2 ** -5;
const LFBE_POWER_OFFSET = 52;

let lfbeState: {
  stft: Stft;
  mel: MelFilterbank;
  emphasised: Float64Array;
  power: Float64Array;
} | null = null;

/**
 * Log filterbank energies of one 1 s clip as the MLPerf reference computes them: 490 floats in
 * [0, 1], row-major [49 frames][10 mel bins].
 */
export function lfbe(samples: ArrayLike<number>, out?: Float32Array): Float32Array {
  checkClip(samples, 'lfbe');
  const result = checkOut(out);
  const bins = FFT_SIZE / 2 + 1;
  const st = (lfbeState ??= {
    stft: new Stft(hammingWindowSymmetric(FRAME_LENGTH)),
    mel: melFilterbank(LFBE_MEL_BINS, bins, SAMPLE_RATE, 0, SAMPLE_RATE / 2),
    emphasised: new Float64Array(CLIP_SAMPLES),
    power: new Float64Array(NUM_FRAMES * bins),
  });
  const { stft, mel, emphasised, power } = st;
  emphasised[0] = samples[0]!;
  for (let i = 1; i < CLIP_SAMPLES; i++)
    emphasised[i] = samples[i]! - PREEMPHASIS * samples[i - 1]!;
  // The clip's maximum power is the upper clip bound, so all frames are needed first.
  let maxPower = 0;
  for (let f = 0; f < NUM_FRAMES; f++) {
    stft.spectrum(emphasised, f * FRAME_STEP);
    const row = f * bins;
    for (let k = 0; k < bins; k++) {
      const p = (stft.re[k]! * stft.re[k]! + stft.im[k]! * stft.im[k]!) / FRAME_LENGTH;
      power[row + k] = p;
      if (p > maxPower) maxPower = p;
    }
  }
  for (let f = 0; f < NUM_FRAMES; f++) {
    const row = f * bins;
    for (let m = 0; m < LFBE_MEL_BINS; m++) {
      const w = mel.weights[m]!;
      const s = mel.start[m]!;
      let acc = 0;
      for (let j = 0; j < w.length; j++) {
        const p = power[row + s + j]!;
        acc += w[j]! * Math.min(Math.max(p, 1e-30), maxPower);
      }
      const db = 10 * Math.log10(acc);
      result[f * LFBE_MEL_BINS + m] = Math.min(1, Math.max(0, (db + LFBE_POWER_OFFSET) / 64));
    }
  }
  return result;
}

/**
 * The factor that divides a clip by its largest sample value, as the reference does before
 * both frontends (`wav / tf.reduce_max(wav)`): 1 / max, or 1 when the maximum is not positive
 * (the reference would produce inf/NaN there).
 */
export function peakGain(samples: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < samples.length; i++) if (samples[i]! > max) max = samples[i]!;
  return max > 0 ? 1 / max : 1;
}

/** The clip times its peakGain (see there), into `out` (default: in place). */
export function peakNormalize(samples: Float32Array, out: Float32Array = samples): Float32Array {
  const gain = peakGain(samples);
  if (gain === 1) {
    if (out !== samples) out.set(samples);
    return out;
  }
  for (let i = 0; i < samples.length; i++) out[i] = samples[i]! * gain;
  return out;
}
