import { join } from 'node:path';
import { findCutPoints } from '../../graph/cutpoints.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { parseBudget } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { partitionCounts, preparePruneData, type PartitionRecord } from '../../prune/data.js';
import { taskOfSpec, type Partition } from '../../data/kinds.js';
import { describeTraining } from '../../prune/recipe.js';
import { parseHeadList } from '../../prune/heads.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { poolFolds, runSweep, selectFromSweep, type SweepRecord } from '../../prune/sweep.js';
import { PruneSession } from '../../prune/train.js';
import { paretoSvg } from '../../report/charts.js';
import { renderSweepMarkdown } from '../../report/markdown.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import {
  fitOptionsToData,
  partitionSpecsFrom,
  pruneOptionsFrom,
  TRAINING_OPTIONS,
} from './prune.js';
import { progress } from '../progress.js';

export const sweepCommand: Command = {
  name: 'sweep',
  summary: 'Train heads at every cut point and tabulate accuracy against parameters and MACs',
  usage:
    'tinyprune sweep --model M --data SPEC [--heads aux,dense] [--cuts a,b] [--budget B] --out DIR',
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
  },
  async run(args) {
    const modelPath = stringOption(args, 'sweep', 'model');
    const spec = stringOption(args, 'sweep', 'data');
    const out = stringOption(args, 'sweep', 'out');
    const heads = parseHeadList(String(args.values.heads));
    const budget =
      args.values.budget !== undefined ? parseBudget(String(args.values.budget)) : undefined;
    const base = await loadModel(modelPath);
    const opts = pruneOptionsFrom(args, 'sweep', taskOfSpec(spec));
    const cuts = args.values.cuts
      ? String(args.values.cuts)
          .split(',')
          .map((c) => resolveCutPoint(base, c.trim()))
      : findCutPoints(base);
    if (cuts.length === 0) throw new TinypruneError(`${modelPath}: no cut points found`);
    const quiet = args.values.quiet === true;
    const log = (s: string) => quiet || console.error(s);
    const folds = args.values.folds !== undefined ? Number(args.values.folds) : undefined;
    if (folds !== undefined && !(Number.isInteger(folds) && folds >= 3))
      throw new TinypruneError(
        `tinyprune sweep: --folds: expected an integer of at least 3, found "${String(args.values.folds)}"`,
      );
    const sweepOptions = {
      saveModels: args.values['save-models'] === true,
      log,
      progress: (label: string, total: number) => progress(label, total, { quiet }),
    };
    let rows: SweepRecord[];
    let split: string;
    let partitions: Record<Partition, PartitionRecord> | Record<Partition, PartitionRecord>[];
    if (folds) {
      const perFold: SweepRecord[][] = [];
      const foldPartitions: Record<Partition, PartitionRecord>[] = [];
      let grouping = '';
      for (let f = 0; f < folds; f++) {
        log(`fold ${f + 1}/${folds}`);
        const data = await preparePruneData(
          spec,
          opts.seed,
          { index: f, count: folds },
          partitionSpecsFrom(args, 'sweep'),
        );
        log(`data: ${partitionCounts(data)} (${data.split})`);
        fitOptionsToData(opts, data, args, log);
        foldPartitions.push(data.partitions);
        const session = await PruneSession.open(base, data);
        if (f === 0) log(describeTraining(opts, session.schedule(opts), data.train.length));
        perFold.push(
          await runSweep(session, cuts, heads, opts, join(out, `fold-${f + 1}`), sweepOptions),
        );
        grouping = data.grouping;
      }
      rows = poolFolds(perFold);
      partitions = foldPartitions;
      split = `${folds}-fold cross-validation (${grouping}): test predictions of the ${folds} folds pooled, every example tested once`;
    } else {
      const data = await preparePruneData(
        spec,
        opts.seed,
        undefined,
        partitionSpecsFrom(args, 'sweep'),
      );
      log(`data: ${partitionCounts(data)} (${data.split})`);
      fitOptionsToData(opts, data, args, log);
      const session = await PruneSession.open(base, data);
      log(describeTraining(opts, session.schedule(opts), data.train.length));
      rows = await runSweep(session, cuts, heads, opts, out, sweepOptions);
      split = `${data.split}; ${partitionCounts(data)}`;
      partitions = data.partitions;
    }
    const budgetText = String(args.values.budget);
    const selection = budget ? selectFromSweep(rows, budget, budgetText) : undefined;
    const summary = {
      model: modelPath,
      data: spec,
      split,
      partitions,
      seed: opts.seed,
      settings: { ...opts },
      rows,
      selection,
    };
    writeFileAtomic(join(out, 'sweep.json'), JSON.stringify(summary, null, 2) + '\n');
    const md = [
      `# Sweep: ${modelPath}`,
      '',
      `Data: \`${spec}\` (${split}); test accuracy with its sample count and 95% Wilson interval.`,
      '',
      renderSweepMarkdown(rows),
      '![accuracy vs parameters](pareto-params.svg) ![accuracy vs MACs](pareto-macs.svg)',
      '',
    ];
    if (selection)
      md.push(
        !selection.cut
          ? `No cut meets the budget ${String(args.values.budget)}.`
          : `Budget ${String(args.values.budget)}: **${String(selection.cut)} + ${String(selection.head)}**.`,
      );
    writeFileAtomic(join(out, 'sweep.md'), md.join('\n') + '\n');
    writeFileAtomic(
      join(out, 'pareto-params.svg'),
      paretoSvg(rows, 'params', { title: 'Test accuracy vs parameters' }),
    );
    writeFileAtomic(
      join(out, 'pareto-macs.svg'),
      paretoSvg(rows, 'macs', { title: 'Test accuracy vs MACs' }),
    );
    console.log(renderSweepMarkdown(rows));
    if (selection && !selection.cut) {
      console.error(`tinyprune sweep: no cut point meets the budget ${String(args.values.budget)}`);
      return 1;
    }
    if (selection)
      console.log(
        `selected under budget ${String(args.values.budget)}: ${String(selection.cut)} + ${String(selection.head)}`,
      );
    console.log(`wrote ${join(out, 'sweep.md')}, sweep.json and Pareto plots`);
    return 0;
  },
};
