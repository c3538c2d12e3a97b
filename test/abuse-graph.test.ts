// Crafted TFLite models, one per rule of the graph validator (src/graph/validate.ts): each is a
// valid file describing an invalid graph, and `tinyprune inspect` must refuse it with one line,
// exit 2, quickly and in bounded memory. The unbroken base model must load.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { checkGraph } from '../src/graph/validate.js';
import { TinypruneError } from '../src/graph/types.js';
import { assertOneLineError, inPairs, runAbuse } from './helpers/abuse.js';
import { CRAFTED, craftedGraph, craftedTflite } from './helpers/crafted.js';

const dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-graph-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

describe('graph validator', () => {
  it('accepts the unbroken crafted model', async () => {
    const path = join(dir, 'base.tflite');
    writeFileSync(path, craftedTflite(undefined));
    const g = await loadModel(path);
    assert.equal(g.ops.length, 8);
  });

  it('rejects each broken rule in the IR too (library callers)', () => {
    for (const c of CRAFTED) {
      const g = craftedGraph(c);
      assert.throws(
        () => checkGraph(g, 'ir'),
        (e) => e instanceof TinypruneError && c.expect.test(e.message),
        c.rule,
      );
    }
  });

  it("loadModel (the CLI's entry) refuses each crafted TFLite file, naming it", async () => {
    for (const [i, c] of CRAFTED.entries()) {
      const path = join(dir, `rule-${i}.tflite`);
      writeFileSync(path, craftedTflite(c));
      await assert.rejects(
        loadModel(path),
        (e) =>
          e instanceof TinypruneError &&
          !e.message.includes('\n') &&
          e.message.startsWith(`${path}: invalid model: `) &&
          c.expect.test(e.message),
        c.rule,
      );
    }
  });

  it('tinyprune inspect refuses crafted models with one line and exit 2', async () => {
    // A sample of the rules through the CLI (each spawn costs seconds); all rules above.
    const sample = CRAFTED.filter((c) =>
      /graph input|scale NaN|zero size|one tensor over|two ops/.test(c.rule),
    );
    assert.equal(sample.length, 5);
    const files = sample.map((c, i) => {
      const path = join(dir, `cli-${i}.tflite`);
      writeFileSync(path, craftedTflite(c));
      return path;
    });
    const results = await inPairs(files.map((f) => () => runAbuse(['inspect', f])));
    results.forEach((r, i) => {
      const c = sample[i]!;
      assertOneLineError(r, new RegExp(`invalid model: .*${c.expect.source}`));
      assert.ok(r.stderr.includes(files[i]!), `${c.rule}: the error names the file`);
    });
  });
});
