// Our wasm gradient kernels against tfjs's pure-JS `cpu` backend on seeded random cases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useBackend, tf } from '../src/engine/backend.js';
import { Rng, randomNormalArray } from '../src/engine/init.js';

type Run = () => tf.Tensor;

/** Runs `build` on the cpu backend and on wasm, returning both results. */
async function onBoth(build: () => Run): Promise<[Float32Array, Float32Array]> {
  const results: Float32Array[] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const out = tf.tidy(() => build()());
    results.push(out.dataSync() as Float32Array);
    out.dispose();
  }
  return [results[0]!, results[1]!];
}

function assertClose(want: Float32Array, got: Float32Array, rel: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, `${what}: reference is all zeros`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (err > rel * Math.max(Math.abs(want[i]!), scale * 1e-2))
      assert.fail(`${what}: element ${i} is ${got[i]}, cpu says ${want[i]} (error ${err})`);
  }
}

const rk = (name: string, inputs: tf.NamedTensorMap, attrs: object) =>
  tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor;

interface ConvCase {
  n: number;
  h: number;
  w: number;
  c: number;
  k: [number, number];
  stride: number;
  pad: 'same' | 'valid';
  outC?: number;
  mult?: number;
  dilation?: number;
}

const convCases: ConvCase[] = [
  { n: 2, h: 9, w: 7, c: 3, k: [3, 3], stride: 2, pad: 'same', outC: 5 },
  { n: 2, h: 8, w: 8, c: 4, k: [3, 3], stride: 1, pad: 'same', outC: 6 },
  { n: 1, h: 10, w: 9, c: 3, k: [3, 2], stride: 2, pad: 'valid', outC: 4 },
  { n: 3, h: 6, w: 6, c: 8, k: [1, 1], stride: 1, pad: 'same', outC: 16 },
  { n: 1, h: 49, w: 10, c: 1, k: [10, 4], stride: 2, pad: 'same', outC: 8 },
];
const dwCases: ConvCase[] = [
  { n: 2, h: 8, w: 8, c: 5, k: [3, 3], stride: 1, pad: 'same' },
  { n: 2, h: 9, w: 8, c: 4, k: [3, 3], stride: 2, pad: 'same' },
  { n: 2, h: 8, w: 10, c: 4, k: [3, 3], stride: 2, pad: 'same' },
  { n: 1, h: 11, w: 9, c: 3, k: [3, 3], stride: 2, pad: 'valid' },
  { n: 2, h: 7, w: 7, c: 3, k: [3, 3], stride: 1, pad: 'same', mult: 2 },
  { n: 1, h: 12, w: 12, c: 3, k: [5, 3], stride: 3, pad: 'same' },
  // Channels a multiple of 4: the wasm SIMD filter-gradient path.
  { n: 3, h: 11, w: 9, c: 8, k: [3, 3], stride: 2, pad: 'valid' },
  { n: 2, h: 12, w: 12, c: 12, k: [5, 3], stride: 3, pad: 'same' },
  { n: 4, h: 6, w: 5, c: 64, k: [3, 3], stride: 1, pad: 'same' },
];

const seedOf = (i: number) => 1000 + i;

convCases.forEach((cs, i) =>
  test(`conv2d gradients (filter, input) match cpu: ${JSON.stringify(cs)}`, async () => {
    const rng = new Rng(seedOf(i));
    const xData = randomNormalArray(rng, cs.n * cs.h * cs.w * cs.c);
    const filterShape = [cs.k[0], cs.k[1], cs.c, cs.outC!];
    const wData = randomNormalArray(
      rng,
      filterShape.reduce((a, b) => a * b),
    );
    // dy from a forward pass with a random filter gives the right output shape on each side.
    const [want, got] = await onBoth(() => () => {
      const x = tf.tensor4d(xData, [cs.n, cs.h, cs.w, cs.c]);
      const w = tf.tensor4d(wData, filterShape as [number, number, number, number]);
      const y = tf.conv2d(x, w, cs.stride, cs.pad);
      const dy = tf.sin(y);
      return rk(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: [cs.stride, cs.stride],
          pad: cs.pad,
          dataFormat: 'NHWC',
          filterShape,
        },
      );
    });
    assertClose(want, got, 1e-4, 'dW');
    const [wantX, gotX] = await onBoth(() => () => {
      const x = tf.tensor4d(xData, [cs.n, cs.h, cs.w, cs.c]);
      const w = tf.tensor4d(wData, filterShape as [number, number, number, number]);
      const dy = tf.sin(tf.conv2d(x, w, cs.stride, cs.pad));
      return rk(
        'Conv2DBackpropInput',
        { dy, filter: w },
        {
          strides: [cs.stride, cs.stride],
          pad: cs.pad,
          dataFormat: 'NHWC',
          inputShape: x.shape,
        },
      );
    });
    assertClose(wantX, gotX, 1e-4, 'dx');
  }),
);

dwCases.forEach((cs, i) =>
  test(`depthwise gradients match cpu: ${JSON.stringify(cs)}`, async () => {
    const rng = new Rng(seedOf(100 + i));
    const m = cs.mult ?? 1;
    const d = cs.dilation ?? 1;
    const xData = randomNormalArray(rng, cs.n * cs.h * cs.w * cs.c);
    const filterShape = [cs.k[0], cs.k[1], cs.c, m] as [number, number, number, number];
    const wData = randomNormalArray(
      rng,
      filterShape.reduce((a, b) => a * b),
    );
    const attrs = {
      strides: [cs.stride, cs.stride],
      pad: cs.pad,
      dilations: [d, d],
      dataFormat: 'NHWC',
    };
    const pair = (which: 'input' | 'filter') =>
      onBoth(() => () => {
        const x = tf.tensor4d(xData, [cs.n, cs.h, cs.w, cs.c]);
        const w = tf.tensor4d(wData, filterShape);
        const y = tf.depthwiseConv2d(x, w, cs.stride, cs.pad, 'NHWC', d);
        const dy = tf.cos(y);
        return which === 'input'
          ? rk(
              'DepthwiseConv2dNativeBackpropInput',
              { dy, filter: w },
              {
                ...attrs,
                inputShape: x.shape,
              },
            )
          : rk('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape });
      });
    const [wantX, gotX] = await pair('input');
    assertClose(wantX, gotX, 1e-4, 'dx');
    const [wantW, gotW] = await pair('filter');
    assertClose(wantW, gotW, 1e-4, 'dW');
  }),
);

test('Sum over leading axes (SIMD path) and other reductions match cpu', async () => {
  const cases: [number[], number | number[], boolean][] = [
    [[3, 5, 4, 8], [0, 1, 2], false],
    [[3, 5, 4, 8], [2, 0, 1], true],
    [[700, 12], 0, false],
    [[2, 3, 4, 8], [1, 2], false], // not all leading axes: the wasm kernel
    [[6, 5, 3], [0, 1], true], // channels not a multiple of 4: the wasm kernel
    [[4, 8], -1, false],
  ];
  for (const [shape, axis, keepDims] of cases) {
    const data = randomNormalArray(
      new Rng(shape.length * 31 + shape[0]!),
      tf.util.sizeFromShape(shape),
    );
    const [want, got] = await onBoth(() => () => tf.sum(tf.tensor(data, shape), axis, keepDims));
    assertClose(want, got, 1e-5, `sum ${JSON.stringify([shape, axis, keepDims])}`);
    await useBackend('wasm');
    const y = tf.sum(tf.tensor(data, shape), axis, keepDims);
    await useBackend('cpu');
    assert.deepEqual(y.shape, tf.sum(tf.tensor(data, shape), axis, keepDims).shape);
  }
});

// tfjs's cpu kernels ignore dilation in the depthwise gradients, so dilated cases are checked
// through the adjoint identities instead: <conv(x, w), dy> = <x, dx(dy)> = <w, dW(x, dy)>.
test('dilated depthwise gradients satisfy the adjoint identities', async () => {
  await useBackend('wasm');
  const rng = new Rng(77);
  for (const [stride, d, pad, c, m] of [
    [1, 2, 'same', 3, 2],
    [1, 3, 'valid', 3, 2],
    [2, 2, 'same', 8, 1], // the SIMD filter-gradient path
  ] as const) {
    const xs = [2, 11, 10, c] as [number, number, number, number];
    const fs = [3, 3, c, m] as [number, number, number, number];
    const x = tf.tensor4d(randomNormalArray(rng, 2 * 11 * 10 * c), xs);
    const w = tf.tensor4d(randomNormalArray(rng, 9 * c * m), fs);
    const y = tf.depthwiseConv2d(x, w, stride, pad, 'NHWC', d);
    const dy = tf.tensor(randomNormalArray(rng, y.size), y.shape);
    const attrs = { strides: [stride, stride], pad, dilations: [d, d], dataFormat: 'NHWC' };
    const dx = rk(
      'DepthwiseConv2dNativeBackpropInput',
      { dy, filter: w },
      { ...attrs, inputShape: xs },
    );
    const dw = rk('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...attrs, filterShape: fs });
    const lhs = tf.sum(tf.mul(y, dy)).dataSync()[0]!;
    const viaX = tf.sum(tf.mul(x, dx)).dataSync()[0]!;
    const viaW = tf.sum(tf.mul(w, dw)).dataSync()[0]!;
    assert.ok(Math.abs(lhs - viaX) < 1e-4 * Math.abs(lhs) + 1e-3, `dx: ${lhs} vs ${viaX}`);
    assert.ok(Math.abs(lhs - viaW) < 1e-4 * Math.abs(lhs) + 1e-3, `dW: ${lhs} vs ${viaW}`);
  }
});

test('our kernels free every intermediate (no wasm memory leak)', async () => {
  await useBackend('wasm');
  const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 7) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 4, 1], 0, 1, 'float32', 8) as tf.Tensor4D;
  const pw = tf.randomNormal([3, 3, 4, 6], 0, 1, 'float32', 9) as tf.Tensor4D;
  const step = () =>
    tf
      .tidy(() => {
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf
            .conv2d(
              tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'),
              c as tf.Tensor4D,
              1,
              'same',
            )
            .sum(),
        )([x, w, pw]);
        return g.map((t) => t.sum()).reduce((a, b) => a.add(b));
      })
      .dispose();
  step();
  const before = tf.memory().numTensors;
  const bytes = tf.memory().numBytes;
  step();
  step();
  assert.equal(tf.memory().numTensors, before);
  assert.equal(tf.memory().numBytes, bytes);
});
