import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { permutation } from '../../data/random.js';
import { openDataset } from '../../data/open.js';
import { checkInputShape } from '../../data/dataset.js';
import { getTensor } from '../../graph/graph.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { writeTflite } from '../../io/tflite/writer.js';
import { deployableGraph } from '../../prune/save.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { quantizeGraph, type CalibrationMethod } from '../../quant/quantize.js';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'Quantise a float model to full int8 (TFLite scheme) with a calibration set',
  usage:
    'tinyprune quantize --model M --calib SPEC [--samples N] [--method minmax|percentile|mse] --out M_int8.tflite',
  options: {
    model: {
      type: 'string',
      value: 'FILE',
      description: 'float model (.tflite, .h5 or .onnx; BatchNorm is folded first)',
    },
    calib: {
      type: 'string',
      value: 'SPEC',
      description: 'calibration dataset spec (docs/datasets.md)',
    },
    samples: {
      type: 'string',
      value: 'N',
      description: 'calibration samples drawn from it (seeded)',
      default: '200',
    },
    method: {
      type: 'string',
      value: 'M',
      description: 'activation ranges: minmax, percentile or mse',
      default: 'minmax',
    },
    percentile: {
      type: 'string',
      value: 'P',
      description: 'with --method percentile: upper percentile kept',
      default: '99.99',
    },
    seed: {
      type: 'string',
      value: 'N',
      description: 'seed for drawing the calibration samples',
      default: '1',
    },
    out: { type: 'string', value: 'FILE', description: 'the int8 .tflite to write' },
  },
  async run(args) {
    const modelPath = stringOption(args, 'quantize', 'model');
    const spec = stringOption(args, 'quantize', 'calib');
    const out = stringOption(args, 'quantize', 'out');
    const method = String(args.values.method) as CalibrationMethod;
    if (!['minmax', 'percentile', 'mse'].includes(method))
      throw new TinypruneError(
        `tinyprune quantize: --method expects minmax, percentile or mse, got "${method}"`,
      );
    const samples = numberOption(args, 'quantize', 'samples', { integer: true, min: 1 })!;
    const seed = numberOption(args, 'quantize', 'seed', { integer: true, min: 0 })!;
    const graph = deployableGraph(await loadModel(modelPath));
    const ds = await openDataset(spec);
    checkInputShape(ds, getTensor(graph, graph.inputs[0]!).shape);
    const picks = permutation(ds.length, seed).slice(0, samples);
    const calibration = await Promise.all(picks.map((i) => ds.load(i)));
    const int8 = await quantizeGraph(graph, calibration, {
      method,
      percentile: numberOption(args, 'quantize', 'percentile', { min: 50, max: 100 }),
    });
    mkdirSync(dirname(out) || '.', { recursive: true });
    writeFileAtomic(out, writeTflite(int8, { description: `${graph.name} int8` }));
    const q = getTensor(int8, int8.inputs[0]!).quant!;
    console.log(
      `wrote ${out}: int8, calibrated on ${calibration.length} samples of ${spec} (${method}); input scale ${q.scale[0]} zero point ${q.zeroPoint[0]}`,
    );
    return 0;
  },
};
