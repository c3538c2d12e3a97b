import { openDataset } from '../../data/open.js';
import { evaluatePredictions } from '../../eval/metrics.js';
import { argmaxRows, isInt8Graph, predictScores } from '../../eval/predict.js';
import { loadModel } from '../../io/load.js';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';
import { table } from '../format.js';
import { progress } from '../progress.js';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Evaluate a float or int8 model on a dataset: accuracy, per-class accuracy, confusion',
  usage: 'tinyprune eval --model MODEL --data SPEC [--limit N] [--json] [--quiet]',
  options: {
    model: {
      type: 'string',
      value: 'FILE',
      description: 'a .tflite (float or int8), Keras .h5 or .onnx model',
    },
    data: {
      type: 'string',
      value: 'SPEC',
      description: 'dataset spec, e.g. eembc-vww:DIR, speech-commands:DIR (see docs/datasets.md)',
    },
    limit: { type: 'string', value: 'N', description: 'evaluate only the first N examples' },
    json: { type: 'boolean', description: 'print one JSON object' },
    quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
  },
  async run(args) {
    const modelPath = stringOption(args, 'eval', 'model');
    const spec = stringOption(args, 'eval', 'data');
    const limit = numberOption(args, 'eval', 'limit', { integer: true, min: 1 });
    const graph = await loadModel(modelPath);
    let ds = await openDataset(spec);
    if (limit !== undefined && limit < ds.length)
      ds = ds.subset(Array.from({ length: limit }, (_, i) => i));
    const bar = progress(`eval ${ds.length} examples`, ds.length, {
      quiet: args.values.quiet === true,
      json: args.values.json === true,
    });
    let last = 0;
    const scores = await predictScores(graph, ds, {
      onProgress: (done) => {
        bar.tick(done - last);
        last = done;
      },
    });
    bar.done();
    const ev = evaluatePredictions(ds.labels, argmaxRows(scores, ds.classes.length), ds.classes);
    const runtime = isInt8Graph(graph) ? 'int8 interpreter' : 'float (onnxruntime)';
    if (args.values.json) {
      console.log(JSON.stringify({ model: modelPath, data: spec, runtime, ...ev }, null, 2));
      return 0;
    }
    console.log(
      `${modelPath} on ${spec} (${runtime}): accuracy ${(ev.accuracy * 100).toFixed(2)}% ` +
        `(${ev.correct}/${ev.n}, 95% CI ${(ev.ci95[0] * 100).toFixed(1)}–${(ev.ci95[1] * 100).toFixed(1)}%)`,
    );
    console.log(
      table(
        ['class', 'n', 'accuracy %'],
        ev.classes.map((c) => [c, ev.perClass[c]!.n, (ev.perClass[c]!.accuracy * 100).toFixed(1)]),
      ),
    );
    console.log('\nconfusion (rows: true class, columns: predicted):');
    console.log(
      table(
        ['', ...ev.classes.map((_, i) => String(i))],
        ev.confusion.map((r, i) => [`${i} ${ev.classes[i]}`, ...r]),
      ),
    );
    return 0;
  },
};
