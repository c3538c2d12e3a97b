import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDataset } from '../src/data/open.js';
import { splitRandom } from '../src/data/dataset.js';
import { openSyntheticShapes, SHAPE_CLASSES } from '../src/data/synthetic.js';
import { buildDemoModel, DEMO_EPOCHS, dihedralAugment, trainDemoModel } from '../src/demo/model.js';
import { findCutPoints } from '../src/graph/cutpoints.js';
import { TfModel } from '../src/engine/model.js';
import { evaluate } from '../src/engine/train.js';
import { loadAll } from '../src/prune/data.js';
import { TinypruneError } from '../src/graph/types.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RUN_DEMO_BLOCKS } from '../src/demo/run.js';
import { defaultDemoData, demoJobFor, hasFashionMnist } from '../src/demo/jobs.js';
import { FASHION_MNIST_DEBIAN_DIR } from '../src/data/fashion-mnist.js';

const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);

test('synthetic:shapes is deterministic from its seed and lazily loadable in any order', async () => {
  const a = await openDataset('synthetic:shapes?n=40&seed=7');
  const b = openSyntheticShapes({ n: 40, seed: 7 });
  const c = await openDataset('synthetic:shapes?n=40&seed=8');
  assert.deepEqual(a.inputShape, [32, 32, 1]);
  assert.deepEqual(a.classes, [...SHAPE_CLASSES]);
  assert.equal(a.groups, undefined);
  assert.deepEqual(a.labels, b.labels);
  // Loading backwards gives the same bytes as loading forwards in another instance.
  for (let i = 39; i >= 0; i--) assert.ok(bytes(await a.load(i)).equals(bytes(await b.load(i))));
  let same = 0;
  for (let i = 0; i < 40; i++) if (bytes(await a.load(i)).equals(bytes(await c.load(i)))) same++;
  assert.equal(same, 0, 'another seed draws other images');
  assert.notDeepEqual(a.labels, c.labels);
  // A subset loads the parent's examples.
  const sub = a.subset([5, 3]);
  assert.deepEqual(Array.from(sub.labels), [a.labels[5], a.labels[3]]);
  assert.ok(bytes(await sub.load(1)).equals(bytes(await a.load(3))));
  // Images are in [0, 1] and not flat.
  const x = await a.load(0);
  assert.equal(x.length, 32 * 32);
  assert.ok(x.every((v) => v >= 0 && v <= 1));
  assert.ok(Math.max(...x) - Math.min(...x) > 0.2);
});

test('synthetic:shapes labels are balanced and size/n options apply', async () => {
  const ds = await openDataset('synthetic:shapes?n=1001&seed=3&size=24');
  assert.equal(ds.length, 1001);
  assert.deepEqual(ds.inputShape, [24, 24, 1]);
  assert.equal((await ds.load(1000)).length, 24 * 24);
  const counts = [0, 0, 0, 0];
  for (const l of ds.labels) counts[l]!++;
  assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `counts ${counts}`);
  assert.equal(
    counts.reduce((s, v) => s + v, 0),
    1001,
  );
  // Labels are shuffled, not in class order.
  assert.notDeepEqual(Array.from(ds.labels.slice(0, 8)), [0, 1, 2, 3, 0, 1, 2, 3]);
});

test('synthetic spec mistakes are one-line TinypruneErrors naming the option', async () => {
  await assert.rejects(openDataset('synthetic:shapes?n=-5'), (e: Error) => {
    assert.ok(e instanceof TinypruneError);
    assert.match(e.message, /option n: expected an integer/);
    return true;
  });
  await assert.rejects(openDataset('synthetic:shapes?colour=red'), /unknown option 'colour'/);
  await assert.rejects(openDataset('synthetic:blobs'), /unknown synthetic dataset 'blobs'/);
  await assert.rejects(openDataset('synthetic:shapes?size=x'), /option size needs a number/);
});

test('the demo model has cut points conv1, block1..block4 with the expected shapes and sizes', () => {
  const g = buildDemoModel([32, 32, 1], [...SHAPE_CLASSES], 1);
  const cuts = findCutPoints(g);
  assert.deepEqual(
    cuts.map((c) => [c.name, c.shape.join('x')]),
    [
      ['conv1', '1x16x16x8'],
      ['block1', '1x16x16x16'],
      ['block2', '1x8x8x32'],
      ['block3', '1x8x8x32'],
      ['block4', '1x4x4x64'],
    ],
  );
  // Parameters counted by hand: conv k·k·in·out + bias, depthwise 9·c + bias, BN 4 per channel.
  const conv = (k: number, i: number, o: number) => k * k * i * o + o + 4 * o;
  const dw = (c: number) => 9 * c + c + 4 * c;
  const expected = [
    conv(3, 1, 8),
    dw(8) + conv(1, 8, 16),
    dw(16) + conv(1, 16, 32),
    dw(32) + conv(1, 32, 32),
    dw(32) + conv(1, 32, 64),
  ];
  let total = 0;
  cuts.forEach((c, i) => {
    total += expected[i]!;
    assert.equal(c.params, total, c.name);
  });
  assert.deepEqual(g.tensors.get(g.outputs[0]!)!.shape, [1, 4]);
  assert.equal(g.ops.at(-1)!.kind, 'softmax');
  // Same seed, same weights; another seed, other weights.
  const w = (s: number) => buildDemoModel([32, 32, 1], 4, s).tensors.get('conv1/kernel')!.data;
  assert.deepEqual(w(1), g.tensors.get('conv1/kernel')!.data);
  assert.notDeepEqual(w(2), w(1));
});

test('dihedral augmentation rotates and reflects images exactly', () => {
  // 2x2 image [[1, 2], [3, 4]], each transform picked by a fixed "rng".
  const apply = (t: number) => {
    const x = Float32Array.from([1, 2, 3, 4]);
    dihedralAugment(x, 1, [2, 2, 1], { int: () => t });
    return Array.from(x);
  };
  assert.deepEqual(apply(0), [1, 2, 3, 4]);
  assert.deepEqual(apply(1), [1, 3, 2, 4]); // transpose
  assert.deepEqual(apply(2), [3, 4, 1, 2]); // flip rows
  assert.deepEqual(apply(4), [2, 1, 4, 3]); // flip columns
  const all = new Set([0, 1, 2, 3, 4, 5, 6, 7].map((t) => apply(t).join()));
  assert.equal(all.size, 8, 'eight distinct transforms');
});

test('a short demo training run clearly beats chance and exports its weights', async () => {
  const ds = openSyntheticShapes({ n: 1200, seed: 11 });
  const [train, val] = splitRandom(ds, [0.6, 0.2, 0.2], 11) as [typeof ds, typeof ds];
  const g = buildDemoModel(ds.inputShape, ds.classes, 11);
  const before = Float32Array.from(g.tensors.get('block4/pw/kernel')!.data as Float32Array);
  const epochs: number[] = [];
  const r = await trainDemoModel(g, train, val, {
    seed: 11,
    epochs: 8,
    onEpochEnd: (l) => void epochs.push(l.epoch),
  });
  assert.deepEqual(epochs, [0, 1, 2, 3, 4, 5, 6, 7]);
  // Chance is 0.25; 240 validation examples put 0.5 about nine standard deviations above it.
  console.log(`# demo: validation accuracy ${r.valAccuracy} in ${r.seconds.toFixed(1)} s`);
  assert.ok(
    r.valAccuracy > 0.5,
    `validation accuracy ${r.valAccuracy} (${r.seconds.toFixed(1)} s)`,
  );
  assert.notDeepEqual(g.tensors.get('block4/pw/kernel')!.data, before);
  // The graph now holds the kept weights: a fresh engine model scores the same on validation.
  const fresh = new TfModel(g);
  try {
    const acc = evaluate(fresh, await loadAll(val)).accuracy;
    assert.ok(Math.abs(acc - r.valAccuracy) < 1e-9, `${acc} vs ${r.valAccuracy}`);
  } finally {
    fresh.dispose();
  }
});

const CLI = fileURLToPath(new URL('../src/cli/run.ts', import.meta.url));

test('the default job: Fashion-MNIST when installed, its own cuts and schedules; shapes keep the old demo', () => {
  const real = defaultDemoData();
  if (hasFashionMnist())
    assert.deepEqual(real, { spec: `fashion-mnist:${FASHION_MNIST_DEBIAN_DIR}` }, 'all 60,000');
  else assert.equal(real.spec, 'synthetic:shapes');
  const f = demoJobFor(`fashion-mnist:${FASHION_MNIST_DEBIAN_DIR}`);
  assert.equal(f.kind, 'fashion-mnist');
  assert.equal(f.cuts, 'block3,block4');
  const s = demoJobFor('synthetic:shapes?n=400');
  assert.equal(s.kind, 'shapes');
  assert.equal(s.cuts, 'auto');
  assert.equal(s.base.epochs, DEMO_EPOCHS);
  assert.deepEqual(s.blocks, RUN_DEMO_BLOCKS);
  // The Fashion-MNIST model: a stride-2 stem and five blocks, MobileNetV1's shape at 28x28.
  const g = buildDemoModel([28, 28, 1], 10, 1, { stem: f.stem, blocks: f.blocks });
  assert.deepEqual(
    findCutPoints(g).map((c) => `${c.name} ${c.shape.join('x')}`),
    [
      'conv1 1x14x14x16',
      'block1 1x14x14x32',
      'block2 1x7x7x64',
      'block3 1x7x7x64',
      'block4 1x4x4x128',
      'block5 1x2x2x256',
    ],
  );
});

test(
  'run without --model on a Fashion-MNIST subset: base and pruned model tested on the release test images, deployed bit-exact',
  {
    timeout: 1_200_000,
    skip: hasFashionMnist()
      ? false
      : `Fashion-MNIST not installed in ${FASHION_MNIST_DEBIAN_DIR} (apt-get install dataset-fashion-mnist)`,
  },
  async () => {
    const out = mkdtempSync(join(tmpdir(), 'tinyprune-fmnist-run-'));
    try {
      const spec = `fashion-mnist:${FASHION_MNIST_DEBIAN_DIR}?limit=900`;
      // A subset needs more base epochs; --epochs keeps the heads' training short (the job's own
      // 800 steps take a while).
      const args = [
        'run',
        '--data',
        spec,
        '--epochs',
        '10',
        '--base-epochs',
        '6',
        '--deploy-inputs',
        '2',
        '--kernels',
        'size',
        '--quiet',
        '--out',
        out,
      ];
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const code = await new Promise<number | null>((r) => child.on('exit', r));
      assert.equal(code, 0, `run failed: ${stderr}`);
      const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
      assert.match(r.title, /demo model \(trained from scratch on Fashion-MNIST/);
      assert.equal(r.settings.data, spec);
      assert.match(r.settings.split, /train\/val 92\/8 of the training data/);
      const note = (r.notes as string[]).find((n) => n.startsWith('Partitions:')) ?? '';
      const parts = /train ([\d,]+) · val ([\d,]+) · test 150 /.exec(note);
      assert.ok(parts, note);
      parts[1] = parts[1]!.replace(',', '');
      assert.equal(Number(parts[1]) + Number(parts[2]), 900);
      assert.ok(Math.abs(Number(parts[2]) - 75) <= 5, 'a stratified twelfth validates');
      // Both models are tested on the release's first 150 test images, float and int8.
      for (const m of [r.unpruned, r.pruned]) {
        for (const t of [m.floatTest, m.int8Test]) {
          assert.equal(t.n, 150);
          // Chance is 10%; 40% of 150 is twelve standard deviations above it.
          assert.ok(t.accuracy > 0.4, `${m.label}: ${JSON.stringify(t)}`);
        }
        assert.ok(m.cycles > 0 && m.flashBytes > 0);
      }
      assert.match(r.settings.bitExact, /unpruned 2\/2, pruned 2\/2 inputs identical/);
      // The sweep: the unpruned row, then block3 and block4 with both heads.
      assert.deepEqual(
        r.sweep.map((row: { cut: string; head: string }) => `${row.cut} ${row.head}`),
        ['full original', 'block3 aux', 'block3 dense', 'block4 aux', 'block4 dense'],
      );
      assert.ok(['block3', 'block4'].includes(r.pruned.cut));
      assert.ok(r.pruned.params < r.unpruned.params);
      // --kernels reaches deploy; the report says which mode ran and why.
      for (const m of ['Unpruned', 'Pruned'])
        assert.ok(
          r.notes.some((n: string) =>
            n.startsWith(`${m} model: kernels size: as requested; flash `),
          ),
          r.notes.join('\n'),
        );
      // Per-stage times are recorded and reported.
      assert.ok(r.notes.some((n: string) => /^Stage times.*model \d+ s \(CPU \d+ s\)/.test(n)));
      assert.match(stdout, /pruned \(block[34] \+ (aux|dense)\)/);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);
