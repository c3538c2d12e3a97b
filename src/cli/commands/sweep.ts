import { findCutPoints } from '../../graph/cutpoints.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { parseBudget } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { parseHeadList } from '../../prune/heads.js';
import { localExecutor, runSweep, writeSweepOutputs, type SweepPlan } from '../../prune/sweep.js';
import { SessionPool } from '../../prune/row.js';
import { partitionCounts, preparePruneData } from '../../prune/data.js';
import { taskOfSpec } from '../../data/kinds.js';
import { describeTraining, sizeSchedule } from '../../prune/recipe.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import {
  fitOptionsToData,
  partitionSpecsFrom,
  pruneOptionsFrom,
  sessionOptionsFrom,
  TRAINING_OPTIONS,
} from './prune.js';
import { progress } from '../progress.js';
import { join } from 'node:path';

/** `--queue URL`, shared by sweep and run: rows go to `tinyprune worker`s instead of here. */
export const QUEUE_OPTIONS: Command['options'] = {
  queue: {
    type: 'string',
    value: 'URL',
    description:
      'train the rows on tinyprune workers through Redis: redis://[:password@]HOST:PORT[/DB] or rediss:// (docs/distributed.md)',
  },
  'queue-name': {
    type: 'string',
    value: 'NAME',
    description: 'with --queue: the queue (workers must use the same name)',
    default: 'tinyprune',
  },
};
import { claimRunDir, runSettings } from '../../pipeline/stages.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'Train heads at every cut point and tabulate accuracy against parameters and MACs',
  usage:
    'tinyprune sweep --model M --data SPEC [--heads aux,dense] [--cuts a,b] [--budget B] [--queue URL] --out DIR',
  options: {
    ...TRAINING_OPTIONS,
    heads: {
      type: 'string',
      value: 'LIST',
      description: 'heads to train at each cut: presets and specs, e.g. aux,dense,dw3,pw44,gap,fc',
      default: 'aux,dense',
    },
    cuts: { type: 'string', value: 'LIST', description: 'only these cut points (default: all)' },
    budget: {
      type: 'string',
      value: 'B',
      description: 'select the best cut meeting e.g. params=20k,macs=4M,drop=1%',
    },
    'save-models': { type: 'boolean', description: 'also write each pruned model as .tflite' },
    folds: {
      type: 'string',
      value: 'K',
      description:
        'K-fold cross-validation: train every row K times (each fold tests one part, validates on the next) and pool the test predictions, so every example is tested once',
    },
    ...QUEUE_OPTIONS,
  },
  async run(args) {
    const modelPath = stringOption(args, 'sweep', 'model');
    const spec = stringOption(args, 'sweep', 'data');
    const out = stringOption(args, 'sweep', 'out');
    const heads = parseHeadList(String(args.values.heads));
    const budgetText = args.values.budget !== undefined ? String(args.values.budget) : undefined;
    const budget =
      budgetText !== undefined ? { rule: parseBudget(budgetText), text: budgetText } : undefined;
    const base = await loadModel(modelPath);
    const opts = pruneOptionsFrom(args, 'sweep', taskOfSpec(spec));
    const cuts = args.values.cuts
      ? String(args.values.cuts)
          .split(',')
          .map((c) => resolveCutPoint(base, c.trim()).name)
      : findCutPoints(base).map((c) => c.name);
    if (cuts.length === 0) throw new TinypruneError(`${modelPath}: no cut points found`);
    const quiet = args.values.quiet === true;
    const log = (s: string) => quiet || console.error(s);
    // Lock --out; stop if its rows were made with other settings (pipeline/stages.ts).
    const release = claimRunDir(
      out,
      await runSettings({
        model: modelPath,
        data: spec,
        heads,
        cuts,
        prune: opts,
        folds: args.values.folds ?? null,
      }),
    );
    const folds = args.values.folds !== undefined ? Number(args.values.folds) : undefined;
    if (folds !== undefined && !(Number.isInteger(folds) && folds >= 3))
      throw new TinypruneError(
        `tinyprune sweep: --folds: expected an integer of at least 3, found "${String(args.values.folds)}"`,
      );
    // The data as the first row will see it: partition counts, and settings that depend on it.
    const partitions = partitionSpecsFrom(args, 'sweep');
    const first = await preparePruneData(
      spec,
      opts.seed,
      folds ? { index: 0, count: folds } : undefined,
      partitions,
    );
    log(`data: ${partitionCounts(first)} (${first.split})`);
    fitOptionsToData(opts, first, args, log);
    const examples = first.train.length * ((opts.views ?? 0) + 1);
    log(describeTraining(opts, sizeSchedule(opts.schedule, examples), first.train.length));
    const plan: SweepPlan = {
      base,
      modelKey: modelPath,
      modelFile: modelPath,
      data: spec,
      partitions,
      cuts,
      heads,
      settings: opts,
      folds,
      saveModels: args.values['save-models'] === true,
    };
    const queue = stringOption(args, 'sweep', 'queue', true);
    const exec = queue
      ? await (
          await import('../../distributed/submit.js')
        ).queueExecutor({
          url: queue,
          queueName: String(args.values['queue-name']),
          log,
          quiet,
        })
      : localExecutor({
          log,
          progress: (label, total) => progress(label, total, { quiet }),
          // One feature cache for every fold and row: rows that need the same features share it.
          sessions: new SessionPool(1, sessionOptionsFrom(args, 'sweep', out, quiet)),
        });
    const result = await runSweep(plan, out, exec);
    const { selection, table } = writeSweepOutputs(out, {
      model: modelPath,
      data: spec,
      settings: opts,
      result,
      budget,
    });
    console.log(table);
    if (result.failed.length > 0)
      console.error(
        `tinyprune sweep: ${result.failed.length} row(s) failed (see the table); rerun to retry them`,
      );
    if (selection && !selection.cut) {
      console.error(`tinyprune sweep: no cut point meets the budget ${budgetText}`);
      return 1;
    }
    if (selection)
      console.log(
        `selected under budget ${budgetText}: ${String(selection.cut)} + ${String(selection.head)}`,
      );
    console.log(`wrote ${join(out, 'sweep.md')}, sweep.json and Pareto plots`);
    release();
    return result.failed.length > 0 ? 1 : 0;
  },
};
