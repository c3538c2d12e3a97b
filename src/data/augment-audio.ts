// MLPerf Tiny KWS training augmentation (get_dataset.py), applied to a peak-normalised clip
// before the frontend: optional time shift with zero fill, then background noise mixed in
// with probability `backgroundFrequency` at a volume uniform in [0, backgroundVolume], then
// clipping to [-1, 1].
// Differences from the reference, on purpose: the reference draws the noise file, offset and
// volume with numpy once while tracing its tf.data map, so every training clip gets the same
// noise; here every call draws afresh from the seeded stream. The reference's time shift is a
// fixed no-op (pad 2, slice from 2), hence timeShiftMs defaults to 0; kws_util's unused
// --time_shift_ms flag suggests 100.

import { CLIP_SAMPLES, SAMPLE_RATE } from './frontend.js';
import type { Rng } from './random.js';

export interface AudioAugmentOptions {
  /** Probability that a clip gets background noise (reference: 0.8). */
  backgroundFrequency?: number;
  /** Largest noise volume (reference: 0.1). */
  backgroundVolume?: number;
  /** Largest time shift either way, in ms (reference: effectively 0). */
  timeShiftMs?: number;
}

/**
 * Augments `clip` times `gain` into `out` (default: a new array; never `clip` itself). The
 * gain is the peak normalisation, applied in the copy the augmentation makes anyway: the same
 * float32 values as normalising the clip first, one pass over it fewer.
 */
export type AudioAugmenter = (
  clip: Float32Array,
  rng: Rng,
  out?: Float32Array,
  gain?: number,
) => Float32Array;

/** Builds the augmentation; `noise` holds the background recordings as floats in [-1, 1]. */
export function audioAugmenter(
  noise: Float32Array[],
  opts: AudioAugmentOptions = {},
): AudioAugmenter {
  const frequency = opts.backgroundFrequency ?? 0.8;
  const volumeMax = opts.backgroundVolume ?? 0.1;
  const shiftMax = Math.round(((opts.timeShiftMs ?? 0) * SAMPLE_RATE) / 1000);
  const usable = noise.filter((n) => n.length >= CLIP_SAMPLES);
  return (clip, rng, into, gain = 1) => {
    const out = into ?? new Float32Array(CLIP_SAMPLES);
    const shift = shiftMax > 0 ? rng.int(2 * shiftMax + 1) - shiftMax : 0;
    // The draws, in the order they have always been made: shift, noise file, offset, volume.
    let bg: Float32Array | undefined;
    let offset = 0;
    let volume = 0;
    if (usable.length > 0) {
      bg = usable[rng.int(usable.length)]!;
      offset = rng.int(bg.length - CLIP_SAMPLES + 1);
      volume = rng.next() < frequency ? rng.uniform(0, volumeMax) : 0;
    }
    if (shift === 0 && clip.length === CLIP_SAMPLES && volume > 0) {
      // The common case in one pass: each sample rounds to float32 after the gain, as a stored
      // copy would, so the values equal the two-pass form below.
      const noise = bg!;
      for (let i = 0; i < CLIP_SAMPLES; i++) {
        const v = Math.fround(clip[i]! * gain) + volume * noise[offset + i]!;
        out[i] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
      return out;
    }
    if (shift === 0 && clip.length === CLIP_SAMPLES && gain === 1) out.set(clip);
    else if (shift === 0 && clip.length === CLIP_SAMPLES)
      for (let i = 0; i < CLIP_SAMPLES; i++) out[i] = clip[i]! * gain;
    else
      for (let i = 0; i < CLIP_SAMPLES; i++) {
        const j = i - shift;
        out[i] = j >= 0 && j < clip.length ? clip[j]! * gain : 0;
      }
    if (volume > 0) {
      for (let i = 0; i < CLIP_SAMPLES; i++) {
        const v = out[i]! + volume * bg![offset + i]!;
        out[i] = v > 1 ? 1 : v < -1 ? -1 : v;
      }
    }
    return out;
  };
}
