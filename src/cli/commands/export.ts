import { rename, rm, writeFile } from 'node:fs/promises';
import { graphToOnnx } from '../../engine/onnx.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { temporaryPath } from '../../io/atomic.js';
import { writeTflite } from '../../io/tflite/writer.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';

const FORMATS = ['onnx', 'tflite'] as const;

export const exportCommand: Command = {
  name: 'export',
  summary: 'Write a model as ONNX (float, opset 13) or TFLite',
  usage: 'tinyprune export --model MODEL --format onnx|tflite --out FILE',
  options: {
    model: { type: 'string', value: 'FILE', description: 'a .tflite, Keras .h5 or .onnx model' },
    format: { type: 'string', value: 'FORMAT', description: 'onnx or tflite' },
    out: { type: 'string', value: 'FILE', description: 'output file' },
  },
  async run(args) {
    const modelPath = stringOption(args, 'export', 'model');
    const format = stringOption(args, 'export', 'format');
    const out = stringOption(args, 'export', 'out');
    if (!(FORMATS as readonly string[]).includes(format))
      throw new TinypruneError(
        `tinyprune export: --format expects one of ${FORMATS.join(', ')}, got "${format}"`,
      );
    const graph = await loadModel(modelPath);
    const bytes = format === 'onnx' ? graphToOnnx(graph) : writeTflite(graph);
    // Never leave a half-written file: write a temporary name, then rename.
    const tmp = temporaryPath(out);
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, out);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new TinypruneError(`cannot write ${out}: ${(e as Error).message}`);
    }
    console.log(`wrote ${out} (${format}, ${bytes.length} bytes, ${graph.ops.length} ops)`);
    return 0;
  },
};
