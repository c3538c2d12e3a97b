// Careless and hostile option values for every command that trains or writes: each must fail
// before any work with one line on stderr and exit 2 (test/helpers/abuse.ts checks the line, the
// absence of stack frames, the time and the peak resident memory).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemoModel } from '../src/demo/model.js';
import { deployableGraph } from '../src/prune/save.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { assertCases, inPairs, runAbuse, type AbuseCase } from './helpers/abuse.js';

let dir: string;
let model: string;
let aFile: string;
let outDir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-opts-'));
  // A float model for synthetic:shapes (32x32x1, 4 classes), untrained: every case fails first.
  model = join(dir, 'shapes.tflite');
  writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
  aFile = join(dir, 'a-file');
  writeFileSync(aFile, 'not a directory\n');
  outDir = join(dir, 'out');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const train = (cmd: string, extra: string[], data = 'synthetic:shapes?n=40') => [
  cmd,
  '--model',
  model,
  '--data',
  data,
  ...(cmd === 'prune' ? ['--cut', 'block1'] : []),
  ...extra,
];

const CASES: AbuseCase[] = [
  // --out that cannot be an output, for each command that writes, before any training.
  ...['prune', 'sweep', 'run'].map((cmd) => ({
    name: `${cmd} --out naming a file`,
    args: () => train(cmd, ['--out', aFile]),
    expect: /--out .*a-file: exists and is not a directory, expected an output directory/,
  })),
  {
    name: 'prune --out under a file',
    args: () => train('prune', ['--out', join(aFile, 'sub')]),
    expect: /cannot be created because .*a-file is a file, not a directory/,
  },
  {
    name: 'deploy --out naming a file',
    args: () => ['deploy', '--model', model, '--out', aFile],
    expect: /tinyprune deploy: --out .*: exists and is not a directory/,
  },
  {
    name: 'quantize --out onto its own input',
    args: () => ['quantize', '--model', model, '--calib', 'synthetic:shapes?n=8', '--out', model],
    expect: /tinyprune quantize: --out .*shapes\.tflite: lies on the input .* \(--model\)/,
  },
  {
    name: 'export --out naming a directory',
    args: () => ['export', '--model', model, '--format', 'onnx', '--out', dir],
    expect: /tinyprune export: --out .*: is a directory, expected an output file name/,
  },
  {
    name: 'prune --out inside the data folder',
    args: () =>
      train('prune', ['--out', join(dir, 'data', 'out')], `eembc-vww:${join(dir, 'data')}`),
    expect: /lies inside the input .*data \(--data\)/,
  },
  // Numbers.
  {
    name: '--epochs -1',
    args: () => train('prune', ['--epochs', '-1', '--out', outDir]),
    expect: /--epochs is followed by a value starting with "-"/,
  },
  {
    name: '--epochs=-1',
    args: () => train('prune', ['--epochs=-1', '--out', outDir]),
    expect: /--epochs expects an integer from 1 to 100000, got "-1"/,
  },
  {
    name: '--epochs 0x2',
    args: () => train('prune', ['--epochs', '0x2', '--out', outDir]),
    expect: /--epochs expects an integer from 1 to 100000, got "0x2"/,
  },
  {
    name: '--epochs 1e12',
    args: () => train('sweep', ['--epochs', '1e12', '--out', outDir]),
    expect: /--epochs expects an integer .* got "1e12"/,
  },
  {
    name: '--batch-size 2000000',
    args: () => train('prune', ['--batch-size', '2000000', '--out', outDir]),
    expect: /--batch-size expects an integer from 1 to 65536, got "2000000"/,
  },
  {
    name: '--views 100000',
    args: () => train('run', ['--views', '100000', '--out', outDir]),
    expect: /--views expects an integer from 0 to 1000/,
  },
  {
    name: 'sweep --folds 1000 on 40 examples',
    args: () => train('sweep', ['--folds', '1000', '-q', '--out', outDir]),
    expect:
      /--folds 1000: dataset synthetic:shapes\?n=40 has 40 examples, which leaves fold \d+ empty/,
  },
  {
    name: 'a dataset too small to split',
    args: () => train('prune', ['--out', outDir], 'synthetic:shapes?n=6'),
    expect: /has 6 examples, too few to split: the \w+ part is empty/,
  },
  // Head specs that would allocate gigabytes or run for hours.
  {
    name: 'head pw100000000',
    args: () => train('prune', ['--head', 'pw100000000,gap,fc', '--out', outDir]),
    expect: /"pw100000000" has width 100000000, above the limit of 4096/,
  },
  {
    name: 'head dw999',
    args: () => train('sweep', ['--heads', 'dw999,gap,fc', '--out', outDir]),
    expect: /"dw999" has kernel 999, above the limit of 15/,
  },
  // Spec values and contradictory options.
  {
    name: '?augmentSeed=abc',
    args: () => train('prune', ['--out', outDir], `eembc-vww:${dir}?augmentSeed=abc`),
    expect: /option augmentSeed expects an integer from 0 to 4294967295, got "abc"/,
  },
  // Spec keys a kind does not read: refused, with the kind's own list.
  {
    name: 'vww-folders ?foo=1',
    args: () => train('prune', ['--out', outDir], `vww-folders:${join(dir, 'data')}?foo=1`),
    expect:
      /dataset spec vww-folders:.*\?foo=1: unknown option 'foo' for vww-folders \(known: inputShape, split, cache, augmentSeed\)/,
  },
  {
    name: 'eembc-kws ?noiseDir (a speech-commands key)',
    args: () => train('prune', ['--out', outDir], `eembc-kws:${join(dir, 'data')}?noiseDir=x`),
    expect: /unknown option 'noiseDir' for eembc-kws \(known: features, quantized\)/,
  },
  {
    name: 'run --budget with one named cut and one head',
    args: () =>
      train('run', [
        '--cut',
        'block1',
        '--heads',
        'aux',
        '--budget',
        'params=50%',
        '--out',
        outDir,
      ]),
    expect:
      /tinyprune run: --budget picks among cuts and heads; with --cut block1 and --heads aux there is one candidate/,
  },
  {
    name: '--budget with a named --cut',
    args: () => train('prune', ['--budget', 'params=50%', '--out', outDir]),
    expect: /--budget picks among cuts with --cut auto; with --cut block1 it would be ignored/,
  },
];

describe('abuse: options', () => {
  it('every case fails before work with one line and exit 2', async () => {
    mkdirSync(join(dir, 'data'), { recursive: true });
    await assertCases(CASES);
  });

  it('--batch-size beyond the training split: said once, and one batch of them all per epoch', async () => {
    // 24 training examples: batch 65536 must train exactly as batch 24 does (same weights).
    const prune = (batch: string) =>
      runAbuse(
        train('prune', [
          ...['--batch-size', batch, '--epochs', '2', '--lr', '0.01'],
          ...['--out', join(dir, `batch-${batch}`)],
        ]),
      );
    const [big, whole] = await inPairs([() => prune('65536'), () => prune('24')]);
    for (const r of [big!, whole!]) assert.equal(r.status, 0, r.stderr);
    assert.match(
      big!.stderr,
      /--batch-size 65536 is more than the 24 training examples of an epoch: each epoch is one batch of 24/,
    );
    assert.doesNotMatch(whole!.stderr, /--batch-size/);
    assert.ok(big!.rssMiB < 1024, `peak resident ${big!.rssMiB} MiB`);
    const weights = (b: string) => readFileSync(join(dir, `batch-${b}`, 'pruned.tflite'));
    assert.deepEqual(weights('65536'), weights('24'));
  });
});
