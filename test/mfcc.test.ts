import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import {
  audioAugmenter,
  dctMatrix,
  hannWindow,
  KWS_REF_INPUT_QUANT,
  lfbe,
  melFilterbank,
  mfcc,
  mfccJs,
  peakGain,
  peakNormalize,
  quantizeInt8,
  quantizeUint8,
  dequantize,
  RealFft,
  Rng,
} from '../src/data/index.js';
import { loadModel } from '../src/io/load.js';
import { needsNativeKernels } from './helpers/native.js';
import { data, model, needsShared } from './helpers/shared.js';

test('RealFft matches a direct DFT on random input', () => {
  const rng = new Rng(7);
  for (const n of [8, 64, 512]) {
    const x = Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
    const fft = new RealFft(n);
    const re = new Float64Array(n / 2 + 1);
    const im = new Float64Array(n / 2 + 1);
    fft.transform(x, re, im);
    for (let k = 0; k <= n / 2; k++) {
      let dr = 0;
      let di = 0;
      for (let t = 0; t < n; t++) {
        dr += x[t]! * Math.cos((-2 * Math.PI * k * t) / n);
        di += x[t]! * Math.sin((-2 * Math.PI * k * t) / n);
      }
      assert.ok(Math.abs(re[k]! - dr) < 1e-9 && Math.abs(im[k]! - di) < 1e-9, `n=${n} bin ${k}`);
    }
  }
});

test('RealFft windowed transforms match a direct DFT of the windowed frame (one or two stages packed)', () => {
  // Sizes with an odd and an even number of stages: the packing then does one or two stages.
  const rng = new Rng(8);
  for (const n of [8, 16, 32, 64, 512]) {
    const samples = Float32Array.from({ length: 3 * n }, () => rng.uniform(-1, 1));
    const offset = n + 3;
    for (const wlen of [n, n - 3]) {
      const window = Float64Array.from({ length: wlen }, () => rng.uniform(0, 1));
      const re = new Float64Array(n / 2 + 1);
      const im = new Float64Array(n / 2 + 1);
      new RealFft(n).transformWindowed(samples, offset, window, re, im);
      for (let k = 0; k <= n / 2; k++) {
        let dr = 0;
        let di = 0;
        for (let t = 0; t < wlen; t++) {
          const v = samples[offset + t]! * window[t]!;
          dr += v * Math.cos((-2 * Math.PI * k * t) / n);
          di += v * Math.sin((-2 * Math.PI * k * t) / n);
        }
        assert.ok(
          Math.abs(re[k]! - dr) < 1e-9 && Math.abs(im[k]! - di) < 1e-9,
          `n=${n} window ${wlen} bin ${k}`,
        );
      }
    }
  }
});

test('RealFft zero-pads short input and rejects sizes that are not powers of two', () => {
  const fft = new RealFft(16);
  const re = new Float64Array(9);
  const im = new Float64Array(9);
  fft.transform([1], re, im); // an impulse: flat spectrum
  assert.deepEqual([...re], new Array(9).fill(1));
  assert.throws(() => new RealFft(480), /power of two/);
});

test('frontend building blocks: periodic Hann, mel filterbank edges, HTK-scaled DCT', () => {
  const w = hannWindow(480);
  assert.equal(w[0], 0);
  assert.ok(Math.abs(w[240]! - 1) < 1e-12); // periodic: the peak is at N/2
  const mel = melFilterbank(40, 257, 16000, 20, 4000);
  // DC never has weight; nothing above 4000 Hz (bin 128) does either.
  assert.ok(mel.start.every((s) => s >= 1));
  const last = mel.start[39]! + mel.weights[39]!.length - 1;
  assert.ok(last <= 128, `last weighted bin ${last}`);
  // Adjacent triangles overlap so that the weights of a bin between two centres sum to 1.
  const sum = new Float64Array(257);
  mel.weights.forEach((ws, m) => ws.forEach((v, j) => (sum[mel.start[m]! + j]! += v)));
  for (let k = 10; k < 120; k++)
    assert.ok(Math.abs(sum[k]! - 1) < 1e-9, `bin ${k} sums to ${sum[k]}`);
  const dct = dctMatrix(10, 40);
  assert.ok(Math.abs(dct[0]! - Math.sqrt(2 / 40)) < 1e-15);
  // Rows 1.. are orthonormal; row 0 has norm sqrt(2) (HTK scaling).
  const dot = (a: number, b: number) => {
    let s = 0;
    for (let i = 0; i < 40; i++) s += dct[a * 40 + i]! * dct[b * 40 + i]!;
    return s;
  };
  assert.ok(Math.abs(dot(3, 3) - 1) < 1e-12 && Math.abs(dot(3, 5)) < 1e-12);
  assert.ok(Math.abs(dot(0, 0) - 2) < 1e-12);
});

test('mfcc of silence is the log floor: coefficient 0 = sqrt(2/40)·40·log(1e-6), the rest 0', () => {
  const out = mfcc(new Float32Array(16000));
  const c0 = Math.sqrt(2 / 40) * 40 * Math.log(1e-6);
  for (let f = 0; f < 49; f++) {
    assert.ok(Math.abs(out[f * 10]! - c0) < 1e-3);
    for (let c = 1; c < 10; c++) assert.ok(Math.abs(out[f * 10 + c]!) < 1e-3);
  }
  assert.throws(() => mfcc(new Float32Array(100)), /16000 samples/);
});

test('quantize: TFLite rounding (half away from zero) with clamping, truncation and wrap on request', () => {
  assert.deepEqual(
    [...quantizeInt8([0.25, -0.25, 0.75, 1000, -1000], 0.5, 0)],
    [1, -1, 2, 127, -128],
  );
  assert.deepEqual([...quantizeInt8([0.9, -0.9], 1, 3, { rounding: 'truncate' })], [3, 2]);
  assert.deepEqual(
    [...quantizeInt8([130], 1, 0, { overflow: 'wrap', rounding: 'truncate' })],
    [-126],
  );
  assert.deepEqual([...quantizeUint8([0.5, 2], 1 / 255, 0)], [128, 255]);
  const x = [-3.5, 0, 12.25];
  const q = quantizeInt8(x, 0.25, 5);
  assert.deepEqual([...dequantize(q, 0.25, 5)], x);
});

function eembcClips() {
  const dir = data('eembc_kws01');
  const files = readdirSync(`${dir}/td_samples`).filter((f) => f.endsWith('.bin'));
  return files.map((f) => {
    const raw = readFileSync(`${dir}/td_samples/${f}`);
    const pcm = new Int16Array(raw.buffer, raw.byteOffset, 16000);
    const read = (sub: string) => {
      const b = readFileSync(`${dir}/${sub}/${f}`);
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    };
    return { f, pcm, mfcc: read('mfcc'), lfbe: read('lfbe') };
  });
}

test(
  'MFCC of the EEMBC clips equals the published int8 features (kws_ref_model input quantisation)',
  { skip: needsShared },
  () => {
    const { scale, zeroPoint } = KWS_REF_INPUT_QUANT;
    const clips = eembcClips();
    assert.ok(clips.length >= 600);
    let n = 0;
    let exact = 0;
    let within1 = 0;
    let worst = 0;
    let exactTflite = 0;
    for (const c of clips) {
      const x = peakNormalize(Float32Array.from(c.pcm, (v) => v / 32768));
      const feat = mfcc(x);
      // The published files were written with numpy's float→int8 cast: truncation, wrap-around.
      const ours = quantizeInt8(feat, scale, zeroPoint, { rounding: 'truncate', overflow: 'wrap' });
      const tflite = quantizeInt8(feat, scale, zeroPoint);
      const ref = new Int8Array(c.mfcc.buffer, c.mfcc.byteOffset, 490);
      for (let i = 0; i < 490; i++) {
        const d = Math.abs(ours[i]! - ref[i]!);
        n++;
        if (d === 0) exact++;
        if (d <= 1) within1++;
        if (Math.abs(tflite[i]! - ref[i]!) === 0) exactTflite++;
        worst = Math.max(worst, d);
      }
    }
    console.log(
      `# mfcc vs eembc: ${clips.length} clips, exact ${((100 * exact) / n).toFixed(3)}%, within ±1 ${((100 * within1) / n).toFixed(3)}%, largest deviation ${worst}; TFLite rounding+clamp exact ${((100 * exactTflite) / n).toFixed(2)}%`,
    );
    assert.ok(within1 / n >= 0.99, `within ±1: ${within1}/${n}`);
    assert.ok(exact / n >= 0.99, `exact: ${exact}/${n}`);
    assert.ok(worst <= 1);
  },
);

/**
 * MFCC written the plain way (the frontend's definition, no FFT): a direct DFT of every
 * windowed frame, dense mel matrix, log, DCT. An independent check on the fast path.
 */
function referenceMfcc(x: Float32Array): Float64Array {
  const w = hannWindow(480);
  const mel = melFilterbank(40, 257, 16000, 20, 4000);
  const dense = new Float64Array(40 * 257);
  mel.weights.forEach((ws, m) => ws.forEach((v, j) => (dense[m * 257 + mel.start[m]! + j] = v)));
  const dct = dctMatrix(10, 40);
  const out = new Float64Array(490);
  const mag = new Float64Array(257);
  const cos = new Float64Array(512);
  const sin = new Float64Array(512);
  for (let t = 0; t < 512; t++) {
    cos[t] = Math.cos((2 * Math.PI * t) / 512);
    sin[t] = Math.sin((2 * Math.PI * t) / 512);
  }
  for (let f = 0; f < 49; f++) {
    for (let k = 0; k <= 128; k++) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < 480; t++) {
        const v = x[f * 320 + t]! * w[t]!;
        re += v * cos[(k * t) % 512]!;
        im -= v * sin[(k * t) % 512]!;
      }
      mag[k] = Math.hypot(re, im);
    }
    const logMel = new Float64Array(40);
    for (let m = 0; m < 40; m++) {
      let s = 0;
      for (let k = 0; k < 257; k++) s += dense[m * 257 + k]! * mag[k]!;
      logMel[m] = Math.log(s + 1e-6);
    }
    for (let c = 0; c < 10; c++) {
      let s = 0;
      for (let m = 0; m < 40; m++) s += dct[c * 40 + m]! * logMel[m]!;
      out[f * 10 + c] = s;
    }
  }
  return out;
}

test(
  'fast MFCC (fused window, two FFT stages per pass, sparse mel) equals a direct-DFT MFCC on the EEMBC clips',
  { skip: needsShared },
  () => {
    const clips = eembcClips().slice(0, 24);
    let worst = 0;
    for (const c of clips) {
      const x = peakNormalize(Float32Array.from(c.pcm, (v) => v / 32768));
      const fast = mfcc(x);
      const ref = referenceMfcc(x);
      for (let i = 0; i < 490; i++)
        worst = Math.max(worst, Math.abs(fast[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!)));
    }
    // float32 output: a few ulps of the coefficients' size is all the two paths may differ by.
    assert.ok(worst < 1e-5, `largest relative difference ${worst}`);
  },
);

test('RealFft.transformWindowed equals transform of the windowed frame, bit for bit', () => {
  const rng = new Rng(11);
  const x = Float32Array.from({ length: 2000 }, () => rng.uniform(-1, 1));
  for (const [size, frame] of [
    [512, 480],
    [64, 64],
    [128, 100],
    [1024, 1000],
  ] as const) {
    const fft = new RealFft(size);
    const w = hannWindow(frame);
    const bins = size / 2 + 1;
    const [r1, i1, r2, i2] = [0, 0, 0, 0].map(() => new Float64Array(bins));
    const windowed = Float64Array.from({ length: frame }, (_, i) => x[37 + i]! * w[i]!);
    fft.transform(windowed, r1!, i1!);
    fft.transformWindowed(x, 37, w, r2!, i2!);
    assert.deepEqual([...r2!], [...r1!], `size ${size} real parts`);
    assert.deepEqual([...i2!], [...i1!], `size ${size} imaginary parts`);
  }
  assert.throws(
    () =>
      new RealFft(512).transformWindowed(
        x,
        1900,
        hannWindow(480),
        new Float64Array(257),
        new Float64Array(257),
      ),
    /outside 2000 samples/,
  );
});

test(
  'LFBE of the EEMBC clips equals the published uint8 features (scale 1/255, truncation)',
  { skip: needsShared },
  () => {
    const clips = eembcClips();
    let n = 0;
    let exact = 0;
    let worst = 0;
    for (const c of clips) {
      const x = peakNormalize(Float32Array.from(c.pcm, (v) => v / 32768));
      const ours = quantizeUint8(lfbe(x), 1 / 255, 0, { rounding: 'truncate' });
      for (let i = 0; i < 490; i++) {
        const d = Math.abs(ours[i]! - c.lfbe[i]!);
        n++;
        if (d === 0) exact++;
        worst = Math.max(worst, d);
      }
    }
    console.log(
      `# lfbe vs eembc: exact ${((100 * exact) / n).toFixed(3)}%, largest deviation ${worst}`,
    );
    assert.ok(exact / n >= 0.99 && worst <= 1);
  },
);

test(
  'without the reference peak normalisation the MFCC no longer matches (the step matters)',
  { skip: needsShared },
  () => {
    const c = eembcClips().find((e) => e.f.startsWith('tst_000003'))!;
    const feat = mfcc(Float32Array.from(c.pcm, (v) => v / 32768));
    const q = quantizeInt8(feat, KWS_REF_INPUT_QUANT.scale, KWS_REF_INPUT_QUANT.zeroPoint, {
      rounding: 'truncate',
    });
    const ref = new Int8Array(c.mfcc.buffer, c.mfcc.byteOffset, 490);
    // A constant gain only moves coefficient 0 (the DCT of a constant log offset).
    let same0 = 0;
    let sameRest = 0;
    for (let i = 0; i < 490; i++) {
      if (q[i] !== ref[i]) continue;
      if (i % 10 === 0) same0++;
      else sameRest++;
    }
    assert.ok(same0 < 49 / 2, `coefficient 0 equal in ${same0} of 49 frames`);
    assert.ok(sameRest >= 441 * 0.99, `other coefficients equal: ${sameRest} of 441`);
  },
);

test(
  'KWS_REF_INPUT_QUANT is the input quantisation stored in kws_ref_model.tflite',
  { skip: needsShared },
  async () => {
    const g = await loadModel(model('kws_ref_model.tflite'));
    const q = g.tensors.get(g.inputs[0]!)!.quant!;
    assert.deepEqual(q.scale, [KWS_REF_INPUT_QUANT.scale]);
    assert.deepEqual(q.zeroPoint, [KWS_REF_INPUT_QUANT.zeroPoint]);
  },
);

test('augmenting with the peak gain equals normalising first, value for value', () => {
  // The extraction folds the peak normalisation into the augmentation's copy; it must give
  // the float32 values that normalising first gives, with and without time shift and noise.
  const rng = new Rng(11);
  const noise = [Float32Array.from({ length: 40_000 }, () => rng.uniform(-0.5, 0.5))];
  for (const timeShiftMs of [0, 100]) {
    const augment = audioAugmenter(noise, { timeShiftMs, backgroundFrequency: 0.5 });
    for (let c = 0; c < 20; c++) {
      const clip = Float32Array.from({ length: 16000 }, () => rng.uniform(-0.3, 0.2));
      const first = augment(peakNormalize(clip.slice()), new Rng(c));
      const folded = augment(clip, new Rng(c), undefined, peakGain(clip));
      assert.deepEqual(folded, first, `clip ${c}, shift ${timeShiftMs} ms`);
    }
  }
  assert.equal(peakGain(new Float32Array(16000).fill(-0.1)), 1, 'no positive peak: unchanged');
});

test('augmentation in one pass equals the copy-then-mix definition, draw for draw', () => {
  // Without time shift the gain and the noise are applied in one pass; the definition: the clip
  // times the gain rounded to float32 (the copy), plus volume × noise, clipped to [-1, 1] when
  // noise was mixed in.
  const rng = new Rng(12);
  const noise = Float32Array.from({ length: 30_000 }, () => rng.uniform(-1, 1));
  const augment = audioAugmenter([noise], { backgroundFrequency: 0.7, backgroundVolume: 0.3 });
  let mixed = 0;
  for (let c = 0; c < 40; c++) {
    const clip = Float32Array.from({ length: 16000 }, () => rng.uniform(-1, 1));
    const gain = 1 + c / 7;
    const got = augment(clip, new Rng(c), undefined, gain);
    const draws = new Rng(c);
    draws.int(1); // the noise file
    const offset = draws.int(noise.length - 16000 + 1);
    const volume = draws.next() < 0.7 ? draws.uniform(0, 0.3) : 0;
    if (volume > 0) mixed++;
    const want = new Float32Array(16000);
    for (let i = 0; i < 16000; i++) {
      const v = Math.fround(clip[i]! * gain) + volume * noise[offset + i]!;
      want[i] = volume > 0 ? Math.min(1, Math.max(-1, v)) : v; // no noise: a plain copy
    }
    assert.deepEqual(got, want, `clip ${c}`);
  }
  assert.ok(mixed > 10 && mixed < 40, `noise mixed into ${mixed} of 40 clips`);
});

test(
  'the native MFCC equals the JavaScript MFCC value for value (random and real clips)',
  { skip: needsNativeKernels },
  () => {
    const rng = new Rng(13);
    const clips: Float32Array[] = Array.from({ length: 20 }, (_, c) =>
      Float32Array.from({ length: 16000 }, () => rng.uniform(-1, 1) * 0.5 ** (c % 6)),
    );
    if (!needsShared)
      for (const c of eembcClips())
        clips.push(peakNormalize(Float32Array.from(c.pcm, (v) => v / 32768)));
    clips.push(new Float32Array(16000)); // silence: the log floor
    let values = 0;
    for (const [i, clip] of clips.entries()) {
      const native = mfcc(clip);
      const js = mfccJs(clip);
      assert.deepEqual(native, js, `clip ${i}`);
      values += js.length;
    }
    console.log(`# native vs js mfcc: ${values} values, all equal`);
    assert.throws(() => mfcc(new Float32Array(15999)), /16000 samples/);
  },
);
