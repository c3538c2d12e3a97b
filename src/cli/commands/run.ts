import { resolve } from 'node:path';
import { DEFAULT_BUDGET, parseBudget } from '../../prune/budget.js';
import { parseHeadList } from '../../prune/heads.js';
import { runPipeline } from '../../pipeline/run.js';
import { taskOfSpec } from '../../data/kinds.js';
import { TinypruneError } from '../../graph/types.js';
import type { Command } from '../command.js';
import { numberOption } from '../command.js';
import { kernelOption } from './deploy.js';
import { progress } from '../progress.js';
import { defaultDemoData, demoJobFor } from '../../demo/jobs.js';
import { DEFAULT_TARGET, getTarget, TARGET_NAMES } from '../../mcu/targets.js';
import {
  partitionSpecsFrom,
  pruneOptionsFrom,
  sessionOptionsFrom,
  TRAINING_OPTIONS,
} from './prune.js';
import { QUEUE_OPTIONS } from './sweep.js';
import { redact } from '../../distributed/url.js';

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
        'trained model (.tflite, .h5 or .onnx); without it, a demo model is trained from scratch',
    },
    data: {
      type: 'string',
      value: 'SPEC',
      description:
        'dataset spec (docs/datasets.md); without it and --model: Fashion-MNIST from /usr/share/datasets/fashion-mnist, or synthetic:shapes when it is not installed',
    },
    cut: {
      type: 'string',
      value: 'NAME',
      description:
        'cut point, comma-separated cut points, or auto to sweep all and select by --budget (default: auto; the demo jobs: their own list)',
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
      description: `selection rule among the cuts and heads, e.g. params=20k,drop=1% (default ${DEFAULT_BUDGET}; never more MACs than the unpruned model unless macs=any)`,
    },
    target: {
      type: 'string',
      value: 'T',
      description: TARGET_NAMES.join(' or '),
      default: DEFAULT_TARGET,
    },
    kernels: {
      type: 'string',
      value: 'speed|size|auto',
      description: 'MCU kernel mode, as deploy --kernels',
      default: 'auto',
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
    ...QUEUE_OPTIONS,
  },
  async run(args) {
    const model = args.values.model as string | undefined;
    let data = args.values.data as string | undefined;
    if (model !== undefined && data === undefined)
      throw new TinypruneError(
        'tinyprune run: --model needs --data (the data to prune and test on)',
      );
    const target = getTarget(String(args.values.target), 'tinyprune run: --target').name;
    const kernels = kernelOption(String(args.values.kernels), 'tinyprune run');
    const heads = parseHeadList(String(args.values.heads));
    const budget = args.values.budget !== undefined ? String(args.values.budget) : DEFAULT_BUDGET;
    parseBudget(budget);
    // As with prune: a budget given by hand must have something to choose from (the default
    // rule, with one candidate, only reports whether it meets it).
    const namedCut = args.values.cut as string | undefined;
    if (
      args.values.budget !== undefined &&
      namedCut !== undefined &&
      namedCut !== 'auto' &&
      !namedCut.includes(',') &&
      heads.length === 1
    )
      throw new TinypruneError(
        `tinyprune run: --budget picks among cuts and heads; with --cut ${namedCut} and --heads ${heads[0]} there is one candidate and it would be ignored (drop --budget, or use --cut auto, several cuts or several heads)`,
      );
    const quiet = args.values.quiet === true;
    const log = (line: string) => quiet || console.error(line);
    if (!model && data === undefined) {
      // The default job: the real Fashion-MNIST when installed, else the generated shapes.
      const d = defaultDemoData();
      if (d.notice) console.error(d.notice);
      data = d.spec;
    }
    const job = model ? undefined : demoJobFor(data!);
    // The demo keeps its own short head schedule (paper recipe) unless a recipe is asked for.
    const prune = pruneOptionsFrom(args, 'run', taskOfSpec(data!), model ? 'best' : 'paper');
    if (job && args.values.epochs === undefined)
      prune.schedule = { ...job.sweep, ...(job.sweepSteps && { steps: job.sweepSteps }) };
    const { trainDemo } = await import('../../demo/run.js');
    const queue = args.values.queue as string | undefined;
    const executor = queue
      ? await (
          await import('../../distributed/submit.js')
        ).queueExecutor({ url: queue, queueName: String(args.values['queue-name']), log, quiet })
      : undefined;
    const result = await runPipeline({
      model,
      data,
      out: resolve(String(args.values.out)),
      cut: (args.values.cut as string | undefined) ?? job?.cuts ?? 'auto',
      heads,
      budget,
      target,
      prune,
      partitionSpecs: partitionSpecsFrom(args, 'run'),
      viewsByHand: args.values.views !== undefined,
      kernels,
      deployInputs: numberOption(args, 'run', 'deploy-inputs', { integer: true, min: 1 })!,
      // The report shows the command; a queue URL's password never appears in it.
      command: redact(['tinyprune', 'run', ...process.argv.slice(3)].join(' ')),
      log,
      executor,
      progress: (label, total) => progress(label, total, { quiet }),
      session: sessionOptionsFrom(args, 'run', resolve(String(args.values.out)), quiet),
      demoDescription: job?.describe,
      demo: (d, log) =>
        trainDemo(d, log, {
          seed: prune.seed,
          epochs: numberOption(args, 'run', 'base-epochs', { integer: true, min: 1 }),
          workers: prune.workers,
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
