// WAV reading: RIFF/WAVE, PCM 16-bit mono 16 kHz only (the Speech Commands format).

import { TinypruneError } from '../graph/types.js';
import { CLIP_SAMPLES, SAMPLE_RATE } from './frontend.js';
import { readFileBounded } from '../io/files.js';

export interface Wav {
  sampleRate: number;
  samples: Int16Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses a WAV file's bytes; `source` names the file in errors. */
export function parseWav(bytes: Uint8Array, source: string): Wav {
  return { sampleRate: SAMPLE_RATE, samples: Int16Array.from(wavSamples(bytes, source)) };
}

/**
 * The samples of a WAV file's bytes, checked to be 16-bit mono PCM at 16 kHz: a view of `bytes`
 * where the host is little-endian and the data aligned (no copy), else a copy.
 */
export function wavSamples(bytes: Uint8Array, source: string): Int16Array {
  const fail = (what: string): never => {
    throw new TinypruneError(`${source}: ${what}`);
  };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    fail(`not a WAV file (expected a RIFF/WAVE header, found ${JSON.stringify(tag(0))})`);
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let data: Uint8Array | undefined;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = tag(at);
    const size = dv.getUint32(at + 4, true);
    const body = at + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) fail('truncated WAV: the fmt chunk is cut short');
      fmt = {
        format: dv.getUint16(body, true),
        channels: dv.getUint16(body + 2, true),
        rate: dv.getUint32(body + 4, true),
        bits: dv.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      if (body + size > bytes.length) {
        fail(
          `truncated WAV: the data chunk declares ${size} bytes, only ${bytes.length - body} present`,
        );
      }
      data = bytes.subarray(body, body + size);
      break;
    }
    at = body + size + (size & 1); // chunks are word aligned
  }
  if (!fmt) return fail('truncated WAV: no fmt chunk');
  // 0xfffe (WAVE_FORMAT_EXTENSIBLE) also carries PCM; accept it when the rest matches.
  if (fmt.format !== 1 && fmt.format !== 0xfffe) {
    fail(`expected PCM audio (format 1), found format ${fmt.format}`);
  }
  if (fmt.bits !== 16) fail(`expected 16-bit PCM, found ${fmt.bits}-bit`);
  if (fmt.channels !== 1) fail(`expected mono audio, found ${fmt.channels} channels`);
  if (fmt.rate !== SAMPLE_RATE)
    fail(`expected a ${SAMPLE_RATE} Hz sample rate, found ${fmt.rate} Hz`);
  if (!data) return fail('truncated WAV: no data chunk');
  const n = data.length >> 1;
  // WAV data is little-endian: on such hosts the bytes are the samples.
  if (LITTLE_ENDIAN && data.byteOffset % 2 === 0)
    return new Int16Array(data.buffer, data.byteOffset, n);
  const samples = new Int16Array(n);
  const ddv = new DataView(data.buffer, data.byteOffset, n * 2);
  for (let i = 0; i < n; i++) samples[i] = ddv.getInt16(2 * i, true);
  return samples;
}

export async function readWav(path: string): Promise<Wav> {
  return parseWav(readFileBounded(path, 'data', 'WAV file'), path); // regular file under the limit
}

/**
 * Exactly one second as floats (int16 / 32768): shorter clips are zero-padded at the end (as
 * the MLPerf reference pads to 16000 samples), longer ones keep their first second.
 */
export function toOneSecond(
  samples: Int16Array,
  out: Float32Array = new Float32Array(CLIP_SAMPLES),
): Float32Array {
  const n = Math.min(samples.length, CLIP_SAMPLES);
  for (let i = 0; i < n; i++) out[i] = samples[i]! / 32768;
  out.fill(0, n);
  return out;
}

/** Reads a WAV file as a one-second clip of floats in [-1, 1) (see toOneSecond). */
export async function readClip(path: string): Promise<Float32Array> {
  return toOneSecond((await readWav(path)).samples);
}

/** Reusable buffers for reading many clips in one thread (no allocation per clip). */
export interface ClipScratch {
  bytes?: Uint8Array;
}

/**
 * readClip into `out` (16000 floats), reading the file into `scratch`'s byte buffer: the same
 * values, without the per-clip allocations.
 */
export function readClipInto(path: string, out: Float32Array, scratch: ClipScratch): Float32Array {
  const bytes = readFileBounded(path, 'data', 'WAV file', scratch.bytes);
  if (bytes.buffer !== scratch.bytes?.buffer) scratch.bytes = new Uint8Array(bytes.buffer);
  return toOneSecond(wavSamples(bytes, path), out);
}
