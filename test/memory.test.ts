// io/memory.ts: the collection between phases really frees old-generation garbage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectGarbage, releaseMemory } from '../src/io/memory.js';

test('collectGarbage frees garbage that survived into the old generation; releaseMemory runs', () => {
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  // ~60 MB of small objects, kept across young-generation collections, then dropped.
  let keep: { i: number; s: string }[] | undefined = Array.from({ length: 600_000 }, (_, i) => ({
    i,
    s: `item ${i} of a short-lived table`,
  }));
  const grown = process.memoryUsage().heapUsed;
  assert.ok(grown - before > 30e6, `the table takes ${((grown - before) / 1e6).toFixed(0)} MB`);
  keep = undefined;
  collectGarbage();
  const after = process.memoryUsage().heapUsed;
  assert.equal(keep, undefined);
  assert.ok(
    after - before < 10e6,
    `after the collection ${((after - before) / 1e6).toFixed(0)} MB remain`,
  );
  releaseMemory(); // with or without the native addon
});
