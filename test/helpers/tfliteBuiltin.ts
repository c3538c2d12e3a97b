// The official TFLite runtime (tfliteRuntime.ts) on its OWN builtin kernels, without XNNPACK.
// tfjs-tflite has no option to turn its default XNNPACK delegate off, so the model is given one
// dynamic-shaped tensor: a RESHAPE appended after the output whose target shape is a runtime
// input. TFLite refuses to apply a delegate that only handles static shapes to such a graph and
// falls back to its builtin kernels for every node; the reshape itself copies bytes unchanged.
//
//   const runner = await createBuiltinTfliteRunner(graph, { profile: true });
//   const [y] = runner.run([x]); runner.profile(); // no TfLiteXNNPackDelegate node in it
import { cloneGraph } from '../../src/graph/graph.js';
import type { Graph } from '../../src/graph/types.js';
import { writeTflite } from '../../src/io/tflite/writer.js';
import { createTfliteRunner, type TfliteRunner } from './tfliteRuntime.js';

const SHAPE = 'builtin_only/shape';
const OUT = 'builtin_only/output';

/** `g` (one output) with the dynamic-shape reshape appended and its shape as a last input. */
export function withDynamicTail(g: Graph): Graph {
  if (g.outputs.length !== 1) throw new Error('withDynamicTail: graph must have one output');
  const h = cloneGraph(g);
  const out = h.tensors.get(h.outputs[0]!)!;
  h.tensors.set(SHAPE, { name: SHAPE, shape: [out.shape.length], dtype: 'int32' });
  h.tensors.set(OUT, { ...out, name: OUT });
  h.ops.push({
    kind: 'reshape',
    name: 'builtin_only/reshape',
    inputs: [h.outputs[0]!, SHAPE],
    outputs: [OUT],
    attrs: {},
  });
  h.inputs.push(SHAPE);
  h.outputs = [OUT];
  return h;
}

/** A runner for `g` on TFLite's builtin kernels; `run` takes the graph's own inputs. */
export async function createBuiltinTfliteRunner(
  g: Graph,
  options: { profile?: boolean } = {},
): Promise<TfliteRunner> {
  const shape = Int32Array.from(g.tensors.get(g.outputs[0]!)!.shape);
  const runner = await createTfliteRunner(writeTflite(withDynamicTail(g)), options);
  return {
    inputs: runner.inputs.slice(0, -1),
    outputs: runner.outputs,
    run: (inputs) => runner.run([...inputs, shape]),
    profile: () => runner.profile(),
    close: () => runner.close(),
  };
}
