import { resolve } from 'node:path';
import { parseBudget } from '../../prune/budget.js';
import { parseHeadList } from '../../prune/heads.js';
import { runPipeline } from '../../pipeline/run.js';
import { taskOf } from '../../prune/train.js';
import { loadModel } from '../../io/load.js';
import { TinypruneError } from '../../graph/types.js';
import type { Command } from '../command.js';
import { numberOption } from '../command.js';
import { progress } from '../progress.js';
import { DEFAULT_TARGET, getTarget, TARGET_NAMES } from '../../mcu/targets.js';
import { pruneOptionsFrom, TRAINING_OPTIONS } from './prune.js';

export const runCommand: Command = {
  name: 'run',
  summary:
    'The whole job: inspect, sweep cut points, train, quantise, deploy on the emulated MCU, report',
  usage: `tinyprune run [--model M --data SPEC] [--cut NAME|auto] [--heads aux,dense] [--budget B] [--target ${TARGET_NAMES.join('|')}] [--out DIR]`,
  options: {
    ...TRAINING_OPTIONS,
    model: {
      type: 'string',
      value: 'FILE',
      description:
        'trained model (.tflite or .h5); without it, a demo model is trained from scratch',
    },
    data: {
      type: 'string',
      value: 'SPEC',
      description:
        'dataset spec (docs/datasets.md); without it, generated synthetic shapes; without --model, a demo model is trained on it',
    },
    cut: {
      type: 'string',
      value: 'NAME',
      description: 'cut point, or auto to sweep all and select by --budget',
      default: 'auto',
    },
    heads: {
      type: 'string',
      value: 'LIST',
      description: 'heads to sweep: presets and specs, e.g. aux,dense,dw3,pw44,gap,fc',
      default: 'aux,dense',
    },
    budget: {
      type: 'string',
      value: 'B',
      description: 'selection rule, e.g. params=20k,drop=1%',
      default: 'params=50%,drop=3%',
    },
    target: {
      type: 'string',
      value: 'T',
      description: TARGET_NAMES.join(' or '),
      default: DEFAULT_TARGET,
    },
    'deploy-inputs': {
      type: 'string',
      value: 'N',
      description: 'test inputs run on the emulated MCU',
      default: '5',
    },
    out: {
      type: 'string',
      value: 'DIR',
      description: 'output folder (rerun to resume)',
      default: 'tinyprune-out',
    },
    'base-epochs': {
      type: 'string',
      value: 'N',
      description: 'demo only: epochs to train the demo model from scratch',
    },
    json: { type: 'boolean', description: 'print the report as JSON at the end' },
  },
  async run(args) {
    const model = args.values.model as string | undefined;
    const data = args.values.data as string | undefined;
    if (model !== undefined && data === undefined)
      throw new TinypruneError(
        'tinyprune run: --model needs --data (the data to prune and test on)',
      );
    const target = getTarget(String(args.values.target), 'tinyprune run: --target').name;
    const heads = parseHeadList(String(args.values.heads));
    const budget = String(args.values.budget);
    parseBudget(budget);
    const quiet = args.values.quiet === true;
    const prune = pruneOptionsFrom(args, 'run', model ? taskOf(await loadModel(model)) : 'vww');
    // The demo's schedule: short, since its model and data are small.
    if (!model && args.values.epochs === undefined)
      prune.schedule = {
        ...prune.schedule,
        epochs: 12,
        batchSize: 32,
        lr: { unit: 'epoch', boundaries: [8], values: [2e-3, 5e-4] },
      };
    const { trainDemo } = await import('../../demo/run.js');
    const result = await runPipeline({
      model,
      data,
      out: resolve(String(args.values.out)),
      cut: String(args.values.cut),
      heads,
      budget,
      target,
      prune,
      deployInputs: numberOption(args, 'run', 'deploy-inputs', { integer: true, min: 1 })!,
      command: ['tinyprune', 'run', ...process.argv.slice(3)].join(' '),
      log: (line) => quiet || console.error(line),
      progress: (label, total) => progress(label, total, { quiet }),
      demo: (d, log) =>
        trainDemo(d, log, {
          seed: prune.seed,
          epochs: numberOption(args, 'run', 'base-epochs', { integer: true, min: 1 }),
        }),
    });
    if (args.values.json) console.log(JSON.stringify(result.data, null, 2));
    const p = result.data.pruned!;
    const u = result.data.unpruned;
    console.log(
      `unpruned: ${u.params.toLocaleString('en-US')} params, int8 ${((u.int8Test?.accuracy ?? 0) * 100).toFixed(1)}%, ${((u.cycles ?? 0) / 1e6).toFixed(2)}M cycles\n` +
        `pruned (${p.cut} + ${p.head}): ${p.params.toLocaleString('en-US')} params, int8 ${((p.int8Test?.accuracy ?? 0) * 100).toFixed(1)}%, ${((p.cycles ?? 0) / 1e6).toFixed(2)}M cycles\n` +
        `report: ${result.report.html}`,
    );
    return 0;
  },
};
