// Bulk float inference through onnxruntime-node (its CPU library ships inside the npm package).
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import { getTensor, numElements } from '../graph/graph.js';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { graphToOnnx } from './onnx.js';

export interface OnnxOptions {
  /** Intra-op threads (default 2: both cores of the target machine). */
  threads?: number;
  /** Examples per session.run call (default 256). */
  batchSize?: number;
}

/** What a session is built from: the model's bytes and shapes (plain data: crosses threads). */
export interface OnnxModel {
  /** sha256 of the bytes: names the model in caches. */
  id: string;
  onnx: Uint8Array;
  /** Input shape without the batch dimension. */
  inputShape: number[];
  /** Output shape without the batch dimension. */
  outputShape: number[];
  /** Values per example in the output. */
  outputSize: number;
}

/** The ONNX form of a graph (first input, first output). */
export function onnxModel(graph: Graph): OnnxModel {
  const onnx = graphToOnnx(graph);
  return {
    id: createHash('sha256').update(onnx).digest('hex'),
    onnx,
    inputShape: getTensor(graph, graph.inputs[0]!).shape.slice(1),
    outputShape: getTensor(graph, graph.outputs[0]!).shape.slice(1),
    outputSize: numElements(getTensor(graph, graph.outputs[0]!).shape.slice(1)),
  };
}

/** An ONNX session for one Graph, reusable across many predict calls. */
export class OnnxRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputName: string,
    private readonly outputName: string,
    readonly inputShape: number[],
    readonly outputSize: number,
    private readonly batchSize: number,
    /** What the session was built from (extraction workers build their own from it). */
    readonly model: OnnxModel,
  ) {}

  static async create(graph: Graph, opts: OnnxOptions = {}): Promise<OnnxRunner> {
    return OnnxRunner.fromModel(onnxModel(graph), opts);
  }

  static async fromModel(model: OnnxModel, opts: OnnxOptions = {}): Promise<OnnxRunner> {
    const session = await ort.InferenceSession.create(model.onnx, {
      intraOpNumThreads: opts.threads ?? 2,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // No busy-waiting threads: on a shared 2-core machine spinning starves the other thread.
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    return new OnnxRunner(
      session,
      session.inputNames[0]!,
      session.outputNames[0]!,
      model.inputShape,
      model.outputSize,
      opts.batchSize ?? 256,
      model,
    );
  }

  /**
   * Runs n examples laid out [n, ...inputShape]; returns n × outputSize values, in `into` when
   * given (onnxruntime writes there directly: no buffer allocated per call).
   */
  async predict(x: Float32Array, n: number, into?: Float32Array): Promise<Float32Array> {
    const per = numElements(this.inputShape);
    if (x.length !== n * per)
      throw new TinypruneError(
        `onnx predict: expected ${n} × ${per} input values (${[n, ...this.inputShape].join('x')}), got ${x.length}`,
      );
    const size = n * this.outputSize;
    if (into && into.length < size)
      throw new RangeError(`onnx predict: output buffer of ${into.length} < ${size} values`);
    const out = into ? into.subarray(0, size) : new Float32Array(size);
    for (let s = 0; s < n; s += this.batchSize) {
      const m = Math.min(this.batchSize, n - s);
      const feed = new ort.Tensor('float32', x.subarray(s * per, (s + m) * per), [
        m,
        ...this.inputShape,
      ]);
      const fetch = new ort.Tensor(
        'float32',
        out.subarray(s * this.outputSize, (s + m) * this.outputSize),
        [m, ...this.model.outputShape],
      );
      await this.session.run({ [this.inputName]: feed }, { [this.outputName]: fetch });
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** One-shot convenience: export, run, release. */
export async function runOnnx(
  graph: Graph,
  x: Float32Array,
  n: number,
  opts: OnnxOptions = {},
): Promise<Float32Array> {
  const r = await OnnxRunner.create(graph, opts);
  try {
    return await r.predict(x, n);
  } finally {
    await r.dispose();
  }
}
