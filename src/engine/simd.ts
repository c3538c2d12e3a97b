// A tiny hand-assembled WebAssembly SIMD kernel that works directly on the tfjs-wasm heap (it
// imports the backend's own memory), for the one training hot spot no wasm kernel composes well:
// the depthwise filter gradient, Σ x·dy per tap and channel. Composed from tfjs ops it needs
// slices (run element by element in JS by the wasm backend); as a JS loop it is 4–8× slower.
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs';

// Opcodes used below (WebAssembly core + SIMD proposals).
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const I32_CONST = 0x41;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const LOOP = 0x03;
const BR_IF = 0x0d;
const END = 0x0b;
const VOID = 0x40;
const V128_LOAD = [0xfd, 0x00, 0x00, 0x00]; // memarg: align 2^0 (unaligned ok), offset 0
const V128_STORE = [0xfd, 0x0b, 0x00, 0x00];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

/**
 * macc(acc, x, dy, c4, n0, sx0, sd0, n1, sx1, sd1, n2, sx2, sd2): for three nested loops
 * (counts n2, n1, n0 ≥ 1; byte steps sxK, sdK through x and dy) adds x[0..4·c4)·dy[0..4·c4)
 * elementwise into acc[0..4·c4) (float32, 4 lanes at a time).
 */
function maccModule(): Uint8Array {
  const [acc, x, dy, c4, n0, sx0, sd0, n1, sx1, sd1, n2, sx2, sd2] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
  ];
  const [x2, d2, i1, x1, d1, i0, x0, d0, c, a, xq, dq] = [
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
  ];
  const get = (i: number) => [LOCAL_GET, i];
  const set = (i: number) => [LOCAL_SET, i];
  const copy = (from: number, to: number) => [...get(from), ...set(to)];
  const addTo = (p: number, step: number) => [...get(p), ...get(step), I32_ADD, ...set(p)];
  const add16 = (p: number) => [...get(p), I32_CONST, 16, I32_ADD, ...set(p)];
  // Decrement a counter and loop while it is non-zero.
  const countDown = (i: number) => [...get(i), I32_CONST, 1, I32_SUB, LOCAL_TEE, i, BR_IF, 0];
  const code = [
    ...copy(x, x2),
    ...copy(dy, d2),
    LOOP, VOID,
    ...copy(n1, i1), ...copy(x2, x1), ...copy(d2, d1),
    LOOP, VOID,
    ...copy(n0, i0), ...copy(x1, x0), ...copy(d1, d0),
    LOOP, VOID,
    ...copy(c4, c), ...copy(acc, a), ...copy(x0, xq), ...copy(d0, dq),
    LOOP, VOID,
    ...get(a),
    ...get(a), ...V128_LOAD,
    ...get(xq), ...V128_LOAD,
    ...get(dq), ...V128_LOAD,
    ...F32X4_MUL,
    ...F32X4_ADD,
    ...V128_STORE,
    ...add16(a), ...add16(xq), ...add16(dq),
    ...countDown(c),
    END,
    ...addTo(x0, sx0), ...addTo(d0, sd0),
    ...countDown(i0),
    END,
    ...addTo(x1, sx1), ...addTo(d1, sd1),
    ...countDown(i1),
    END,
    ...addTo(x2, sx2), ...addTo(d2, sd2),
    ...countDown(n2),
    END,
    END,
  ]; // prettier-ignore
  const body = [1, 12, 0x7f, ...code]; // one local group: 12 × i32
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 13, ...new Array<number>(13).fill(0x7f), 0]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('macc'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]; // prettier-ignore
  return new Uint8Array(bytes);
}

export type MaccFn = (
  acc: number,
  x: number,
  dy: number,
  c4: number,
  n0: number,
  sx0: number,
  sd0: number,
  n1: number,
  sx1: number,
  sd1: number,
  n2: number,
  sx2: number,
  sd2: number,
) => void;

// The compiler's lib set here has no WebAssembly types; the little we use, typed by hand.
const Wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

interface WasmBackendInternals {
  wasm: { asm: { memory: object } };
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
}

const cache = new WeakMap<object, MaccFn | null>();

/** The SIMD kernel bound to `backend`'s heap, or undefined where wasm SIMD is unavailable. */
export function heapMacc(backend: KernelBackend): MaccFn | undefined {
  const b = backend as unknown as WasmBackendInternals;
  let fn = cache.get(backend);
  if (fn === undefined) {
    try {
      const memory = b.wasm.asm.memory;
      const mod = new Wasm.Module(maccModule());
      const inst = new Wasm.Instance(mod, { env: { memory } });
      fn = inst.exports.macc as MaccFn;
    } catch {
      fn = null;
    }
    cache.set(backend, fn);
  }
  return fn ?? undefined;
}

/** Byte address of a tensor's data on the wasm heap. */
export function heapOffset(backend: KernelBackend, t: TensorInfo): number {
  const d = (backend as unknown as WasmBackendInternals).dataIdMap.get(t.dataId);
  if (!d) throw new Error('tensor is not on the wasm heap');
  return d.memoryOffset;
}
