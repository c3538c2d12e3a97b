// The dataset kinds table: every kind opens through it, says its task, augmentation and own
// partitions; specs are parsed in one place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DATASET_KINDS,
  KINDS,
  openDataset,
  parseSpec,
  preparePruneData,
  taskOfSpec,
  TinypruneError,
} from '../src/index.js';
import { data, needsShared } from './helpers/shared.js';

test('one entry per kind, each with a task and an augmentation', () => {
  assert.deepEqual([...DATASET_KINDS].sort(), [
    'eembc-ic',
    'eembc-kws',
    'eembc-vww',
    'fashion-mnist',
    'speech-commands',
    'synthetic',
    'vww-folders',
  ]);
  for (const k of DATASET_KINDS) {
    const e = KINDS[k];
    assert.ok(['kws', 'vww', 'image'].includes(e.task), k);
    assert.ok(['audio-noise', 'image', 'none'].includes(e.augmentation), k);
    assert.equal(typeof e.open, 'function');
  }
  assert.equal(taskOfSpec('speech-commands:/x'), 'kws');
  assert.equal(taskOfSpec('eembc-kws:/x/mfcc'), 'kws');
  assert.equal(taskOfSpec('eembc-vww:/x'), 'vww');
  assert.equal(taskOfSpec('vww-folders:/x?inputShape=96x96x1'), 'vww');
  assert.equal(taskOfSpec('synthetic:shapes'), 'image');
  assert.equal(taskOfSpec('fashion-mnist:/x'), 'image');
  assert.equal(taskOfSpec('eembc-ic:/x'), 'image');
});

test('specs parse in one place; unknown kinds name the known ones', () => {
  assert.deepEqual(
    (({ kind, path, query }) => ({ kind, path, query }))(
      parseSpec('vww-folders:/a/b?split=val&cache=1'),
    ),
    { kind: 'vww-folders', path: '/a/b', query: 'split=val&cache=1' },
  );
  for (const bad of ['nokind', 'imagenet:/x', 'toString:/x', ':/x'])
    assert.throws(
      () => parseSpec(bad),
      (e: Error) =>
        e instanceof TinypruneError &&
        e.message.includes(`'${bad}'`) &&
        e.message.includes(DATASET_KINDS.join(', ')),
    );
});

test('a generated kind opens through the table; it has no augmentation and no own split', async () => {
  const ds = await openDataset('synthetic:shapes?n=40&size=16');
  assert.equal(ds.length, 40);
  const d = await preparePruneData('synthetic:shapes?n=40&size=16', 3);
  assert.equal(d.task, 'image');
  assert.equal(d.augmentedTrain, undefined);
  assert.match(d.split, /^stratified random 60\/20\/20, seed 3$/);
  assert.equal(d.partitions.train.n + d.partitions.val.n + d.partitions.test.n, 40);
});

test(
  'EEMBC sets are test data; the canonical Speech Commands layout too',
  { skip: needsShared },
  async () => {
    const vww = KINDS['eembc-vww'];
    const own = await vww.partitions!(data('eembc_vww01'), '', `eembc-vww:${data('eembc_vww01')}`);
    assert.deepEqual(Object.keys(own!.parts), ['test']);
    assert.equal(own!.parts.test!.length, 713);
    const kws = KINDS['eembc-kws'];
    const k = await kws.partitions!(data('eembc_kws01', 'mfcc'), '', 'eembc-kws:mfcc');
    assert.deepEqual(Object.keys(k!.parts), ['test']);
    const sc = await KINDS['speech-commands'].partitions!(
      data('speech_commands_v2_test'),
      '',
      'speech-commands:test-layout',
    );
    assert.deepEqual(Object.keys(sc!.parts), ['test']);
    assert.equal(sc!.parts.test!.length, 3174);
    // Flat person/ non_person/ folders define nothing.
    assert.equal(await KINDS['vww-folders'].partitions!(data('eembc_vww01'), '', 'x'), undefined);
  },
);
