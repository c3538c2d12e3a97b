import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { findCutPoints } from '../../graph/cutpoints.js';
import { modelTotals } from '../../graph/accounting.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { parseBudget, selectCandidate } from '../../prune/budget.js';
import { resolveCutPoint } from '../../prune/cut.js';
import { preparePruneData } from '../../prune/data.js';
import { parseHead } from '../../prune/heads.js';
import { saveTflite } from '../../prune/save.js';
import { writeFileAtomic } from '../../io/atomic.js';
import {
  PAPER_SCHEDULES,
  PruneSession,
  taskOf,
  type PruneOptions,
  type PruneResult,
} from '../../prune/train.js';
import type { Command, ParsedArgs } from '../command.js';
import { numberOption, stringOption } from '../command.js';

/** Options shared by prune, sweep and run. */
export const TRAINING_OPTIONS: Command['options'] = {
  model: {
    type: 'string',
    value: 'FILE',
    description: 'trained model: .tflite (float or hybrid), Keras .h5 or .onnx',
  },
  data: {
    type: 'string',
    value: 'SPEC',
    description: 'dataset spec (docs/datasets.md); split 60/20/20 train/val/test',
  },
  head: {
    type: 'string',
    value: 'HEAD',
    description: 'aux, dense, or a head spec such as dw3,pw32,gap,fc',
    default: 'aux',
  },
  finetune: { type: 'boolean', description: 'train tail and head together (default: tail frozen)' },
  distill: {
    type: 'boolean',
    description: 'distil from the unpruned model (soft targets) as well as labels',
  },
  temperature: {
    type: 'string',
    value: 'T',
    description: 'distillation temperature',
    default: '4',
  },
  alpha: {
    type: 'string',
    value: 'A',
    description: 'weight of the label loss when distilling',
    default: '0.5',
  },
  epochs: {
    type: 'string',
    value: 'N',
    description: "epochs (default: the paper's schedule for the task)",
  },
  'epoch-scale': {
    type: 'string',
    value: 'K',
    description: 'stretch the schedule K times (small datasets need more steps)',
    default: '1',
  },
  'batch-size': { type: 'string', value: 'N', description: "batch size (default: the paper's)" },
  lr: {
    type: 'string',
    value: 'LR',
    description: "initial learning rate; later phases keep the paper's ratios",
  },
  views: {
    type: 'string',
    value: 'N',
    description: 'augmented views of the training set to cache (frozen tail)',
    default: '0',
  },
  mixup: {
    type: 'string',
    value: 'A',
    description: 'with --distill: mix each augmented view with a shuffled copy, λ ~ Beta(A, A)',
    default: '0',
  },
  ema: {
    type: 'string',
    value: 'D',
    description:
      'validate and keep a moving average of the weights, decay D per step (e.g. 0.999; 0: off)',
  },
  patience: {
    type: 'string',
    value: 'N',
    description: 'early stopping: epochs without a better validation accuracy',
  },
  workers: { type: 'string', value: 'N', description: 'training worker threads', default: '1' },
  seed: {
    type: 'string',
    value: 'N',
    description: 'seed for the split, initialisation, shuffles and augmentation',
    default: '1',
  },
  out: { type: 'string', value: 'DIR', description: 'output folder' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
};

export function pruneOptionsFrom(args: ParsedArgs, cmd: string, task: 'kws' | 'vww'): PruneOptions {
  const paper = PAPER_SCHEDULES[task];
  const scale = numberOption(args, cmd, 'epoch-scale', { min: 0.01 })!;
  const epochs =
    numberOption(args, cmd, 'epochs', { integer: true, min: 1 }) ??
    Math.round(paper.epochs * scale);
  const lr0 = numberOption(args, cmd, 'lr', { min: 0 });
  const ratio = lr0 === undefined ? 1 : lr0 / paper.lr.values[0]!;
  const stretch = epochs / paper.epochs;
  const distill = args.values.distill === true;
  return {
    seed: numberOption(args, cmd, 'seed', { integer: true, min: 0 })!,
    finetune: args.values.finetune === true,
    distill: distill
      ? {
          temperature: numberOption(args, cmd, 'temperature', { min: 0.01 })!,
          alpha: numberOption(args, cmd, 'alpha', { min: 0, max: 1 })!,
        }
      : undefined,
    schedule: {
      ...paper,
      epochs,
      batchSize:
        numberOption(args, cmd, 'batch-size', { integer: true, min: 1 }) ?? paper.batchSize,
      lr: {
        unit: 'epoch',
        boundaries: paper.lr.boundaries.map((b) => Math.round(b * stretch)),
        values: paper.lr.values.map((v) => v * ratio),
      },
    },
    views: numberOption(args, cmd, 'views', { integer: true, min: 0 })!,
    mixup: numberOption(args, cmd, 'mixup', { min: 0 })!,
    patience: numberOption(args, cmd, 'patience', { integer: true, min: 1 }),
    ema: numberOption(args, cmd, 'ema', { min: 0, max: 0.99999 }) || undefined, // 0: off
    workers: numberOption(args, cmd, 'workers', { integer: true, min: 1, max: 8 })!,
  };
}

/** The JSON record of one trained cut (no weights). */
export function resultRecord(r: PruneResult, extra: Record<string, unknown>) {
  const acc = (e: PruneResult['test']) => ({
    accuracy: e.accuracy,
    correct: e.correct,
    n: e.n,
    ci95: e.ci95,
  });
  return {
    cut: r.cut,
    head: r.head,
    variant: r.variant,
    params: r.params,
    macs: r.macs,
    peakActivationBytes: r.peakActivationBytes,
    train: acc(r.train),
    val: acc(r.val),
    test: { ...acc(r.test), perClass: r.test.perClass, confusion: r.test.confusion },
    bestEpoch: r.bestEpoch,
    ...extra,
  };
}

export const pruneCommand: Command = {
  name: 'prune',
  summary: 'Cut a model at a block, attach a head, train it, and save the pruned model',
  usage:
    'tinyprune prune --model M --data SPEC --cut NAME|auto [--budget B] [--head aux|dense|SPEC] [--finetune] [--distill] --out DIR',
  options: {
    ...TRAINING_OPTIONS,
    cut: {
      type: 'string',
      value: 'NAME',
      description:
        'cut point (see tinyprune inspect), or auto: train every cut and pick by --budget',
    },
    budget: {
      type: 'string',
      value: 'B',
      description: 'with --cut auto: e.g. params=20k,macs=4M,drop=1%',
    },
  },
  async run(args) {
    const modelPath = stringOption(args, 'prune', 'model');
    const spec = stringOption(args, 'prune', 'data');
    const cutName = stringOption(args, 'prune', 'cut');
    const out = stringOption(args, 'prune', 'out');
    const head = String(args.values.head);
    parseHead(head);
    const budget =
      args.values.budget !== undefined ? parseBudget(String(args.values.budget)) : undefined;
    if (cutName === 'auto' && !budget)
      throw new TinypruneError('tinyprune prune: --cut auto needs --budget');
    const base = await loadModel(modelPath);
    const opts = pruneOptionsFrom(args, 'prune', taskOf(base));
    const cuts = cutName === 'auto' ? findCutPoints(base) : [resolveCutPoint(base, cutName)];
    const quiet = args.values.quiet === true;
    const log = (s: string) => quiet || console.error(s);
    const data = await preparePruneData(spec, opts.seed);
    const session = await PruneSession.open(base, data);
    const unpruned = await session.unprunedAccuracy();
    const logLines: string[] = [];
    const results: PruneResult[] = [];
    for (const cut of cuts) {
      log(
        `${cut.name} + ${head}: training (${opts.finetune ? 'fine-tune' : 'frozen tail'}${opts.distill ? ', distilled' : ''})…`,
      );
      const r = await session.prune(cut, head, {
        ...opts,
        onEpochEnd: (e) => {
          const line = `${cut.name} epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)} acc ${(e.accuracy * 100).toFixed(1)}% val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}% lr ${e.lr} (${e.seconds.toFixed(1)} s)`;
          logLines.push(line);
          if (!quiet && process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
        },
      });
      if (!quiet && process.stderr.isTTY) process.stderr.write('\n');
      log(
        `${cut.name} + ${head}: val ${(r.val.accuracy * 100).toFixed(1)}%, test ${(r.test.accuracy * 100).toFixed(1)}% (n=${r.test.n})`,
      );
      results.push(r);
    }
    let chosen = results[0]!;
    if (cutName === 'auto') {
      const pick = selectCandidate(
        results.map((r) => ({ ...r, valAccuracy: r.val.accuracy })),
        budget!,
        { valAccuracy: unpruned.val.accuracy, ...modelTotals(base) },
      );
      if (!pick)
        throw new TinypruneError(
          `tinyprune prune: no cut point meets the budget ${String(args.values.budget)}`,
        );
      chosen = results.find((r) => r.cut === pick.cut)!;
    }
    mkdirSync(out, { recursive: true });
    const tflite = saveTflite(out, 'pruned.tflite', chosen.graph);
    writeFileAtomic(join(out, 'train.log'), logLines.join('\n') + '\n');
    const record = resultRecord(chosen, {
      model: modelPath,
      data: spec,
      split: data.split,
      unpruned: {
        val: unpruned.val,
        test: {
          accuracy: unpruned.test.accuracy,
          correct: unpruned.test.correct,
          n: unpruned.test.n,
          ci95: unpruned.test.ci95,
        },
      },
      settings: { ...opts, onEpochEnd: undefined },
      seed: opts.seed,
      output: tflite,
    });
    writeFileAtomic(join(out, 'result.json'), JSON.stringify(record, null, 2) + '\n');
    console.log(
      `pruned ${chosen.cut} + ${head}: ${chosen.params.toLocaleString('en-US')} params, test accuracy ${(chosen.test.accuracy * 100).toFixed(2)}% ` +
        `(${chosen.test.correct}/${chosen.test.n}; unpruned ${(unpruned.test.accuracy * 100).toFixed(2)}%) → ${tflite}`,
    );
    return 0;
  },
};
