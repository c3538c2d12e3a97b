// The layers without weights: pools, mean, softmax, element-wise add, pad and reshape.
import { numElements } from '../../graph/graph.js';
import { padBefore } from '../../graph/shapes.js';
import { getTensor } from '../../graph/graph.js';
import { quantizeMultiplier } from '../../quant/fixedpoint.js';
import { softmaxInt8Params } from '../../quant/softmaxInt8.js';
import { SOFTMAX_C } from './softmax.js';
import { q, type EmitContext, type LayerCode } from './types.js';

export function emitPool(c: EmitContext): LayerCode {
  const { g, op, x, y, qx, qy, clampLo, clampHi, off, fail } = c;
  const a = op.attrs;
  let body = '';
  const [, inH, inW, C] = x.shape as [number, number, number, number];
  const [, outH, outW] = y.shape as [number, number, number, number];
  const [kH, kW] = a.poolSize ?? [1, 1];
  const [sH, sW] = a.strides ?? [1, 1];
  const padT = padBefore(inH, kH, sH, a.padding ?? 'valid');
  const padL = padBefore(inW, kW, sW, a.padding ?? 'valid');
  const avg = op.kind === 'averagePool2d';
  // Every window inside the input: one count, and the rounded division by it a multiply and a
  // shift (the M0+ has no divider: __divsi3 is ~470 B of code and ~100 cycles a call).
  const full =
    padT === 0 && padL === 0 && (outH - 1) * sH + kH <= inH && (outW - 1) * sW + kW <= inW;
  const div = avg && full ? reciprocal(kH * kW, 128 * kH * kW + ((kH * kW) >> 1)) : undefined;
  const round = div
    ? `acc = acc > 0 ? (int32_t)(((uint32_t)(acc + count / 2) * ${div.r}u) >> ${div.s})
                    : -(int32_t)(((uint32_t)(count / 2 - acc) * ${div.r}u) >> ${div.s});`
    : 'acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;';
  body = `  for (int oy = 0; oy < ${outH}; oy++)
    for (int ox = 0; ox < ${outW}; ox++) {
      const int iy0 = oy * ${sH} - ${padT}, ix0 = ox * ${sW} - ${padL};
      const int fy0 = iy0 < 0 ? -iy0 : 0, fy1 = ${kH} < ${inH} - iy0 ? ${kH} : ${inH} - iy0;
      const int fx0 = ix0 < 0 ? -ix0 : 0, fx1 = ${kW} < ${inW} - ix0 ? ${kW} : ${inW} - ix0;
      const int32_t count = (fy1 - fy0) * (fx1 - fx0);
      for (int c = 0; c < ${C}; c++) {
        int32_t acc = 0;
        for (int fy = fy0; fy < fy1; fy++)
          for (int fx = fx0; fx < fx1; fx++) {
            const int32_t v = in[((iy0 + fy) * ${inW} + ix0 + fx) * ${C} + c];
            ${avg ? 'acc += v;' : 'if (v > acc) acc = v;'}
          }
        ${
          avg
            ? `acc -= 128 * count; /* back to int8 values: rounding is symmetric around 0 */
        ${round}
        acc += 128;`
            : ''
        }
        out[(oy * ${outW} + ox) * ${C} + c] = tp_clamp_u8(acc, ${clampLo}, ${clampHi});
      }
    }
`;
  return { consts: [], body, macs: 0, kernel: avg ? 'avgpool-loop' : 'maxpool-loop' };
}

/**
 * floor(a / d) = (a·r) >> s for every a in [0, aMax]: the largest s with aMax·r < 2^32, r =
 * ceil(2^s / d), checked for each a.
 */
export function reciprocal(d: number, aMax: number): { r: number; s: number } | undefined {
  for (let s = 31; s >= 0; s--) {
    const r = Math.ceil(2 ** s / d);
    if (aMax * r >= 2 ** 32) continue;
    for (let a = 0; a <= aMax; a++)
      if (Math.floor((a * r) / 2 ** s) !== Math.floor(a / d)) return undefined;
    return { r, s };
  }
  return undefined;
}

export function emitMean(c: EmitContext): LayerCode {
  const { g, op, x, y, qx, qy, clampLo, clampHi, off, fail } = c;
  const a = op.attrs;
  let body = '';
  const rank = x.shape.length;
  const constAxes = op.inputs[1]
    ? (g.tensors.get(op.inputs[1])?.data as Int32Array | undefined)
    : undefined;
  const axes = (a.axes ?? (constAxes ? Array.from(constAxes) : [1, 2])).map((ax) =>
    ax < 0 ? ax + rank : ax,
  );
  const sorted = [...new Set(axes)].sort((p, r) => p - r);
  if (sorted.some((ax, k) => k > 0 && ax !== sorted[k - 1]! + 1))
    fail(`mean "${op.name}" over non-contiguous axes [${axes}] is not supported`);
  const outer = numElements(x.shape.slice(0, sorted[0]));
  const reduced = numElements(sorted.map((ax) => x.shape[ax]!));
  const inner = numElements(x.shape.slice(sorted[sorted.length - 1]! + 1));
  const base = quantizeMultiplier(qx.scale / qy.scale);
  let sh = 31 - Math.clz32(reduced);
  sh = Math.min(sh, 32, 31 + base.shift);
  const m = Number((BigInt(base.multiplier) << BigInt(sh)) / BigInt(reduced)) | 0;
  const outShift = base.shift - sh;
  // Σu − 128·n converts the sum back to int8 values before subtracting zp·n.
  const offset = (qx.zp + 128) * reduced;
  body = `  for (int o = 0; o < ${outer}; o++)
    for (int c = 0; c < ${inner}; c++) {
      int32_t s = 0;
      for (int r = 0; r < ${reduced}; r++) s += in[(o * ${reduced} + r) * ${inner} + c];
      out[o * ${inner} + c] = tp_clamp_u8(tp_mbqm(s - ${offset}, ${m}, ${outShift}) + ${qy.zp + 128}, 0, 255);
    }
`;
  return { consts: [], body, macs: 0, kernel: 'mean-loop' };
}

export function emitSoftmax(c: EmitContext): LayerCode {
  const { g, op, x, y, qx, qy, clampLo, clampHi, off, fail } = c;
  const a = op.attrs;
  let body = '';

  const depth = x.shape[x.shape.length - 1]!;
  const p = softmaxInt8Params(qx.scale, a.beta ?? 1);
  body = `  tp_softmax(in, out, ${numElements(x.shape) / depth}, ${depth}, ${p.inputMultiplier}, ${p.inputLeftShift}, ${p.diffMin});\n`;
  return {
    consts: [],
    body,
    macs: 0,
    kernel: 'softmax-gemmlowp',
    helpers: { tp_softmax: SOFTMAX_C },
  };
}

export function emitAdd(c: EmitContext): LayerCode {
  const { g, op, x, y, qx, qy, clampLo, clampHi, off, fail } = c;
  const a = op.attrs;
  let body = '';
  const x2 = getTensor(g, op.inputs[1]!);
  if (x2.data || numElements(x2.shape) !== numElements(y.shape))
    fail(`add "${op.name}": only element-wise adds of two activations are supported on the MCU`);
  const q2 = q(x2);
  const twiceMax = 2 * Math.max(qx.scale, q2.scale);
  const m1 = quantizeMultiplier(qx.scale / twiceMax);
  const m2 = quantizeMultiplier(q2.scale / twiceMax);
  const mo = quantizeMultiplier(twiceMax / (2 ** 20 * qy.scale));
  body = `  const uint8_t *in2 = tp_arena + ${off(x2.name)};
  for (int k = 0; k < ${numElements(y.shape)}; k++) {
    const int32_t v1 = ((int32_t)in[k] - ${qx.zp + 128}) * (1 << 20);
    const int32_t v2 = ((int32_t)in2[k] - ${q2.zp + 128}) * (1 << 20);
    const int32_t s = tp_mbqm(v1, ${m1.multiplier}, ${m1.shift}) + tp_mbqm(v2, ${m2.multiplier}, ${m2.shift});
    out[k] = tp_clamp_u8(tp_mbqm(s, ${mo.multiplier}, ${mo.shift}) + ${qy.zp + 128}, ${clampLo}, ${clampHi});
  }
`;
  return { consts: [], body, macs: 0, kernel: 'add-loop' };
}

export function emitPad(c: EmitContext): LayerCode {
  const { g, op, x, y, qx, qy, clampLo, clampHi, off, fail } = c;
  const a = op.attrs;
  let body = '';
  let paddings = a.paddings;
  if (!paddings) {
    const v = op.inputs[1]
      ? (g.tensors.get(op.inputs[1])?.data as ArrayLike<number> | undefined)
      : undefined;
    if (!v) return fail(`pad "${op.name}" has no paddings`);
    paddings = x.shape.map((_, d) => [Number(v[2 * d]), Number(v[2 * d + 1])] as [number, number]);
  }
  // Copy row by row of the innermost dimension from the last input element backwards is
  // not needed: input and output never share a buffer.
  const ys = y.shape;
  const xs = x.shape;
  const rank = ys.length;
  const inner = xs[rank - 1]!;
  const outerDims = ys.slice(0, -1);
  const outerCount = numElements(outerDims);
  const strides = outerDims.map((_, d) => numElements(xs.slice(d + 1)));
  const conds = outerDims
    .map((_, d) => `i${d} >= ${paddings![d]![0]} && i${d} < ${paddings![d]![0] + xs[d]!}`)
    .join(' && ');
  const idx = outerDims.map((_, d) => `(i${d} - ${paddings![d]![0]}) * ${strides[d]}`).join(' + ');
  const decompose = outerDims
    .map((_, d) => {
      const below = numElements(outerDims.slice(d + 1));
      return `const int i${d} = (r / ${below}) % ${outerDims[d]};`;
    })
    .join(' ');
  const [pb, pa] = paddings[rank - 1]!;
  body = `  for (int r = 0; r < ${outerCount}; r++) {
    ${decompose}
    uint8_t *o = out + r * ${ys[rank - 1]};
    if (${conds || '1'}) {
      const uint8_t *s = in + ${idx || '0'};
      for (int k = 0; k < ${pb}; k++) *o++ = ${qy.zp + 128};
      for (int k = 0; k < ${inner}; k++) *o++ = s[k];
      for (int k = 0; k < ${pa}; k++) *o++ = ${qy.zp + 128};
    } else {
      for (int k = 0; k < ${ys[rank - 1]}; k++) *o++ = ${qy.zp + 128};
    }
  }
`;
  return { consts: [], body, macs: 0, kernel: 'pad-rows' };
}

/** A reshape's output aliases its input in the arena: no code. */
export function emitReshape(c: EmitContext): null {
  if (c.off(c.x.name) !== c.off(c.y.name))
    c.fail(`reshape "${c.op.name}" could not alias its input`);
  return null;
}
