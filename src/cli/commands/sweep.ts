import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCutPoints } from '../../graph/cutpoints.js';
import { modelTotals } from '../../graph/accounting.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { budgetViolations, parseBudget, selectCandidate } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { preparePruneData } from '../../prune/data.js';
import { parseHead } from '../../prune/heads.js';
import { saveTflite, writeAtomic } from '../../prune/save.js';
import { PruneSession, taskOf } from '../../prune/train.js';
import { paretoSvg } from '../../report/charts.js';
import { renderSweepMarkdown } from '../../report/markdown.js';
import type { SweepRow } from '../../report/types.js';
import type { Command } from '../command.js';
import { stringOption } from '../command.js';
import { pruneOptionsFrom, resultRecord, TRAINING_OPTIONS } from './prune.js';

type RowRecord = SweepRow & { file?: string };

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
    const variant = opts.finetune ? 'finetune' : opts.distill ? 'distill' : 'frozen';
    const rowsDir = join(out, 'rows');
    mkdirSync(rowsDir, { recursive: true });

    const data = await preparePruneData(spec, opts.seed);
    const session = await PruneSession.open(base, data);
    const unpruned = await session.unprunedAccuracy();
    const baseTotals = modelTotals(base);
    const rows: RowRecord[] = [
      {
        cut: 'full',
        head: 'original',
        variant: 'unpruned',
        ...baseTotals,
        test: unpruned.test,
        val: unpruned.val,
        dropVsUnpruned: 0,
      },
    ];
    const total = cuts.length * heads.length;
    let k = 0;
    for (const cut of cuts)
      for (const head of heads) {
        k++;
        const file = join(
          rowsDir,
          `${cut.name}-${head.replace(/[^a-z0-9]+/gi, '_')}-${variant}.json`,
        );
        // Resume: a finished row is written atomically, so its presence means it is complete.
        if (existsSync(file)) {
          rows.push(JSON.parse(readFileSync(file, 'utf8')) as RowRecord);
          log(`[${k}/${total}] ${cut.name} + ${head}: done earlier`);
          continue;
        }
        const t0 = Date.now();
        const r = await session.prune(cut, head, opts);
        const row: RowRecord = {
          cut: cut.name,
          head,
          variant,
          params: r.params,
          macs: r.macs,
          peakActivationBytes: r.peakActivationBytes,
          test: r.test,
          val: r.val,
          dropVsUnpruned: unpruned.test.accuracy - r.test.accuracy,
        };
        if (args.values['save-models'] === true)
          row.file = saveTflite(
            join(out, 'models'),
            `${cut.name}-${head}-${variant}.tflite`,
            r.graph,
          );
        writeAtomic(
          file,
          JSON.stringify(
            { ...row, detail: resultRecord(r, { seconds: (Date.now() - t0) / 1000 }) },
            null,
            2,
          ),
        );
        rows.push(row);
        log(
          `[${k}/${total}] ${cut.name} + ${head}: ${r.params} params, val ${(r.val.accuracy * 100).toFixed(1)}%, test ${(r.test.accuracy * 100).toFixed(1)}% (n=${r.test.n}, ${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        );
      }

    const clean = rows.map(({ ...r }) => {
      delete (r as { detail?: unknown }).detail;
      return r;
    });
    let selection: Record<string, unknown> | undefined;
    if (budget) {
      const candidates = clean
        .filter((r) => r.variant !== 'unpruned')
        .map((r) => ({ ...r, valAccuracy: r.val!.accuracy }));
      const pick = selectCandidate(candidates, budget, unpruned.val.accuracy);
      selection = pick
        ? {
            budget: args.values.budget,
            cut: pick.cut,
            head: pick.head,
            test: pick.test,
            params: pick.params,
          }
        : {
            budget: args.values.budget,
            none: true,
            reasons: candidates.map(
              (c) =>
                `${c.cut}+${c.head}: ${budgetViolations(c, budget, unpruned.val.accuracy).join('; ')}`,
            ),
          };
    }
    const summary = {
      model: modelPath,
      data: spec,
      split: data.split,
      seed: opts.seed,
      settings: { ...opts },
      rows: clean,
      selection,
    };
    writeAtomic(join(out, 'sweep.json'), JSON.stringify(summary, null, 2) + '\n');
    const md = [
      `# Sweep: ${modelPath}`,
      '',
      `Data: \`${spec}\` (${data.split}); test accuracy with its sample count and 95% Wilson interval.`,
      '',
      renderSweepMarkdown(clean),
      '![accuracy vs parameters](pareto-params.svg) ![accuracy vs MACs](pareto-macs.svg)',
      '',
    ];
    if (selection)
      md.push(
        selection.none
          ? `No cut meets the budget ${String(args.values.budget)}.`
          : `Budget ${String(args.values.budget)}: **${String(selection.cut)} + ${String(selection.head)}**.`,
      );
    writeAtomic(join(out, 'sweep.md'), md.join('\n') + '\n');
    writeAtomic(
      join(out, 'pareto-params.svg'),
      paretoSvg(clean, 'params', { title: 'Test accuracy vs parameters' }),
    );
    writeAtomic(
      join(out, 'pareto-macs.svg'),
      paretoSvg(clean, 'macs', { title: 'Test accuracy vs MACs' }),
    );
    console.log(renderSweepMarkdown(clean));
    if (selection?.none) {
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
