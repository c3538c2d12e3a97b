// The OFFICIAL TFLite runtime in Node, for tests and benchmarks: the wasm build of TFLite that
// ships inside @tensorflow/tfjs-tflite (tflite_web_api_cc_simd.js, an Emscripten factory written
// for browsers; it also loads under Node through createRequire when given the .wasm bytes).
// It delegates float and int8 kernels to XNNPACK by default (tfliteBuiltin.ts runs a model on
// TFLite's own builtin kernels instead). Both requantise conv and fully connected outputs with a
// single rounding where TFLite Micro's reference kernels round twice, so int8 results may differ
// from TFLite Micro (and our interpreter) by ±1 LSB per op (requantRounding.ts shows it).
//
//   const outputs = await runTflite(modelBytes, [input]);          // one inference
//   const runner = await createTfliteRunner(modelBytes);            // many inferences
//   runner.inputs[0] // { name, dtype: 'float32' | 'int8' | …, shape: [1, 96, 96, 3] }
//   const [scores] = runner.run([input]); … runner.close();

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export type TfliteArray =
  Float32Array | Int8Array | Uint8Array | Int16Array | Int32Array | Float64Array;

export interface TfliteTensorInfo {
  name: string;
  /** TFLite type as the runtime names it: 'float32', 'int8', 'uint8', 'int16', 'int32'… */
  dtype: string;
  shape: number[];
}

export interface TfliteRunner {
  readonly inputs: TfliteTensorInfo[];
  readonly outputs: TfliteTensorInfo[];
  /**
   * Copies `inputs` (one typed array per model input, of the input's element type and size)
   * into the interpreter, runs it, and returns copies of the outputs.
   */
  run(inputs: ArrayLike<number>[]): TfliteArray[];
  /** TFLite's per-node profile of the runs so far (needs `profile: true` at creation). */
  profile(): string;
  /** Frees the interpreter and the model bytes held in wasm memory. */
  close(): void;
}

// The Emscripten module's embind surface, as far as we use it.
interface WasmTensorInfo {
  id: number;
  name: string;
  dataType: string;
  shape: string;
  data(): TfliteArray | BigInt64Array;
}
interface WasmVector<T> {
  size(): number;
  get(i: number): T;
  delete?(): void;
}
interface WasmRunner {
  GetInputs(): WasmVector<WasmTensorInfo>;
  GetOutputs(): WasmVector<WasmTensorInfo>;
  Infer(): boolean;
  GetProfilingSummary(): string;
  delete(): void;
}
interface WasmModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(
      ptr: number,
      size: number,
      options: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number },
    ): { ok(): boolean; errorMessage(): string; value(): WasmRunner };
  };
}

const require = createRequire(import.meta.url);
let modulePromise: Promise<WasmModule> | undefined;

/** Loads the TFLite wasm module once per process (≈0.2–0.3 s). */
export function loadTfliteModule(): Promise<WasmModule> {
  modulePromise ??= (async () => {
    const js = require.resolve('@tensorflow/tfjs-tflite/wasm/tflite_web_api_cc_simd.js');
    const factory = require(js) as (opts: object) => Promise<WasmModule>;
    return factory({
      wasmBinary: readFileSync(js.replace(/\.js$/, '.wasm')),
      // The runtime logs "Created TensorFlow Lite XNNPACK delegate" on stderr; keep tests quiet.
      print: () => {},
      printErr: () => {},
    });
  })();
  return modulePromise;
}

function list<T>(v: WasmVector<T>): T[] {
  const out: T[] = [];
  for (let i = 0; i < v.size(); i++) out.push(v.get(i));
  v.delete?.();
  return out;
}

function info(t: WasmTensorInfo): TfliteTensorInfo {
  return { name: t.name, dtype: t.dataType, shape: t.shape.split(',').map(Number) };
}

/** Builds an interpreter for a .tflite model; throws with TFLite's own message if it refuses it. */
export async function createTfliteRunner(
  modelBytes: Uint8Array,
  options: { numThreads?: number; profile?: boolean } = {},
): Promise<TfliteRunner> {
  const mod = await loadTfliteModule();
  const ptr = mod._malloc(modelBytes.length);
  mod.HEAPU8.set(modelBytes, ptr);
  const status = mod.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, modelBytes.length, {
    numThreads: options.numThreads ?? 1,
    enableProfiling: options.profile ?? false,
    maxProfilingBufferEntries: 1024,
  });
  if (!status.ok()) {
    const msg = status.errorMessage();
    mod._free(ptr);
    throw new Error(`TFLite runtime rejected the model: ${msg}`);
  }
  const runner = status.value();
  const inputInfos = list(runner.GetInputs());
  const outputInfos = list(runner.GetOutputs());
  let closed = false;
  return {
    inputs: inputInfos.map(info),
    outputs: outputInfos.map(info),
    run(inputs) {
      if (closed) throw new Error('TFLite runner is closed');
      if (inputs.length !== inputInfos.length)
        throw new Error(`model has ${inputInfos.length} inputs, got ${inputs.length}`);
      inputInfos.forEach((t, i) => {
        // data() is a view into wasm memory: take it afresh (memory growth detaches old views).
        const view = t.data();
        if (inputs[i]!.length !== view.length)
          throw new Error(
            `input ${i} (${t.name}) needs ${view.length} values, got ${inputs[i]!.length}`,
          );
        (view as { set(a: ArrayLike<number>): void }).set(inputs[i]!);
      });
      if (!runner.Infer()) throw new Error('TFLite inference failed');
      // Fetched afresh: a dynamic-shaped output is reallocated by each inference.
      return list(runner.GetOutputs()).map((t) => {
        const out = t.data();
        // int64 outputs come back as float64 so every result is an ArrayLike<number>.
        return out instanceof BigInt64Array ? Float64Array.from(out, Number) : out.slice();
      });
    },
    profile() {
      return runner.GetProfilingSummary();
    },
    close() {
      if (closed) return;
      closed = true;
      runner.delete();
      mod._free(ptr);
    },
  };
}

/** One inference: builds an interpreter, runs `inputs`, frees it, returns the outputs. */
export async function runTflite(
  modelBytes: Uint8Array,
  inputs: ArrayLike<number>[],
): Promise<TfliteArray[]> {
  const runner = await createTfliteRunner(modelBytes);
  try {
    return runner.run(inputs);
  } finally {
    runner.close();
  }
}
