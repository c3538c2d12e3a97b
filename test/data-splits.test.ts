// The datasets' own partitions: a Speech Commands release layout (word folders, the two list
// files, _background_noise_) built from the shared clips, a train/ val/ test/ image layout,
// --val-data / --test-data for every kind, the 60/20/20 fallback, and overlap errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import {
  KWS_CLASSES,
  openDataset,
  preparePruneData,
  readWav,
  speakerOf,
  TinypruneError,
} from '../src/index.js';
import { data, model, needsShared } from './helpers/shared.js';
import { runCli } from './helpers/cli.js';

const SC = data('speech_commands_v2_test');
const NOISE = data('speech_commands_background_noise');

/** A 16 kHz mono 16-bit WAV file's bytes. */
function wavFile(samples: Int16Array): Buffer {
  const b = Buffer.alloc(44 + samples.length * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + samples.length * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(samples.length * 2, 40);
  Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).copy(b, 44);
  return b;
}

interface Layout {
  dir: string;
  validation: string[];
  testing: string[];
  training: string[];
}

/**
 * A small Speech Commands release layout from the shared clips: up to `perWord` clips of each
 * keyword and of a few other words (from _unknown_), speakers dealt to the lists by the first hex
 * digit of their id, and 2.5 s of two real background recordings (3 silence clips each).
 */
async function buildRelease(perWord = 4): Promise<Layout> {
  const dir = mkdtempSync(join(tmpdir(), 'tp-sc-release-'));
  const out: Layout = { dir, validation: [], testing: [], training: [] };
  const place = (word: string, src: string, name: string) => {
    mkdirSync(join(dir, word), { recursive: true });
    copyFileSync(src, join(dir, word, name));
    const rel = `${word}/${name}`;
    // Speakers are dealt by their id, so a speaker's clips stay in one partition.
    const d = parseInt(speakerOf(name)!, 16) % 5;
    (d === 0 ? out.validation : d === 1 ? out.testing : out.training).push(rel);
  };
  for (const word of KWS_CLASSES.slice(0, 10)) {
    for (const f of readdirSync(join(SC, word))
      .filter((f) => /^[0-9a-f]{8}_nohash_\d+\.wav$/.test(f))
      .slice(0, perWord))
      place(word, join(SC, word, f), f);
  }
  // _unknown_/<word>_<speaker>_nohash_<n>.wav.wav → <word>/<speaker>_nohash_<n>.wav
  const unknown = readdirSync(join(SC, '_unknown_')).sort();
  for (const f of unknown.slice(0, perWord * 2)) {
    const m = /^([a-z]+)_([0-9a-f]{8}_nohash_\d+\.wav)\.wav$/.exec(f);
    if (m) place(m[1]!, join(SC, '_unknown_', f), m[2]!);
  }
  writeFileSync(join(dir, 'validation_list.txt'), out.validation.join('\n') + '\n');
  writeFileSync(join(dir, 'testing_list.txt'), out.testing.join('\n') + '\n');
  mkdirSync(join(dir, '_background_noise_'));
  for (const f of ['white_noise.wav', 'running_tap.wav']) {
    const { samples } = await readWav(join(NOISE, f));
    writeFileSync(join(dir, '_background_noise_', f), wavFile(samples.slice(0, 40_000)));
  }
  return out;
}

test(
  'a Speech Commands release uses its validation and testing lists',
  { skip: needsShared },
  async () => {
    const L = await buildRelease();
    try {
      const d = await preparePruneData(`speech-commands:${L.dir}`, 1);
      // 2.5 s of background = silence cuts at 0, 0.5 and 1.0 s: 3 per recording.
      assert.equal(d.train.length, L.training.length + 3);
      assert.equal(d.val.length, L.validation.length + 3);
      assert.equal(d.test.length, L.testing.length);
      assert.deepEqual(d.partitions, {
        train: {
          n: L.training.length + 3,
          from: `speech-commands:${L.dir} (validation_list.txt / testing_list.txt)`,
        },
        val: {
          n: L.validation.length + 3,
          from: `speech-commands:${L.dir} (validation_list.txt / testing_list.txt)`,
        },
        test: {
          n: L.testing.length,
          from: `speech-commands:${L.dir} (validation_list.txt / testing_list.txt)`,
        },
      });
      const rel = (id: string) => id.slice(L.dir.length + 1);
      assert.deepEqual(d.test.ids!.map(rel).sort(), [...L.testing].sort());
      assert.deepEqual(
        d.val
          .ids!.map(rel)
          .filter((r) => !r.startsWith('_'))
          .sort(),
        [...L.validation].sort(),
      );
      assert.equal(d.task, 'kws');
      assert.ok(d.augmentedTrain, 'the release has _background_noise_: views are available');
      // `split=train` names the training partition: the lists still give validation and test.
      const t = await preparePruneData(`speech-commands:${L.dir}?split=train`, 1);
      assert.equal(t.test.length, L.testing.length);

      // A clip in both lists is an error naming it.
      const dup = L.validation[0]!;
      writeFileSync(join(L.dir, 'testing_list.txt'), [...L.testing, dup].join('\n'));
      await assert.rejects(
        preparePruneData(`speech-commands:${L.dir}`, 1),
        (e: Error) =>
          e instanceof TinypruneError &&
          e.message.includes(join(L.dir, dup)) &&
          /both validation_list.txt and testing_list.txt/.test(e.message),
      );
    } finally {
      rmSync(L.dir, { recursive: true, force: true });
    }
  },
);

test(
  'prune on a release layout reports the partitions in its output and result.json',
  { skip: needsShared },
  async () => {
    const L = await buildRelease(3);
    const out = mkdtempSync(join(tmpdir(), 'tp-sc-prune-'));
    try {
      const r = runCli(
        [
          'prune',
          '--model',
          model('kws_ref_model_float32.tflite'),
          '--data',
          `speech-commands:${L.dir}`,
          '--cut',
          'block2',
          '--recipe',
          'paper',
          '--epochs',
          '1',
          '--cache-precision',
          'fp16',
          '--out',
          out,
        ],
        { timeoutMs: 300_000 },
      );
      assert.equal(r.status, 0, r.stderr);
      const counts = `train ${L.training.length + 3} · val ${L.validation.length + 3} · test ${L.testing.length}`;
      assert.ok(r.stderr.includes(counts), r.stderr);
      const res = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
      assert.equal(res.partitions.train.n, L.training.length + 3);
      assert.equal(res.partitions.val.n, L.validation.length + 3);
      assert.equal(res.partitions.test.n, L.testing.length);
      assert.equal(res.test.n, L.testing.length);
      assert.match(res.split, /validation_list\.txt \/ testing_list\.txt/);
      assert.equal(res.recipe, 'paper');
      // The cache precision asked for is the one trained with (auto would give fp32 here).
      assert.equal(res.featureCache.precision, 'fp16');
      assert.equal(res.settings.cachePrecision, 'fp16');
    } finally {
      rmSync(L.dir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  },
);

test(
  '--val-data and --test-data replace partitions; the rest is carved 75/25',
  { skip: needsShared },
  async () => {
    const L = await buildRelease();
    try {
      const kwsPool = `speech-commands:${SC}`;
      const eembcKws = `eembc-kws:${data('eembc_kws01', 'mfcc')}`;
      // The canonical test layout is a pool: 60/20/20 with nothing else given.
      const fallback = await preparePruneData(kwsPool, 1);
      assert.match(fallback.split, /^speaker-disjoint 60\/20\/20, seed 1$/);
      const n = fallback.train.length + fallback.val.length + fallback.test.length;
      assert.ok(Math.abs(fallback.train.length / n - 0.6) < 0.03);
      // EEMBC set as test data: the pool is split 75/25 into train and validation.
      const withTest = await preparePruneData(kwsPool, 1, undefined, { test: eembcKws });
      const eembcRows = readFileSync(data('eembc_kws01', 'mfcc', 'y_labels.csv'), 'utf8')
        .split(/\r?\n/)
        .filter((l) => l.trim() !== '').length;
      assert.equal(withTest.test.length, eembcRows);
      assert.equal(withTest.partitions.test.from, `--test-data ${eembcKws}`);
      assert.equal(withTest.train.length + withTest.val.length, n);
      assert.ok(Math.abs(withTest.train.length / n - 0.75) < 0.03, `${withTest.train.length}/${n}`);
      assert.match(withTest.split, /train\/val 75\/25/);
      // A release's test list as --test-data, its validation list as --val-data.
      const both = await preparePruneData(kwsPool, 1, undefined, {
        val: `speech-commands:${L.dir}`,
        test: `speech-commands:${L.dir}`,
      });
      assert.equal(both.train.length, n, 'everything else trains');
      assert.equal(both.test.length, L.testing.length);
      assert.equal(both.val.length, L.validation.length + 3);
      // The same files as training and test data: an error naming one of them.
      await assert.rejects(
        preparePruneData(kwsPool, 1, undefined, { test: kwsPool }),
        (e: Error) =>
          e instanceof TinypruneError &&
          /in both the (train|val) and the test partition/.test(e.message) &&
          e.message.startsWith(SC),
      );
      // Classes or input shapes that differ from the training data's.
      await assert.rejects(
        preparePruneData(kwsPool, 1, undefined, { test: `eembc-vww:${data('eembc_vww01')}` }),
        /--test-data eembc-vww:.*expected the training data's classes/,
      );
      await assert.rejects(
        preparePruneData(kwsPool, 1, { index: 0, count: 5 }, { test: eembcKws }),
        /--folds makes its own validation and test parts/,
      );
    } finally {
      rmSync(L.dir, { recursive: true, force: true });
    }
  },
);

test(
  'EEMBC VWW images: 60/20/20 alone, and as --test-data for image folders',
  { skip: needsShared },
  async () => {
    const vww = `eembc-vww:${data('eembc_vww01')}`;
    const d = await preparePruneData(vww, 1);
    assert.match(d.split, /^stratified random 60\/20\/20, seed 1$/);
    assert.deepEqual(
      [d.partitions.train.n, d.partitions.val.n, d.partitions.test.n],
      [d.train.length, d.val.length, d.test.length],
    );
    assert.equal(d.train.length + d.val.length + d.test.length, 713);
    assert.equal(d.task, 'vww');
    // Both partitions from other specs: all of --data trains.
    const dir = await imageFolders({ flat: true });
    try {
      const e = await preparePruneData(`vww-folders:${dir}`, 1, undefined, { val: vww, test: vww });
      assert.fail(`expected an overlap error, got ${e.split}`);
    } catch (err) {
      assert.ok(err instanceof TinypruneError);
      assert.match((err as Error).message, /in both the val and the test partition/);
    }
    try {
      const e = await preparePruneData(`vww-folders:${dir}`, 1, undefined, { test: vww });
      assert.equal(e.test.length, 713);
      assert.equal(e.train.length + e.val.length, 16);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

/** 8 images per class from the EEMBC set as PNG: flat person/ non_person/, or train/ val/ test/. */
async function imageFolders(o: { flat: boolean }): Promise<string> {
  const src = data('eembc_vww01');
  const rows = readFileSync(join(src, 'y_labels.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((l) => l.split(',').map((c) => c.trim()));
  const dir = mkdtempSync(join(tmpdir(), 'tp-vww-folders-'));
  const perClass = [0, 0];
  for (const [file, , label] of rows) {
    const cls = Number(label);
    if (perClass[cls]! >= 8) continue;
    const k = perClass[cls]!++;
    const part = o.flat ? '' : k < 4 ? 'train' : k < 6 ? 'val' : 'test';
    const sub = join(dir, part, cls === 1 ? 'person' : 'non_person');
    mkdirSync(sub, { recursive: true });
    await sharp(readFileSync(join(src, file!)), { raw: { width: 96, height: 96, channels: 3 } })
      .png()
      .toFile(join(sub, basename(file!, '.bin') + '.png'));
  }
  return dir;
}

test('image folders with train/ val/ test/ use them', { skip: needsShared }, async () => {
  const dir = await imageFolders({ flat: false });
  try {
    const d = await preparePruneData(`vww-folders:${dir}`, 1);
    assert.deepEqual([d.train.length, d.val.length, d.test.length], [8, 4, 4]);
    assert.equal(d.partitions.test.from, `vww-folders:${dir} (train/ val/ test/ folders)`);
    assert.ok(d.test.ids!.every((id) => id.startsWith(join(dir, 'test'))));
    assert.ok(d.augmentedTrain);
    // One partition as a spec; the layout's test/ folder as --test-data of another set.
    assert.equal((await openDataset(`vww-folders:${dir}?split=val`)).length, 4);
    assert.equal((await openDataset(`vww-folders:${dir}?split=validation`)).length, 4);
    const t = await preparePruneData(`eembc-vww:${data('eembc_vww01')}`, 1, undefined, {
      test: `vww-folders:${dir}`,
    });
    assert.equal(t.test.length, 4);
    // Without test/, the test partition is carved from train/ (75/25).
    rmSync(join(dir, 'test'), { recursive: true });
    const c = await preparePruneData(`vww-folders:${dir}`, 1);
    assert.deepEqual([c.train.length, c.val.length, c.test.length], [6, 4, 2]);
    assert.match(c.split, /train\/test 75\/25 of the training data/);
    await assert.rejects(
      preparePruneData(`vww-folders:${dir}?split=test`, 1),
      /folder not found \(split=test\)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
