import { join } from 'node:path';
import { findCutPoints } from '../../graph/cutpoints.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { parseBudget } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { preparePruneData } from '../../prune/data.js';
import { parseHeadList } from '../../prune/heads.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { poolFolds, runSweep, selectFromSweep, type SweepRecord } from '../../prune/sweep.js';
import { PruneSession, taskOf } from '../../prune/train.js';
import { paretoSvg } from '../../report/charts.js';
import { renderSweepMarkdown } from '../../report/markdown.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { pruneOptionsFrom, TRAINING_OPTIONS } from './prune.js';
import { progress } from '../progress.js';
import { claimRunDir, runSettings } from '../../pipeline/stages.js';

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
    const opts = pruneOptionsFrom(args, 'sweep', taskOf(base));
    const cuts = args.values.cuts
      ? String(args.values.cuts)
          .split(',')
          .map((c) => resolveCutPoint(base, c.trim()))
      : findCutPoints(base);
    if (cuts.length === 0) throw new TinypruneError(`${modelPath}: no cut points found`);
    const quiet = args.values.quiet === true;
    const log = (s: string) => quiet || console.error(s);
    // Lock --out; stop if its rows were made with other settings (pipeline/stages.ts).
    const release = claimRunDir(
      out,
      runSettings({
        model: modelPath,
        data: spec,
        heads,
        cuts: cuts.map((c) => c.name),
        prune: opts,
        folds: args.values.folds ?? null,
      }),
    );
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
    if (folds) {
      const perFold: SweepRecord[][] = [];
      let grouping = '';
      for (let f = 0; f < folds; f++) {
        log(`fold ${f + 1}/${folds}`);
        const data = await preparePruneData(spec, opts.seed, { index: f, count: folds });
        const session = await PruneSession.open(base, data);
        perFold.push(
          await runSweep(session, cuts, heads, opts, join(out, `fold-${f + 1}`), sweepOptions),
        );
        grouping = data.grouping;
      }
      rows = poolFolds(perFold);
      split = `${folds}-fold cross-validation (${grouping}): test predictions of the ${folds} folds pooled, every example tested once`;
    } else {
      const data = await preparePruneData(spec, opts.seed);
      const session = await PruneSession.open(base, data);
      rows = await runSweep(session, cuts, heads, opts, out, sweepOptions);
      split = data.split;
    }
    const budgetText = String(args.values.budget);
    const selection = budget ? selectFromSweep(rows, budget, budgetText) : undefined;
    const summary = {
      model: modelPath,
      data: spec,
      split,
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
    release();
    return 0;
  },
};
