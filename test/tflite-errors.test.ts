// Damaged and unsupported .tflite files must give one-line TinypruneErrors naming the file and the
// problem: never a RangeError stack trace, never a hang. Random truncations and byte flips of the
// real models go through loadModel (the CLI's entry), a few through the CLI itself.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { validateGraph } from '../src/graph/graph.js';
import { TinypruneError } from '../src/graph/types.js';
import { loadModel } from '../src/io/load.js';
import { readTflite } from '../src/io/tflite/reader.js';
import { runCli } from './helpers/cli.js';
import { model, needsShared } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'tinyprune-tflite-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A one-line user error that names the file. */
function assertUserError(e: unknown, path: string): asserts e is TinypruneError {
  if (!(e instanceof TinypruneError))
    assert.fail(`expected a TinypruneError for ${path}, got ${(e as Error)?.stack ?? e}`);
  assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
  assert.ok(e.message.includes(path), `message does not name the file: ${e.message}`);
}

/** Loads `bytes` from a temp file; returns 'ok' (and checks the graph) or 'error'. */
async function tryLoad(bytes: Uint8Array, name: string): Promise<'ok' | 'error'> {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  try {
    const g = await loadModel(path);
    // A flip that still gives a valid model must give a usable graph.
    validateGraph(g);
    modelTotals(g);
    findCutPoints(g);
    return 'ok';
  } catch (e) {
    assertUserError(e, path);
    return 'error';
  }
}

// A minimal model written with the flatbuffers Builder directly (not with our writer), so the
// reader's checks can be aimed at one field at a time.
interface TinySpec {
  opcode?: { builtin?: number; custom?: string };
  /** [shape, type, buffer] per tensor */
  tensors?: [number[], number, number][];
  buffers?: (Uint8Array | undefined)[];
  opInputs?: number[];
  opOutputs?: number[];
  identifier?: string;
}

function tinyModel(spec: TinySpec = {}): Uint8Array {
  const b = new Builder(256);
  const ints = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addInt32(v[i]!);
    return b.endVector();
  };
  const offsets = (v: number[]) => {
    b.startVector(4, v.length, 4);
    for (let i = v.length - 1; i >= 0; i--) b.addOffset(v[i]!);
    return b.endVector();
  };
  const buffers = (spec.buffers ?? [undefined, undefined, undefined]).map((d) => {
    const data = d ? b.createByteVector(d) : 0;
    b.startObject(1);
    if (data) b.addFieldOffset(0, data, 0);
    return b.endObject();
  });
  const tensors = (
    spec.tensors ?? [
      [[1, 4], 0, 1],
      [[1, 4], 0, 2],
    ]
  ).map(([shape, type, buffer], i) => {
    const s = ints(shape);
    const name = b.createString(`t${i}`);
    b.startObject(4);
    b.addFieldOffset(0, s, 0);
    b.addFieldInt8(1, type, 0);
    b.addFieldInt32(2, buffer, 0);
    b.addFieldOffset(3, name, 0);
    return b.endObject();
  });
  const opIn = ints(spec.opInputs ?? [0]);
  const opOut = ints(spec.opOutputs ?? [1]);
  b.startObject(3);
  b.addFieldInt32(0, 0, 0);
  b.addFieldOffset(1, opIn, 0);
  b.addFieldOffset(2, opOut, 0);
  const op = b.endObject();
  const custom = spec.opcode?.custom ? b.createString(spec.opcode.custom) : 0;
  const builtin = spec.opcode?.custom ? 32 : (spec.opcode?.builtin ?? 19); // RELU
  b.startObject(4);
  b.addFieldInt8(0, Math.min(builtin, 127), 0);
  if (custom) b.addFieldOffset(1, custom, 0);
  b.addFieldInt32(2, 1, 1);
  b.addFieldInt32(3, builtin, 0);
  const opcode = b.endObject();
  const sgTensors = offsets(tensors);
  const sgIn = ints([0]);
  const sgOut = ints([1]);
  const sgOps = offsets([op]);
  b.startObject(4);
  b.addFieldOffset(0, sgTensors, 0);
  b.addFieldOffset(1, sgIn, 0);
  b.addFieldOffset(2, sgOut, 0);
  b.addFieldOffset(3, sgOps, 0);
  const sg = b.endObject();
  const codes = offsets([opcode]);
  const sgs = offsets([sg]);
  const bufs = offsets(buffers);
  b.startObject(5);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, codes, 0);
  b.addFieldOffset(2, sgs, 0);
  b.addFieldOffset(4, bufs, 0);
  b.finish(b.endObject(), spec.identifier ?? 'TFL3');
  return b.asUint8Array().slice();
}

function readError(bytes: Uint8Array): string {
  try {
    readTflite(bytes, 'm.tflite');
  } catch (e) {
    assertUserError(e, 'm.tflite');
    return e.message;
  }
  assert.fail('expected readTflite to throw');
}

describe('readTflite errors on hand-made files', () => {
  it('reads the minimal model (a RELU) that the other cases damage', () => {
    const g = readTflite(tinyModel(), 'm.tflite');
    assert.deepEqual(
      g.ops.map((o) => [o.kind, o.name]),
      [['relu', 'relu']],
    );
  });

  it('wrong file identifier', () => {
    assert.match(
      readError(tinyModel({ identifier: 'TFL2' })),
      /^m\.tflite: not a TFLite file: expected file identifier "TFL3" at byte 4, found "TFL2"$/,
    );
  });

  it('unsupported builtin and custom operators, named with their index', () => {
    assert.match(
      readError(tinyModel({ opcode: { builtin: 43 } })),
      /^m\.tflite: operator 0 is SQUEEZE, which tinyprune does not support \(supported: .*CONV_2D/,
    );
    assert.match(
      readError(tinyModel({ opcode: { custom: 'TFLite_Detection_PostProcess' } })),
      /operator 0 is custom operator "TFLite_Detection_PostProcess", which tinyprune does not support/,
    );
    assert.match(readError(tinyModel({ opcode: { builtin: 150 } })), /operator 0 is GELU/);
  });

  it('out-of-range tensor and buffer indices', () => {
    assert.match(
      readError(tinyModel({ opInputs: [7] })),
      /operator 0 \(RELU\) input refers to tensor 7, but the model has 2 tensors/,
    );
    assert.match(
      readError(
        tinyModel({
          tensors: [
            [[1, 4], 0, 1],
            [[1, 4], 0, 9],
          ],
        }),
      ),
      /tensor 1 "t1" uses buffer 9, but the model has 3 buffers/,
    );
  });

  it('a buffer shorter than its tensor', () => {
    const bytes = tinyModel({
      opcode: { builtin: 0 }, // ADD t0 + t2 -> t1, t2 a constant with 8 of its 16 bytes
      tensors: [
        [[1, 4], 0, 1],
        [[1, 4], 0, 2],
        [[1, 4], 0, 3],
      ],
      buffers: [undefined, undefined, undefined, new Uint8Array(8)],
      opInputs: [0, 2],
    });
    assert.match(
      readError(bytes),
      /tensor 2 "t2" \(FLOAT32 \[1, 4\]\) needs 16 bytes of data, its buffer holds 8/,
    );
  });

  it('an unsupported tensor type', () => {
    const bytes = tinyModel({
      tensors: [
        [[1, 4], 6, 1],
        [[1, 4], 6, 2],
      ],
    });
    assert.match(readError(bytes), /tensor 0 "t0" has type BOOL, which tinyprune does not support/);
  });

  it('a declared output shape that contradicts the op', () => {
    const bytes = tinyModel({
      tensors: [
        [[1, 4], 0, 1],
        [[1, 5], 0, 2],
      ],
    });
    assert.match(
      readError(bytes),
      /operator 0 \(relu "relu"\) declares output shape \[1, 5\], but its inputs and options give \[1, 4\]/,
    );
  });

  it('every truncation of a small model is a clean error', () => {
    const bytes = tinyModel();
    for (let n = 0; n < bytes.length; n++) readError(bytes.subarray(0, n));
  });
});

describe('loadModel on damaged real models', { skip: needsShared }, () => {
  it('missing file and a file that is not a model', async () => {
    const missing = join(dir, 'nope.tflite');
    await assert.rejects(loadModel(missing), (e: unknown) => {
      assertUserError(e, missing);
      return /no such file/.test(e.message);
    });
    const text = join(dir, 'notes.tflite');
    writeFileSync(text, 'this is not a model\n');
    await assert.rejects(loadModel(text), (e: unknown) => {
      assertUserError(e, text);
      return /not a model tinyprune can read/.test(e.message);
    });
  });

  for (const [file, truncations, flips] of [
    ['kws_ref_model.tflite', 150, 250],
    ['kws_ref_model_float32.tflite', 100, 150],
    ['vww_96_int8.tflite', 20, 40],
  ] as const) {
    it(`${file}: ${truncations} random truncations and ${flips} byte flips load or fail cleanly`, async () => {
      const original = new Uint8Array(readFileSync(model(file)));
      const rand = seeded(file.length * 7919);
      let errors = 0;
      for (let i = 0; i < truncations; i++) {
        const n = Math.floor(rand() * original.length);
        if ((await tryLoad(original.subarray(0, n), `trunc-${i}.tflite`)) === 'error') errors++;
      }
      // Truncation cuts off the root's tables or buffers: every one must be refused.
      assert.equal(errors, truncations);
      let loaded = 0;
      for (let i = 0; i < flips; i++) {
        const bytes = original.slice();
        // Half the flips land in the first 4 KB, where the converter puts most tables.
        const pos = Math.floor(rand() * (i % 2 ? Math.min(4096, bytes.length) : bytes.length));
        bytes[pos] = (bytes[pos]! + 1 + Math.floor(rand() * 255)) & 0xff;
        if ((await tryLoad(bytes, `flip-${i}.tflite`)) === 'ok') loaded++;
      }
      // Both outcomes occur: flips in weight data load, flips in the structure are refused.
      assert.ok(loaded > 0 && loaded < flips, `${loaded} of ${flips} damaged files loaded`);
    });
  }

  it('the CLI prints one line and exits with 2 for damaged files', () => {
    const original = new Uint8Array(readFileSync(model('kws_ref_model.tflite')));
    const cases: [string, Uint8Array][] = [
      ['truncated.tflite', original.subarray(0, 1000)],
      ['bad-root.tflite', Uint8Array.from([0xff, 0xff, 0xff, 0x7f, ...original.subarray(4, 64)])],
    ];
    for (const [name, bytes] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      const r = runCli(['inspect', path]);
      assert.equal(r.status, 2, `${name}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.ok(!/^\s+at .+:\d+/m.test(r.stderr), r.stderr);
      assert.ok(lines[0]!.startsWith('tinyprune: ') && lines[0]!.includes(path), lines[0]);
    }
  });
});
