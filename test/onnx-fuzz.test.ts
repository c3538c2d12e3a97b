// Damaged .onnx files must give one-line TinypruneErrors naming the file: never a RangeError
// stack trace, never a hang, never a giant allocation. 2,000 seeded truncations and byte flips of
// the PyTorch fixtures go through the reader; a few through the CLI for the exit code.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelTotals } from '../src/graph/accounting.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { validateGraph } from '../src/graph/graph.js';
import { TinypruneError } from '../src/graph/types.js';
import { readOnnx } from '../src/io/onnx/reader.js';
import { runCli } from './helpers/cli.js';
import { needsShared, SHARED } from './helpers/shared.js';

const PT = join(SHARED, 'models', 'pytorch');

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One seeded damage: a truncation, or 1–8 random bytes replaced. */
function damage(bytes: Uint8Array, rnd: () => number): Uint8Array {
  if (rnd() < 0.3) return bytes.slice(0, Math.floor(rnd() * bytes.length));
  const out = bytes.slice();
  const n = 1 + Math.floor(rnd() * 8);
  // Half the flips land in the first 4 KB, where the graph structure (not weights) lives.
  for (let k = 0; k < n; k++) {
    const at =
      rnd() < 0.5 ? Math.floor(rnd() * Math.min(4096, out.length)) : Math.floor(rnd() * out.length);
    out[at] = Math.floor(rnd() * 256);
  }
  return out;
}

describe('ONNX fuzz: truncations and byte flips', { skip: needsShared }, () => {
  it('2,000 damaged fixtures give a usable graph or one clear error line, each quickly', () => {
    const files = [
      { name: 'kws_dscnn_pt.onnx', count: 1500 },
      { name: 'vww_96_mobilenet_pt.onnx', count: 500 },
    ];
    const rnd = seeded(15);
    let errors = 0;
    let ok = 0;
    let slowest = 0;
    for (const f of files) {
      const bytes = new Uint8Array(readFileSync(join(PT, f.name)));
      for (let i = 0; i < f.count; i++) {
        const bad = damage(bytes, rnd);
        const source = `fuzz-${i}.onnx`;
        const t0 = performance.now();
        try {
          const g = readOnnx(bad, source);
          validateGraph(g);
          modelTotals(g);
          findCutPoints(g);
          ok++;
        } catch (e) {
          if (!(e instanceof TinypruneError))
            assert.fail(
              `${f.name} case ${i}: expected a TinypruneError, got ${(e as Error)?.stack ?? e}`,
            );
          assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
          assert.ok(e.message.startsWith(source), `message does not name the file: ${e.message}`);
          errors++;
        }
        slowest = Math.max(slowest, performance.now() - t0);
      }
    }
    assert.equal(ok + errors, 2000);
    // Both outcomes occur: flips in weights still import, structural damage does not.
    assert.ok(errors > 200 && ok > 50, `errors ${errors}, ok ${ok}`);
    assert.ok(slowest < 2000, `slowest case took ${slowest.toFixed(0)} ms`);
  });

  it('the CLI exits 2 with one line for a damaged and an unsupported file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-onnx-'));
    try {
      const bytes = readFileSync(join(PT, 'kws_dscnn_pt.onnx'));
      const cut = join(dir, 'cut.onnx');
      writeFileSync(cut, bytes.subarray(0, 5000));
      const r = runCli(['inspect', cut]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.trim(), /cut\.onnx: corrupt or truncated ONNX file: .*/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
