import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  batches,
  checkInputShape,
  KWS_CLASSES,
  KWS_REF_INPUT_QUANT,
  openDataset,
  parseWav,
  permutation,
  readClip,
  Rng,
  speakerOf,
  splitBySpeaker,
  splitRandom,
  TinypruneError,
} from '../src/index.js';
import { data, needsShared } from './helpers/shared.js';

/** A WAV file's bytes with the given header fields (to make good and bad files). */
function wavBytes(
  samples: number[],
  h: { format?: number; channels?: number; rate?: number; bits?: number; cutData?: number } = {},
): Uint8Array {
  const bits = h.bits ?? 16;
  const channels = h.channels ?? 1;
  const dataLen = samples.length * 2;
  const b = Buffer.alloc(44 + dataLen - (h.cutData ?? 0));
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + dataLen, 4);
  b.write('WAVE', 8);
  b.write('fmt ', 12);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(h.format ?? 1, 20);
  b.writeUInt16LE(channels, 22);
  b.writeUInt32LE(h.rate ?? 16000, 24);
  b.writeUInt32LE(((h.rate ?? 16000) * channels * bits) / 8, 28);
  b.writeUInt16LE((channels * bits) / 8, 32);
  b.writeUInt16LE(bits, 34);
  b.write('data', 36);
  b.writeUInt32LE(dataLen, 40);
  samples.forEach((s, i) => {
    if (44 + 2 * i + 2 <= b.length) b.writeInt16LE(s, 44 + 2 * i);
  });
  return b;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'tinyprune-data-'));

test('Rng: seeded, reproducible, in range; permutation is a permutation', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 1000 }, () => a.next());
  assert.deepEqual(
    xs,
    Array.from({ length: 1000 }, () => b.next()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.notDeepEqual(
    xs.slice(0, 5),
    Array.from({ length: 5 }, new Rng(43).next.bind(new Rng(43))),
  );
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05);
  const p = permutation(100, 1);
  assert.deepEqual(
    [...p].sort((x, y) => x - y),
    Array.from({ length: 100 }, (_, i) => i),
  );
  assert.notDeepEqual(p, permutation(100, 2));
  const counts = new Array(6).fill(0);
  const r = new Rng(5);
  for (let i = 0; i < 6000; i++) counts[r.int(6)]++;
  assert.ok(
    counts.every((c) => c > 850 && c < 1150),
    counts.join(),
  );
});

test('WAV reader: 16-bit mono 16 kHz PCM; short clips zero-padded, long ones cut to 1 s', async () => {
  const w = parseWav(wavBytes([1, -2, 32767, -32768]), 'x.wav');
  assert.deepEqual([...w.samples], [1, -2, 32767, -32768]);
  const dir = tmp();
  writeFileSync(join(dir, 'short.wav'), wavBytes([16384, -16384]));
  const short = await readClip(join(dir, 'short.wav'));
  assert.equal(short.length, 16000);
  assert.deepEqual([...short.slice(0, 3)], [0.5, -0.5, 0]);
  assert.ok(short.slice(2).every((v) => v === 0));
  const long = Array.from({ length: 20000 }, (_, i) => (i < 16000 ? 100 : 200));
  writeFileSync(join(dir, 'long.wav'), wavBytes(long));
  const cut = await readClip(join(dir, 'long.wav'));
  assert.equal(cut.length, 16000);
  assert.ok(cut.every((v) => v === 100 / 32768));
});

test('WAV reader: each bad file gives a one-line TinypruneError naming the file and the problem', async () => {
  const cases: [Uint8Array, RegExp][] = [
    [Buffer.from('hello this is not a wav file'), /bad\.wav: not a WAV file/],
    [wavBytes([0, 0], { format: 3 }), /bad\.wav: expected PCM audio \(format 1\), found format 3/],
    [wavBytes([0, 0], { bits: 8 }), /bad\.wav: expected 16-bit PCM, found 8-bit/],
    [wavBytes([0, 0], { channels: 2 }), /bad\.wav: expected mono audio, found 2 channels/],
    [
      wavBytes([0, 0], { rate: 44100 }),
      /bad\.wav: expected a 16000 Hz sample rate, found 44100 Hz/,
    ],
    [wavBytes([1, 2, 3, 4], { cutData: 4 }), /bad\.wav: truncated WAV/],
    [wavBytes([]).subarray(0, 30), /bad\.wav: truncated WAV/],
  ];
  const dir = tmp();
  for (const [bytes, re] of cases) {
    writeFileSync(join(dir, 'bad.wav'), bytes);
    await assert.rejects(readClip(join(dir, 'bad.wav')), (e: Error) => {
      assert.ok(e instanceof TinypruneError, `${e}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
  await assert.rejects(
    readClip(join(dir, 'missing.wav')),
    /cannot read WAV file .*missing\.wav: no such file/,
  );
});

test('speakerOf reads both Speech Commands name forms', () => {
  assert.equal(speakerOf('yes/0a7c2a8d_nohash_1.wav'), '0a7c2a8d');
  assert.equal(speakerOf('_unknown_/backward_0cb74144_nohash_2.wav.wav'), '0cb74144');
  assert.equal(speakerOf('_silence_/1024.wav'), undefined);
});

test(
  'speech-commands (canonical test layout): classes, counts per folder, speakers, features',
  { skip: needsShared },
  async () => {
    const dir = data('speech_commands_v2_test');
    const ds = await openDataset(`speech-commands:${dir}`);
    assert.deepEqual(ds.classes, KWS_CLASSES);
    assert.deepEqual(ds.inputShape, [49, 10, 1]);
    KWS_CLASSES.forEach((c, k) => {
      const folder = c === 'silence' ? '_silence_' : c === 'unknown' ? '_unknown_' : c;
      const n = readdirSync(join(dir, folder)).filter((f) => f.endsWith('.wav')).length;
      assert.equal(ds.labels.filter((l) => l === k).length, n, c);
    });
    const yes = ds.labels.indexOf(9);
    assert.equal(ds.groups![yes], speakerOf(ds.ids![yes]!));
    const x = await ds.load(yes);
    assert.equal(x.length, 490);
    assert.ok(x.every(Number.isFinite));
    assert.equal(await ds.load(yes), x, 'features are cached');
    // lfbe through the spec option
    const lf = await openDataset(`speech-commands:${dir}?features=lfbe`);
    const y = await lf.load(yes);
    assert.ok(y.every((v) => v >= 0 && v <= 1));
  },
);

test(
  'eembc-kws: td_samples through our MFCC agrees with the shipped int8 mfcc (dequantised)',
  { skip: needsShared },
  async () => {
    const td = await openDataset(`eembc-kws:${data('eembc_kws01', 'td_samples')}`);
    const mf = await openDataset(`eembc-kws:${data('eembc_kws01', 'mfcc')}`);
    const q = await openDataset(`eembc-kws:${data('eembc_kws01', 'mfcc')}?quantized=true`);
    assert.equal(td.length, 666);
    assert.deepEqual(td.labels, mf.labels);
    assert.equal(td.labels[0], KWS_CLASSES.indexOf('left')); // tst_000001_Left_2.bin
    const { scale, zeroPoint } = KWS_REF_INPUT_QUANT;
    let close = 0;
    let n = 0;
    for (let i = 0; i < 40; i++) {
      const [a, b, c] = await Promise.all([td.load(i), mf.load(i), q.load(i)]);
      for (let k = 0; k < 490; k++) {
        n++;
        if (Math.abs(a[k]! - b[k]!) <= scale + 1e-5) close++;
        assert.ok(Math.abs((c[k]! - zeroPoint) * scale - b[k]!) < 1e-4);
        assert.ok(Number.isInteger(c[k]));
      }
    }
    assert.ok(close / n >= 0.99, `${close}/${n}`);
    const lf = await openDataset(`eembc-kws:${data('eembc_kws01', 'lfbe')}`);
    const l0 = await lf.load(0);
    assert.ok(l0.every((v) => v >= 0 && v <= 1));
  },
);

test(
  'eembc-kws / eembc-vww: bad folders and label rows give clear errors',
  { skip: needsShared },
  async () => {
    await assert.rejects(
      openDataset('eembc-kws:/nonexistent/mfcc'),
      /\/nonexistent\/mfcc: EEMBC KWS folder not found/,
    );
    await assert.rejects(
      openDataset('nope:/x'),
      /expected KIND:PATH with KIND one of speech-commands/,
    );
    await assert.rejects(
      openDataset(`speech-commands:/nonexistent`),
      /\/nonexistent: Speech Commands folder not found/,
    );
    const dir = join(tmp(), 'mfcc');
    mkdirSync(dir);
    copyFileSync(
      data('eembc_kws01', 'mfcc', 'tst_000001_Left_2.bin'),
      join(dir, 'tst_000001_Left_2.bin'),
    );
    writeFileSync(
      join(dir, 'y_labels.csv'),
      'tst_000001_Left_2.bin, 12, 2\ntst_missing.bin, 12, 3\n',
    );
    await assert.rejects(
      openDataset(`eembc-kws:${dir}`),
      /y_labels\.csv:2: names tst_missing\.bin, which is not in/,
    );
    writeFileSync(join(dir, 'y_labels.csv'), 'tst_000001_Left_2.bin, 12, 14\n');
    await assert.rejects(
      openDataset(`eembc-kws:${dir}`),
      /y_labels\.csv:1: expected 'file, n_classes, label'/,
    );
    writeFileSync(join(dir, 'y_labels.csv'), 'tst_000001_Left_2.bin, 12, 2\n');
    const ds = await openDataset(`eembc-kws:${dir}`);
    assert.equal(ds.length, 1);
  },
);

test(
  'speech-commands (full release layout): splits by the lists, unknown words, silence cut from noise',
  { skip: needsShared },
  async () => {
    const src = data('speech_commands_v2_test');
    const dir = tmp();
    const pick = (folder: string, n: number) => readdirSync(join(src, folder)).slice(0, n);
    for (const w of ['yes', 'no']) {
      mkdirSync(join(dir, w));
      for (const f of pick(w, 4)) copyFileSync(join(src, w, f), join(dir, w, f));
    }
    mkdirSync(join(dir, 'marvin'));
    const unk = pick('_unknown_', 2);
    unk.forEach((f, i) =>
      copyFileSync(join(src, '_unknown_', f), join(dir, 'marvin', `1234abc${i}_nohash_0.wav`)),
    );
    mkdirSync(join(dir, '_background_noise_'));
    const noise = Array.from({ length: 40000 }, (_, i) => Math.round(1000 * Math.sin(i / 7)));
    writeFileSync(join(dir, '_background_noise_', 'hum.wav'), wavBytes(noise));
    writeFileSync(
      join(dir, '_background_noise_', 'running_tap.wav'),
      wavBytes(noise.slice(0, 20000)),
    );
    const yes = pick('yes', 4);
    writeFileSync(join(dir, 'validation_list.txt'), `yes/${yes[0]}\n`);
    writeFileSync(join(dir, 'testing_list.txt'), `yes/${yes[1]}\nmarvin/1234abc0_nohash_0.wav\n`);
    const train = await openDataset(`speech-commands:${dir}`);
    const val = await openDataset(`speech-commands:${dir}?split=validation`);
    const testSplit = await openDataset(`speech-commands:${dir}`, { split: 'test' });
    // hum.wav: starts 0, 8000, 16000 (< 40000 - 16000) → 3 silence clips; running_tap: 1 (validation)
    const count = (ds: typeof train, k: number) => ds.labels.filter((l) => l === k).length;
    assert.equal(count(train, 10), 3);
    assert.equal(count(val, 10), 1);
    assert.equal(count(testSplit, 10), 0);
    assert.equal(count(train, 9), 2);
    assert.equal(count(train, 3), 4);
    assert.equal(count(train, 11), 1);
    assert.equal(count(testSplit, 11), 1);
    assert.equal(val.length, 2);
    const silence = await train.load(train.labels.indexOf(10));
    assert.equal(silence.length, 490);
    // Augmentation: seeded and reproducible; with no noise and no shift it changes nothing.
    const a1 = await openDataset(`speech-commands:${dir}`, { augment: { seed: 3 } });
    const a2 = await openDataset(`speech-commands:${dir}`, { augment: { seed: 3 } });
    const plain = await train.load(0);
    const x1 = await a1.load(0);
    assert.deepEqual(x1, await a2.load(0));
    const off = await openDataset(`speech-commands:${dir}`, {
      augment: { seed: 3, backgroundFrequency: 0 },
    });
    assert.deepEqual(await off.load(0), plain);
    const loud = await openDataset(`speech-commands:${dir}`, {
      augment: { seed: 3, backgroundFrequency: 1 },
    });
    assert.notDeepEqual(await loud.load(0), plain);
  },
);

test(
  'splitBySpeaker keeps every speaker in one part; splitRandom is stratified; both seeded',
  { skip: needsShared },
  async () => {
    const ds = await openDataset(`speech-commands:${data('speech_commands_v2_test')}`);
    const [tr, va] = splitBySpeaker(ds, [0.8, 0.2], 1);
    assert.equal(tr!.length + va!.length, ds.length);
    const trSpeakers = new Set(tr!.groups);
    assert.ok(va!.groups!.every((g) => !trSpeakers.has(g)));
    assert.ok(Math.abs(va!.length / ds.length - 0.2) < 0.02, `${va!.length}/${ds.length}`);
    assert.deepEqual(splitBySpeaker(ds, [0.8, 0.2], 1)[1]!.ids, va!.ids);
    assert.notDeepEqual(splitBySpeaker(ds, [0.8, 0.2], 2)[1]!.ids, va!.ids);
    const [a, b] = splitRandom(ds, [0.75, 0.25], 9);
    for (let k = 0; k < 12; k++) {
      const n = ds.labels.filter((l) => l === k).length;
      const nb = b!.labels.filter((l) => l === k).length;
      assert.ok(Math.abs(nb - n * 0.25) <= 1, `class ${k}: ${nb} of ${n}`);
    }
    assert.equal(a!.length + b!.length, ds.length);
    assert.throws(
      () => splitRandom(ds, [0.5, 0.6], 1),
      /fractions: expected non-negative numbers summing to 1/,
    );
  },
);

test(
  'batches: every example once, seeded order, x equals the loaded examples',
  { skip: needsShared },
  async () => {
    const ds = (await openDataset(`eembc-kws:${data('eembc_kws01', 'mfcc')}`)).subset([
      ...Array(25).keys(),
    ]);
    const seen: number[] = [];
    let first: number[] | undefined;
    for await (const b of batches(ds, { batchSize: 10, shuffle: true, seed: 4 })) {
      first ??= b.indices;
      assert.equal(b.x.length, b.indices.length * 490);
      const k = b.indices.length - 1;
      assert.deepEqual(b.x.subarray(k * 490), await ds.load(b.indices[k]!));
      assert.equal(b.y[k], ds.labels[b.indices[k]!]);
      seen.push(...b.indices);
    }
    assert.deepEqual(
      [...seen].sort((x, y) => x - y),
      [...Array(25).keys()],
    );
    assert.notDeepEqual(seen, [...Array(25).keys()]);
    const again = await batches(ds, { batchSize: 10, shuffle: true, seed: 4 }).next();
    assert.deepEqual(again.value!.indices, first);
    let count = 0;
    for await (const _ of batches(ds, { batchSize: 10, dropRemainder: true })) count++;
    assert.equal(count, 2);
  },
);

test(
  'eembc-vww: 96x96x3 pixels/255 with person labels; checkInputShape names both shapes',
  { skip: needsShared },
  async () => {
    const dir = data('eembc_vww01');
    const ds = await openDataset(`eembc-vww:${dir}`);
    const rows = readFileSync(join(dir, 'y_labels.csv'), 'utf8').trim().split('\n');
    assert.equal(ds.length, rows.length);
    const [file, , label] = rows[0]!.split(',');
    assert.equal(ds.labels[0], Number(label));
    const x = await ds.load(0);
    const raw = readFileSync(join(dir, file!));
    assert.equal(x.length, 96 * 96 * 3);
    assert.equal(x[100], Math.fround(raw[100]! / 255));
    checkInputShape(ds, [1, 96, 96, 3]);
    assert.throws(
      () => checkInputShape(ds, [1, 49, 10, 1]),
      /model expects input \[1, 49, 10, 1\] but the dataset gives \[96, 96, 3\]/,
    );
  },
);
