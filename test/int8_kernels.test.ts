// The int8 kernels on small hand-built graphs against float64 references of the same quantised
// maths: exact wherever the real value is not within a hair of a rounding tie, ±1 there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addTensor, createGraph } from '../src/graph/graph.js';
import { inferShapes } from '../src/graph/shapes.js';
import type { Graph, Op, OpAttrs, OpKind, Tensor } from '../src/graph/types.js';
import { TinypruneError } from '../src/graph/types.js';
import { prepareInt8, runInt8 } from '../src/quant/interpreter.js';
import { quantizeMultiplier } from '../src/quant/fixedpoint.js';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const randInt8 = (r: () => number, n: number, lo = -128, hi = 127) =>
  Int8Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));

interface Q {
  scale: number;
  zp: number;
}
function act(name: string, shape: number[], q: Q): Tensor {
  return { name, shape, dtype: 'int8', quant: { scale: [q.scale], zeroPoint: [q.zp] } };
}

/** One-op graph: input "x" (and "x2" for add) → op → "y". */
function oneOp(
  kind: OpKind,
  xShape: number[],
  qx: Q,
  qy: Q,
  attrs: OpAttrs,
  consts: Tensor[] = [],
  extraInputs: Tensor[] = [],
): Graph {
  const g = createGraph(kind);
  addTensor(g, act('x', xShape, qx));
  for (const t of [...consts, ...extraInputs]) addTensor(g, t);
  addTensor(g, act('y', [], qy));
  const op: Op = {
    kind,
    name: kind,
    inputs: ['x', ...extraInputs.map((t) => t.name), ...consts.map((t) => t.name)],
    outputs: ['y'],
    attrs,
  };
  g.ops.push(op);
  g.inputs = ['x', ...extraInputs.map((t) => t.name)];
  g.outputs = ['y'];
  inferShapes(g);
  return g;
}

/** Checks int8 results against real-valued expectations (before rounding, incl. zero point). */
function expectQuantised(got: Int8Array, real: number[], lo = -128, hi = 127) {
  assert.equal(got.length, real.length);
  let exact = 0;
  for (let k = 0; k < real.length; k++) {
    const r = real[k]!;
    const frac = Math.abs(r - Math.trunc(r));
    const nearTie = Math.abs(frac - 0.5) < 0.02;
    const want = Math.min(hi, Math.max(lo, r < 0 ? -Math.round(-r) : Math.round(r))) || 0;
    if (nearTie) assert.ok(Math.abs(got[k]! - want) <= 1, `element ${k}: ${got[k]} vs ${r}`);
    else {
      assert.equal(got[k], want, `element ${k}: real ${r}`);
      exact++;
    }
  }
  assert.ok(exact > real.length * 0.9, `only ${exact}/${real.length} checked exactly`);
}

function convCase(depthwise: boolean, mult: number, stride: number, padding: 'same' | 'valid') {
  const r = rng(depthwise ? 17 + mult : 5 + stride);
  const [H, W, C, K] = [7, 6, 3, 3];
  const outC = depthwise ? C * mult : 5;
  const qx: Q = { scale: 0.05, zp: -7 };
  const qy: Q = { scale: 0.11, zp: 4 };
  const wShape = depthwise ? [1, K, K, outC] : [outC, K, K, C];
  const wScales = Array.from({ length: outC }, () => 0.004 + r() * 0.01);
  const w: Tensor = {
    name: 'w',
    shape: wShape,
    dtype: 'int8',
    data: randInt8(
      r,
      wShape.reduce((a, b) => a * b),
      -127,
      127,
    ),
    quant: { scale: wScales, zeroPoint: wScales.map(() => 0), axis: depthwise ? 3 : 0 },
  };
  const bias: Tensor = {
    name: 'b',
    shape: [outC],
    dtype: 'int32',
    data: Int32Array.from({ length: outC }, () => Math.floor((r() - 0.5) * 4000)),
  };
  const g = oneOp(
    depthwise ? 'depthwiseConv2d' : 'conv2d',
    [1, H, W, C],
    qx,
    qy,
    { strides: [stride, stride], padding, activation: 'none', depthMultiplier: mult },
    [w, bias],
  );
  const x = randInt8(r, H * W * C);
  const [y] = runInt8(g, [x]);
  const [, oH, oW] = g.tensors.get('y')!.shape as number[];
  const padT = padding === 'same' ? Math.floor(Math.max(0, (oH! - 1) * stride + K - H) / 2) : 0;
  const padL = padding === 'same' ? Math.floor(Math.max(0, (oW! - 1) * stride + K - W) / 2) : 0;
  const real: number[] = [];
  const wd = w.data as Int8Array;
  for (let oy = 0; oy < oH!; oy++)
    for (let ox = 0; ox < oW!; ox++)
      for (let oc = 0; oc < outC; oc++) {
        let acc = (bias.data as Int32Array)[oc]!;
        for (let ky = 0; ky < K; ky++)
          for (let kx = 0; kx < K; kx++) {
            const iy = oy * stride - padT + ky;
            const ix = ox * stride - padL + kx;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            if (depthwise) {
              const ic = Math.floor(oc / mult);
              acc += (x[(iy * W + ix) * C + ic]! - qx.zp) * wd[(ky * K + kx) * outC + oc]!;
            } else
              for (let ic = 0; ic < C; ic++)
                acc +=
                  (x[(iy * W + ix) * C + ic]! - qx.zp) * wd[((oc * K + ky) * K + kx) * C + ic]!;
          }
        real.push((acc * qx.scale * wScales[oc]!) / qy.scale + qy.zp);
      }
  expectQuantised(y!, real);
}

test('conv2d 3x3 (stride 1 same, stride 2 same, stride 2 valid) matches the float64 reference', () => {
  convCase(false, 1, 1, 'same');
  convCase(false, 1, 2, 'same');
  convCase(false, 1, 2, 'valid');
});

test('depthwise conv (multiplier 1 and 2, same/valid) matches the float64 reference', () => {
  convCase(true, 1, 1, 'same');
  convCase(true, 2, 2, 'same');
  convCase(true, 2, 1, 'valid');
});

test('pointwise conv (blocked fast path, odd pixel and channel counts) and relu6 clamp', () => {
  const r = rng(99);
  const [H, W, C, outC] = [3, 5, 6, 7];
  const qx: Q = { scale: 0.03, zp: 11 };
  const qy: Q = { scale: 0.02, zp: -100 };
  const wScales = Array.from({ length: outC }, () => 0.005 + r() * 0.01);
  const w: Tensor = {
    name: 'w',
    shape: [outC, 1, 1, C],
    dtype: 'int8',
    data: randInt8(r, outC * C, -127, 127),
    quant: { scale: wScales, zeroPoint: wScales.map(() => 0), axis: 0 },
  };
  const g = oneOp('conv2d', [1, H, W, C], qx, qy, { padding: 'same', activation: 'relu6' }, [w]);
  const x = randInt8(r, H * W * C);
  const [y] = runInt8(g, [x]);
  const real: number[] = [];
  for (let p = 0; p < H * W; p++)
    for (let oc = 0; oc < outC; oc++) {
      let acc = 0;
      for (let ic = 0; ic < C; ic++)
        acc += (x[p * C + ic]! - qx.zp) * (w.data as Int8Array)[oc * C + ic]!;
      real.push((acc * qx.scale * wScales[oc]!) / qy.scale + qy.zp);
    }
  // relu6 clamps to [zp, zp + round(6 / scale)] = [-100, 200→127].
  expectQuantised(y!, real, -100, 127);
  assert.ok(
    y!.some((v) => v === -100),
    'relu clamp reached',
  );
});

test('fully connected (per-tensor weights with a zero point, batch of 2)', () => {
  const r = rng(3);
  const [inU, outU] = [10, 4];
  const qx: Q = { scale: 0.1, zp: 3 };
  const qy: Q = { scale: 0.3, zp: -2 };
  const w: Tensor = {
    name: 'w',
    shape: [outU, inU],
    dtype: 'int8',
    data: randInt8(r, outU * inU),
    quant: { scale: [0.02], zeroPoint: [5] },
  };
  const bias: Tensor = {
    name: 'b',
    shape: [outU],
    dtype: 'int32',
    data: Int32Array.from([100, -200, 0, 55]),
  };
  const g = oneOp('fullyConnected', [2, inU], qx, qy, { activation: 'relu' }, [w, bias]);
  const x = randInt8(r, 2 * inU);
  const [y] = runInt8(g, [x]);
  const real: number[] = [];
  for (let n = 0; n < 2; n++)
    for (let o = 0; o < outU; o++) {
      let acc = (bias.data as Int32Array)[o]!;
      for (let k = 0; k < inU; k++)
        acc += (x[n * inU + k]! - qx.zp) * ((w.data as Int8Array)[o * inU + k]! - 5);
      real.push((acc * 0.1 * 0.02) / 0.3 + qy.zp);
    }
  expectQuantised(y!, real, qy.zp, 127);
});

test('average pool (same padding: edge windows average fewer taps) and max pool', () => {
  const r = rng(8);
  const [H, W, C] = [5, 5, 2];
  const q: Q = { scale: 0.1, zp: 0 };
  const x = randInt8(r, H * W * C);
  const attrs: OpAttrs = { poolSize: [3, 3], strides: [2, 2], padding: 'same' };
  const [avg] = runInt8(oneOp('averagePool2d', [1, H, W, C], q, q, attrs), [x]);
  const [mx] = runInt8(oneOp('maxPool2d', [1, H, W, C], q, q, attrs), [x]);
  let k = 0;
  for (let oy = 0; oy < 3; oy++)
    for (let ox = 0; ox < 3; ox++)
      for (let c = 0; c < C; c++, k++) {
        const vals: number[] = [];
        for (let fy = -1; fy <= 1; fy++)
          for (let fx = -1; fx <= 1; fx++) {
            const iy = oy * 2 + fy;
            const ix = ox * 2 + fx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) vals.push(x[(iy * W + ix) * C + c]!);
          }
        const m = vals.reduce((a, b) => a + b, 0) / vals.length;
        assert.equal(avg![k], m < 0 ? -Math.round(-m) : Math.round(m), `avg ${k}`);
        assert.equal(mx![k], Math.max(...vals), `max ${k}`);
      }
});

test('mean over H and W with requantisation', () => {
  const r = rng(21);
  const [H, W, C] = [6, 6, 5];
  const qx: Q = { scale: 0.07, zp: -20 };
  const qy: Q = { scale: 0.05, zp: 9 };
  const g = oneOp('mean', [1, H, W, C], qx, qy, { axes: [1, 2], keepDims: true });
  assert.deepEqual(g.tensors.get('y')!.shape, [1, 1, 1, C]);
  const x = randInt8(r, H * W * C);
  const [y] = runInt8(g, [x]);
  const real = Array.from({ length: C }, (_, c) => {
    let s = 0;
    for (let p = 0; p < H * W; p++) s += x[p * C + c]! - qx.zp;
    return ((s / (H * W)) * qx.scale) / qy.scale + qy.zp;
  });
  expectQuantised(y!, real);
});

test('add with different input scales and a relu', () => {
  const r = rng(4);
  const q1: Q = { scale: 0.0413, zp: 10 };
  const q2: Q = { scale: 0.0917, zp: -3 };
  const qy: Q = { scale: 0.1033, zp: -50 };
  const g = oneOp(
    'add',
    [1, 4, 4, 3],
    q1,
    qy,
    { activation: 'relu' },
    [],
    [act('x2', [1, 4, 4, 3], q2)],
  );
  const a = randInt8(r, 48);
  const b = randInt8(r, 48);
  const [y] = runInt8(g, [a, b]);
  const real = Array.from(
    a,
    (v, k) => ((v - q1.zp) * q1.scale + (b[k]! - q2.zp) * q2.scale) / qy.scale + qy.zp,
  );
  expectQuantised(y!, real, qy.zp, 127);
});

test('pad fills with the output zero point; reshape passes values through', () => {
  const q: Q = { scale: 0.5, zp: -9 };
  const g = oneOp('pad', [1, 2, 2, 1], q, q, {
    paddings: [
      [0, 0],
      [1, 0],
      [0, 2],
      [0, 0],
    ],
  });
  const [y] = runInt8(g, [Int8Array.from([1, 2, 3, 4])]);
  assert.deepEqual(Array.from(y!), [-9, -9, -9, -9, 1, 2, -9, -9, 3, 4, -9, -9]);
  const rs = oneOp('reshape', [1, 2, 2, 1], q, q, { newShape: [1, 4] });
  assert.deepEqual(Array.from(runInt8(rs, [Int8Array.from([5, 6, 7, -8])])[0]!), [5, 6, 7, -8]);
});

test('softmax: uniform rows give exactly 1/depth; random rows within 1 LSB of float softmax', () => {
  const qx: Q = { scale: 0.15, zp: 2 };
  const qy: Q = { scale: 1 / 256, zp: -128 };
  const g = oneOp('softmax', [1, 3, 4], qx, qy, { beta: 1 });
  const [u] = runInt8(g, [new Int8Array(12).fill(17)]);
  assert.deepEqual(Array.from(u!), new Array(12).fill(64 - 128));
  const r = rng(12);
  const x = randInt8(r, 12, -60, 60);
  const [y] = runInt8(g, [x]);
  for (let row = 0; row < 3; row++) {
    const e = [0, 1, 2, 3].map((c) => Math.exp((x[row * 4 + c]! - qx.zp) * qx.scale));
    const s = e.reduce((p, v) => p + v, 0);
    e.forEach((v, c) => {
      const want = Math.min(127, Math.round((v / s) * 256) - 128);
      assert.ok(
        Math.abs(y![row * 4 + c]! - want) <= 1,
        `row ${row} c ${c}: ${y![row * 4 + c]} vs ${want}`,
      );
    });
  }
});

test('clear errors: wrong input size, float graph, missing quantisation', () => {
  const q: Q = { scale: 0.5, zp: 0 };
  const p = prepareInt8(
    oneOp('maxPool2d', [1, 4, 4, 1], q, q, { poolSize: [2, 2], strides: [2, 2] }),
  );
  assert.throws(
    () => p.run([new Int8Array(15)]),
    (e: unknown) =>
      e instanceof TinypruneError &&
      /input 0 \("x"\) must be Int8Array of 16 values/.test(e.message),
  );
  assert.throws(() => p.run([]), TinypruneError);
  const fg = oneOp('maxPool2d', [1, 4, 4, 1], q, q, { poolSize: [2, 2] });
  fg.tensors.get('y')!.dtype = 'float32';
  assert.throws(() => prepareInt8(fg), /tensor "y" must be int8, found float32/);
  const nq = oneOp('averagePool2d', [1, 4, 4, 1], q, q, { poolSize: [2, 2] });
  delete nq.tensors.get('y')!.quant;
  assert.throws(() => prepareInt8(nq), /tensor "y" has no quantisation/);
  assert.ok(quantizeMultiplier(0.5).multiplier > 0);
});
