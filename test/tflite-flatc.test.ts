// Cross-check of the writer with an independent flatbuffer implementation: `flatc` (Debian
// flatbuffers-compiler) verifies our exported files and decodes them to JSON against
// src/io/tflite/tflite_subset.fbs; every tensor, buffer, quantisation and operator must match
// the graph we wrote.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph, OpKind } from '../src/graph/types.js';
import { readTflite } from '../src/io/tflite/reader.js';
import { writeTflite } from '../src/io/tflite/writer.js';
import { model, needsShared } from './helpers/shared.js';

const SCHEMA = fileURLToPath(new URL('../src/io/tflite/tflite_subset.fbs', import.meta.url));
const hasFlatc = spawnSync('flatc', ['--version']).status === 0;
const needsFlatc = hasFlatc ? false : 'flatc (Debian flatbuffers-compiler) is not installed';

const BUILTIN: Record<string, number> = {
  conv2d: 3,
  depthwiseConv2d: 4,
  averagePool2d: 1,
  reshape: 22,
  fullyConnected: 9,
  softmax: 25,
} satisfies Partial<Record<OpKind, number>>;

const TYPE_NAME: Record<string, string> = {
  float32: 'FLOAT32',
  int8: 'INT8',
  int32: 'INT32',
  uint8: 'UINT8',
};

interface JsonModel {
  version: number;
  operator_codes: { builtin_code: number; deprecated_builtin_code: number; version: number }[];
  buffers: { data?: number[] }[];
  subgraphs: {
    tensors: {
      name: string;
      shape: number[];
      type: string;
      buffer: number;
      quantization?: { scale?: number[]; zero_point?: number[]; quantized_dimension: number };
    }[];
    inputs: number[];
    outputs: number[];
    operators: {
      opcode_index: number;
      inputs: number[];
      outputs: number[];
      builtin_options_type: string;
      builtin_options?: Record<string, number | boolean>;
    }[];
  }[];
}

function flatcJson(bytes: Uint8Array): JsonModel {
  const dir = mkdtempSync(join(tmpdir(), 'tinyprune-flatc-'));
  try {
    const file = join(dir, 'm.tflite');
    writeFileSync(file, bytes);
    const r = spawnSync(
      'flatc',
      ['--json', '--raw-binary', '--strict-json', '--defaults-json', '-o', dir, SCHEMA, '--', file],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `flatc refused the file: ${r.stderr}`);
    return JSON.parse(readFileSync(join(dir, 'm.json'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkAgainstGraph(g: Graph, m: JsonModel): void {
  assert.equal(m.version, 3);
  assert.deepEqual(m.buffers[0], {}, 'buffer 0 is the empty sentinel');
  const sg = m.subgraphs[0]!;
  const names = sg.tensors.map((t) => t.name);
  assert.deepEqual(names, [...g.tensors.keys()]);
  sg.tensors.forEach((jt, i) => {
    const graphTensor = g.tensors.get(jt.name)!;
    // Unchanged hybrid weights are written in their int8 storage.
    const t = graphTensor.stored ? { ...graphTensor, ...graphTensor.stored } : graphTensor;
    assert.deepEqual(jt.shape, t.shape, jt.name);
    assert.equal(jt.type, TYPE_NAME[t.dtype], jt.name);
    assert.equal(jt.buffer, i + 1, 'each tensor owns a buffer, as the converter writes');
    const data = m.buffers[jt.buffer]!.data;
    if (t.data) {
      const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      assert.deepEqual(Uint8Array.from(data!), bytes, jt.name);
    } else assert.equal(data, undefined, jt.name);
    if (t.quant) {
      const q = jt.quantization!;
      assert.equal(q.scale!.length, t.quant.scale.length);
      q.scale!.forEach((s, c) =>
        // flatc prints floats with 6 decimals.
        assert.ok(
          Math.abs(s - t.quant!.scale[c]!) <= 5e-7 + 1e-6 * Math.abs(s),
          `${jt.name} scale`,
        ),
      );
      assert.deepEqual(q.zero_point, t.quant.zeroPoint);
      assert.equal(q.quantized_dimension, t.quant.axis ?? 0);
    } else assert.equal(jt.quantization, undefined);
  });
  assert.deepEqual(
    sg.inputs.map((i) => names[i]),
    g.inputs,
  );
  assert.deepEqual(
    sg.outputs.map((i) => names[i]),
    g.outputs,
  );
  sg.operators.forEach((jo, i) => {
    const op = g.ops[i]!;
    const code = m.operator_codes[jo.opcode_index]!;
    assert.equal(code.builtin_code, BUILTIN[op.kind], op.name);
    assert.equal(code.deprecated_builtin_code, BUILTIN[op.kind], op.name);
    assert.deepEqual(
      jo.inputs.map((k) => (k < 0 ? '' : names[k])),
      op.inputs,
    );
    assert.deepEqual(
      jo.outputs.map((k) => names[k]),
      op.outputs,
    );
    const o = jo.builtin_options;
    if (op.kind === 'conv2d' || op.kind === 'depthwiseConv2d') {
      assert.equal(o!.stride_h, op.attrs.strides![0]);
      assert.equal(o!.stride_w, op.attrs.strides![1]);
      assert.equal(o!.padding, op.attrs.padding === 'same' ? 'SAME' : 'VALID');
      assert.equal(o!.fused_activation_function, op.attrs.activation!.toUpperCase());
    }
    if (op.kind === 'averagePool2d') {
      assert.equal(o!.filter_height, op.attrs.poolSize![0]);
      assert.equal(o!.filter_width, op.attrs.poolSize![1]);
    }
  });
}

describe('flatc decodes exported files to the graph we wrote', { skip: needsFlatc }, () => {
  for (const file of ['kws_ref_model.tflite', 'kws_ref_model_float32.tflite']) {
    it(`${file}`, { skip: needsShared }, () => {
      const g = readTflite(new Uint8Array(readFileSync(model(file))), file);
      const m = flatcJson(writeTflite(g));
      checkAgainstGraph(g, m);
      if (file.includes('float')) {
        // Hybrid KWS: the CONV_2D ops keep int8 weights, so CONV_2D carries the converter's
        // hybrid version (2), as in the original file.
        const version = (mm: JsonModel) =>
          mm.operator_codes.find((c) => (c.builtin_code || c.deprecated_builtin_code) === 3)!
            .version;
        const original = flatcJson(new Uint8Array(readFileSync(model(file))));
        assert.equal(version(m), version(original));
        assert.equal(version(m), 2);
      } else {
        // int8 KWS: the converter's operator versions.
        assert.deepEqual(
          m.operator_codes.map((c) => c.version),
          [3, 3, 2, 1, 4, 2],
        );
      }
    });
  }
});
