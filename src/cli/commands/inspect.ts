import { modelTotals, opStats } from '../../graph/accounting.js';
import { findCutPoints } from '../../graph/cutpoints.js';
import { loadModel } from '../../io/load.js';
import type { Command } from '../command.js';
import { formatInt, formatKB, table } from '../format.js';
import { logSafe } from '../../io/sanitize.js';

/** TFLite tensor names can list every fused op (`a;b;c`): show the first, at most 40 chars. */
function shortName(name: string): string {
  const first = name.split(';')[0]!;
  return first.length > 40 ? `…${first.slice(-39)}` : first;
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'Show a model layer by layer: shapes, parameters, MACs, memory and cut points',
  usage: 'tinyprune inspect MODEL [--json]',
  positionals: [
    { name: 'MODEL', description: 'a .tflite (float, int8 or hybrid), Keras .h5 or .onnx file' },
  ],
  options: {
    json: { type: 'boolean', description: 'print one JSON object instead of tables' },
  },
  async run(args) {
    const graph = await loadModel(args.positionals[0]!);
    const ops = opStats(graph);
    const totals = modelTotals(graph);
    const cutPoints = findCutPoints(graph);
    if (args.values.json) {
      const input = graph.tensors.get(graph.inputs[0]!);
      console.log(
        JSON.stringify(
          {
            model: args.positionals[0],
            format: graph.metadata.format,
            input: input && { shape: input.shape, dtype: input.dtype },
            ops,
            totals,
            cutPoints,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    console.log(`${logSafe(graph.name)} (${graph.metadata.format ?? 'model'}): ${ops.length} ops`);
    console.log(
      table(
        ['#', 'op', 'name', 'output', 'params', 'MACs', 'act KB'],
        ops.map((o) => [
          o.index,
          o.kind,
          o.name,
          o.outputShape.join('x'),
          formatInt(o.params),
          formatInt(o.macs),
          formatKB(o.activationBytes),
        ]),
      ),
    );
    console.log(
      `\ntotal: ${formatInt(totals.params)} params (${formatInt(totals.kerasParams)} as Keras counts them, BatchNorm unfolded), ${formatInt(totals.macs)} MACs, peak activations ${formatKB(totals.peakActivationBytes)} KB`,
    );
    console.log(`\ncut points (${cutPoints.length}):`);
    console.log(
      table(
        ['cut', 'tensor', 'shape', 'params kept', 'Keras params', 'MACs kept', 'peak KB'],
        cutPoints.map((c) => [
          c.name,
          shortName(c.tensor),
          c.shape.join('x'),
          formatInt(c.params),
          formatInt(c.kerasParams),
          formatInt(c.macs),
          formatKB(c.peakActivationBytes),
        ]),
      ),
    );
    return 0;
  },
};
