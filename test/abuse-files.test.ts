// Special and oversized files wherever the CLI reads one (model, label list, data file): a FIFO
// must not hang, /dev/zero must not be read forever, a directory or a sparse multi-GB file must
// not be read at all; label rows must be class indices of the dataset. One line, exit 2, fast,
// under 1 GiB resident.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemoModel } from '../src/demo/model.js';
import { readFileBounded } from '../src/io/files.js';
import { TinypruneError } from '../src/graph/types.js';
import { deployableGraph } from '../src/prune/save.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { assertCases, runAbuse, type AbuseCase } from './helpers/abuse.js';
import { findToolchain, GCC } from '../src/mcu/build.js';

let dir: string;
let model: string;
let kwsModel: string;
const p = (...parts: string[]) => join(dir, ...parts);

/** An EEMBC KWS folder `name/mfcc` with one 490-byte input and the given y_labels.csv. */
function kwsFolder(name: string, labels: string | 'dir' | 'fifo', extra?: (d: string) => void) {
  const d = p(name, 'mfcc');
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'a.bin'), new Uint8Array(490));
  if (labels === 'dir') mkdirSync(join(d, 'y_labels.csv'));
  else if (labels === 'fifo') execFileSync('mkfifo', [join(d, 'y_labels.csv')]);
  else writeFileSync(join(d, 'y_labels.csv'), labels);
  extra?.(d);
  return `eembc-kws:${d}`;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-files-'));
  model = p('shapes.tflite');
  writeFileSync(model, writeTflite(deployableGraph(buildDemoModel([32, 32, 1], 4, 1))));
  // KWS-shaped (49x10x1, 12 classes) for the EEMBC KWS folders below.
  kwsModel = p('kws.tflite');
  writeFileSync(kwsModel, writeTflite(deployableGraph(buildDemoModel([49, 10, 1], 12, 1))));
  execFileSync('mkfifo', [p('model.fifo')]);
  mkdirSync(p('model-dir.tflite'));
  // A sparse 300 MB file that starts like a TFLite model: no disk, and it must not be read.
  const fd = openSync(p('huge.tflite'), 'w');
  writeSync(fd, new Uint8Array([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33]));
  closeSync(fd);
  execFileSync('truncate', ['-s', '300M', p('huge.tflite')]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const evalOn = (data: string) => ['eval', '--model', kwsModel, '--data', data];

const CASES: AbuseCase[] = [
  {
    name: 'model is a FIFO',
    args: () => ['inspect', p('model.fifo')],
    expect:
      /cannot read model file .*model\.fifo: it is a FIFO \(named pipe\), expected a regular file/,
  },
  {
    name: 'model is a directory',
    args: () => [
      'prune',
      '--model',
      p('model-dir.tflite'),
      '--data',
      'synthetic:shapes',
      '--cut',
      'block1',
      '--out',
      p('o'),
    ],
    expect: /model-dir\.tflite: it is a directory, expected a regular file/,
  },
  {
    name: 'model is /dev/zero',
    args: () => ['inspect', '/dev/zero'],
    expect: /cannot read model file \/dev\/zero: it is a device, expected a regular file/,
  },
  {
    name: 'model is a sparse 300 MB file',
    args: () => ['inspect', p('huge.tflite')],
    expect:
      /huge\.tflite: 314572800 bytes is over the limit of 268435456 \(set TINYPRUNE_MAX_MODEL_BYTES to raise it\)/,
  },
  {
    name: 'model over a lowered limit',
    args: () => ['inspect', model],
    env: { TINYPRUNE_MAX_MODEL_BYTES: '1000' },
    expect: /shapes\.tflite: \d+ bytes is over the limit of 1000 \(set TINYPRUNE_MAX_MODEL_BYTES/,
  },
  {
    name: 'limit that is not a number',
    args: () => ['inspect', model],
    env: { TINYPRUNE_MAX_MODEL_BYTES: '1e3' },
    expect: /TINYPRUNE_MAX_MODEL_BYTES expects a positive number of bytes, got "1e3"/,
  },
  {
    name: 'y_labels.csv is a FIFO',
    args: () => evalOn(kwsFolder('fifo', 'fifo')),
    expect: /label file .*y_labels\.csv: it is a FIFO \(named pipe\), expected a regular file/,
  },
  {
    name: 'y_labels.csv is a directory',
    args: () => evalOn(kwsFolder('dir', 'dir')),
    expect: /label file .*y_labels\.csv: it is a directory, expected a regular file/,
  },
  {
    name: 'a label row names a directory',
    args: () => evalOn(kwsFolder('rowdir', 'sub, 12, 1\n', (d) => mkdirSync(join(d, 'sub')))),
    expect: /cannot read data file .*sub: it is a directory, expected a regular file/,
  },
  {
    name: 'label 1e300',
    args: () => evalOn(kwsFolder('e300', 'a.bin, 1e301, 1e300\n')),
    expect: /y_labels\.csv:1: expected 'file, n_classes, label' with 0 <= label < n_classes/,
  },
  {
    name: 'label beyond the classes',
    args: () => evalOn(kwsFolder('big', 'a.bin, 100, 50\n')),
    expect: /a\.bin: label 50 is not a class of eembc-kws:.* \(expected 0\.\.11/,
  },
];

/**
 * A toolchain on PATH that cannot build: `arm-none-eabi-gcc` a directory, or the real compiler
 * without its C headers (-nostdinc, an empty include folder: what a toolchain lacking newlib looks like where
 * stdint.h comes from the C library). Deploying an int8 model must say so in one line.
 */
const hasGcc = (() => {
  try {
    return findToolchain() !== '';
  } catch {
    return false;
  }
})();

describe('abuse: toolchain', () => {
  let int8: string;
  before(async () => {
    if (!hasGcc) return;
    int8 = p('shapes_int8.tflite');
    const r = await runAbuse([
      'quantize',
      '--model',
      model,
      '--calib',
      'synthetic:shapes?n=8',
      '--out',
      int8,
    ]);
    assert.equal(r.status, 0, r.stderr);
    mkdirSync(p('gcc-dir', GCC), { recursive: true });
    mkdirSync(p('gcc-nolibc'));
    writeFileSync(
      p('gcc-nolibc', GCC),
      `#!/bin/sh\nexec ${JSON.stringify(findToolchain())} -nostdinc -isystem ${JSON.stringify(p('gcc-nolibc'))} "$@"\n`,
      { mode: 0o755 },
    );
  });
  const deployWith = (bin: string) => ({
    args: () => ['deploy', '--model', int8, '--target', 'rp2040', '--out', p(`deploy-${bin}`)],
    env: { PATH: p(bin) },
  });

  it('a toolchain that is a directory or lacks its C library fails with one line', async (t) => {
    if (!hasGcc) return t.skip(`${GCC} not on PATH`);
    await assertCases([
      {
        name: 'arm-none-eabi-gcc is a directory',
        ...deployWith('gcc-dir'),
        expect:
          /arm-none-eabi-gcc on PATH: .*gcc-dir\/arm-none-eabi-gcc is a directory, expected the compiler's executable file/,
      },
      {
        name: 'toolchain without C library headers',
        ...deployWith('gcc-nolibc'),
        expect:
          /gcc-nolibc\/arm-none-eabi-gcc has no C library headers \(stdint\.h not found\), expected a toolchain with newlib/,
      },
    ]);
  });
});

describe('abuse: files', () => {
  it('readFileBounded reads a regular file whole and refuses /dev/null (a device)', () => {
    writeFileSync(p('small'), 'abc');
    assert.deepEqual([...readFileBounded(p('small'), 'data')], [97, 98, 99]);
    assert.throws(() => readFileBounded('/dev/null', 'data'), TinypruneError);
  });

  it('every special file fails with one line and exit 2, without hanging', async () => {
    await assertCases(CASES);
  });
});
