// Names from model files are data in every output: generated C (through src/io/sanitize.ts,
// checked here by compiling and running with the host C compiler), HTML, SVG and Markdown
// reports, terminal tables and error lines.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cComment, cIdentifierFrom, cString, logSafe } from '../src/io/sanitize.js';
import { loadModel } from '../src/io/load.js';
import { layerCosts } from '../src/report/layers.js';
import { renderHtml } from '../src/report/html.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { reportCharts } from '../src/report/charts.js';
import type { Graph } from '../src/graph/types.js';
import { sampleReport } from './report-sample.js';
import {
  FORBIDDEN_IN_MARKUP,
  FORBIDDEN_IN_MD,
  HOSTILE,
  hostileKeras,
  hostileTflite,
} from './helpers/hostile.js';
import { assertOneLineError, runAbuse } from './helpers/abuse.js';

let dir: string;
before(() => (dir = mkdtempSync(join(tmpdir(), 'tinyprune-abuse-names-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Hostile names plus seeded random strings drawn from the characters that matter to C. */
function samples(): string[] {
  const r = seeded(17);
  const alphabet = [
    '*',
    '/',
    '?',
    '\\',
    '"',
    "'",
    '\n',
    '\r',
    '#',
    '\u0000',
    '\u00e9',
    '\u202E',
    'a',
    ' ',
    '?',
    '=',
    '\u{1F600}',
  ];
  const fuzz = Array.from({ length: 200 }, () =>
    Array.from(
      { length: 1 + Math.floor(r() * 12) },
      () => alphabet[Math.floor(r() * alphabet.length)],
    ).join(''),
  );
  return [...Object.values(HOSTILE), '*/', '*//*/', '??/', '*??/\n/', '', 'x'.repeat(500), ...fuzz];
}

function hasCc(): boolean {
  return spawnSync('cc', ['--version']).status === 0;
}

describe('abuse: names', () => {
  it('cComment keeps one-line printable text without comment delimiters or trigraphs', () => {
    for (const s of samples()) {
      const c = cComment(s);
      assert.match(c, /^[\x20-\x7E]*$/, JSON.stringify(s));
      assert.ok(!c.includes('*/') && !c.includes('/*') && !c.includes('??'), JSON.stringify(c));
      assert.ok(c.length <= 120);
    }
    assert.equal(cIdentifierFrom('tp_layer_', 3), 'tp_layer_3');
    assert.throws(() => cIdentifierFrom('x */', 0));
    assert.equal(logSafe('a\nb\u001b[2J\u202E'), 'a\\x0ab\\x1b[2J\\u{202E}');
  });

  it('names in C comments and string literals compile to exactly themselves (host cc)', (t) => {
    if (!hasCc()) return t.skip('no host C compiler (cc) on PATH');
    const strings = samples();
    const c = [
      '#include <stdio.h>',
      '#include <string.h>',
      ...strings.flatMap((s, i) => [
        // Were the comment to end early, the rest would be code: guard would not be 2, or no build.
        `static const int ${cIdentifierFrom('guard_', i)} = 1 /* ${cComment(s)} */ + 1;`,
        `static const char ${cIdentifierFrom('name_', i)}[] = "${cString(s)}";`,
      ]),
      'int main(void) {',
      ...strings.flatMap((_, i) => [
        `  if (guard_${i} != 2) return 1;`,
        `  fwrite(name_${i}, 1, sizeof name_${i} - 1, stdout); fputc(0, stdout);`,
      ]),
      '  return 0;',
      '}',
    ].join('\n');
    const src = join(dir, 'names.c');
    const exe = join(dir, 'names');
    writeFileSync(src, c);
    execFileSync('cc', ['-std=c99', '-trigraphs', '-Wall', '-Werror', '-o', exe, src]);
    const out = execFileSync(exe);
    const expected = Buffer.concat(
      strings.flatMap((s) => [Buffer.from(s, 'utf8'), Buffer.from([0])]),
    );
    assert.ok(out.equals(expected), 'the compiled strings differ from the names');
  });

  for (const [label, make, file] of [
    ['Keras', hostileKeras, 'hostile.h5'],
    ['TFLite', async () => hostileTflite(), 'hostile.tflite'],
  ] as const) {
    it(`a ${label} file's names reach HTML, SVG and Markdown as text`, async () => {
      const path = join(dir, file);
      writeFileSync(path, await make());
      const g: Graph = await loadModel(path);
      const names = [
        g.name,
        g.metadata.description ?? '',
        ...g.ops.map((o) => o.name),
        ...g.tensors.keys(),
      ];
      const data = sampleReport({ classes: [HOSTILE.conv, HOSTILE.gap] });
      data.title = names[0]!;
      data.notes = names;
      data.settings = { model: names[0], description: names[1] };
      data.unpruned.layers = layerCosts(g).map((l) => ({ ...l, cycles: 1000 }));
      const outputs = {
        html: renderHtml(data),
        md: renderMarkdown(data),
        svg: reportCharts(data)
          .map((ch) => ch.svg)
          .join('\n'),
      };
      for (const [kind, text] of Object.entries(outputs))
        for (const bad of kind === 'md' ? FORBIDDEN_IN_MD : FORBIDDEN_IN_MARKUP)
          assert.ok(
            typeof bad === 'string' ? !text.includes(bad) : !bad.test(text),
            `${label} → ${kind} contains ${String(bad)}`,
          );
      // The names are there, escaped (not dropped).
      assert.ok(outputs.html.includes('&lt;img src=x onerror=alert(1)&gt;'));
      assert.ok(outputs.md.includes('\\[pwn\\](javascript:alert(1))'));
    });
  }

  it('tinyprune inspect shows hostile layer names escaped, one line per layer', async () => {
    const path = join(dir, 'inspect.h5');
    writeFileSync(path, await hostileKeras());
    const r = await runAbuse(['inspect', path]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('\u001b') && !r.stdout.includes('\u202E'), r.stdout);
    assert.match(r.stdout, /^1 +mean +g \*\/ #error pwned\\x0a\/\* \\x1b\[2J/m);
    assert.ok(!/^\/\* /m.test(r.stdout), 'a name started a line of its own');
  });

  it('an error naming a hostile layer is one line', async () => {
    const path = join(dir, 'unsupported.h5');
    writeFileSync(path, await hostileKeras({ unsupported: true }));
    assertOneLineError(await runAbuse(['inspect', path]), /LSTM/);
  });
});
