import { join } from 'node:path';
import { findCutPoints } from '../../graph/cutpoints.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { parseBudget } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { preparePruneData } from '../../prune/data.js';
import { parseHead } from '../../prune/heads.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { runSweep, selectFromSweep } from '../../prune/sweep.js';
import { PruneSession, taskOf } from '../../prune/train.js';
import { paretoSvg } from '../../report/charts.js';
import { renderSweepMarkdown } from '../../report/markdown.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { pruneOptionsFrom, TRAINING_OPTIONS } from './prune.js';
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
      description: 'comma-separated head kinds to train at each cut',
      default: 'aux,dense',
    },
    cuts: { type: 'string', value: 'LIST', description: 'only these cut points (default: all)' },
    budget: {
      type: 'string',
      value: 'B',
      description: 'select the best cut meeting e.g. params=20k,macs=4M,drop=1%',
    },
    'save-models': { type: 'boolean', description: 'also write each pruned model as .tflite' },
  },
  async run(args) {
    const modelPath = stringOption(args, 'sweep', 'model');
    const spec = stringOption(args, 'sweep', 'data');
    const out = stringOption(args, 'sweep', 'out');
    const heads = String(args.values.heads)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    heads.forEach((h) => parseHead(h));
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
    const data = await preparePruneData(spec, opts.seed);
    const session = await PruneSession.open(base, data);
    const rows = await runSweep(session, cuts, heads, opts, out, {
      saveModels: args.values['save-models'] === true,
      log,
      progress: (label, total) => progress(label, total, { quiet }),
    });
    const budgetText = String(args.values.budget);
    const selection = budget ? selectFromSweep(rows, budget, budgetText) : undefined;
    const summary = {
      model: modelPath,
      data: spec,
      split: data.split,
      seed: opts.seed,
      settings: { ...opts },
      rows,
      selection,
    };
    writeFileAtomic(join(out, 'sweep.json'), JSON.stringify(summary, null, 2) + '\n');
    const md = [
      `# Sweep: ${modelPath}`,
      '',
      `Data: \`${spec}\` (${data.split}); test accuracy with its sample count and 95% Wilson interval.`,
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
