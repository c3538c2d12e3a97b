import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { DEFAULT_BUDGET, parseBudget } from '../../prune/budget.js';
import { pruneAndSelect } from '../../prune/row.js';
import {
  partitionCounts,
  preparePruneData,
  type PartitionSpecs,
  type PruneData,
} from '../../prune/data.js';
import {
  describeTraining,
  resolveRecipe,
  sizeSchedule,
  noteBatchBeyondData,
  viewsForData,
  type Recipe,
} from '../../prune/recipe.js';
import { taskOfSpec, type Task } from '../../data/kinds.js';
import { parseHead } from '../../prune/heads.js';
import { saveTflite } from '../../prune/save.js';
import { writeFileAtomic } from '../../io/atomic.js';
import type { PruneOptions, PruneResult, SessionOptions } from '../../prune/train.js';
import { BACKEND_CHOICES, type BackendChoice } from '../../engine/trainable.js';
import { parsePrecision } from '../../prune/features/codec.js';
import { progress } from '../progress.js';
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
    description:
      'dataset spec (docs/datasets.md); its own partitions if it has them (Speech Commands lists, train/ val/ test/ folders), else split 60/20/20 train/val/test',
  },
  'val-data': {
    type: 'string',
    value: 'SPEC',
    description: "a separate validation set (default: the data's own, or carved from --data)",
  },
  'test-data': {
    type: 'string',
    value: 'SPEC',
    description:
      "a separate test set, e.g. an EEMBC evaluation set (default: the data's own, or carved from --data)",
  },
  recipe: {
    type: 'string',
    value: 'R',
    description:
      "best (default): distil from the unpruned model on augmented views, schedule sized in optimiser steps; paper: the paper's exact schedule",
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
    description:
      'distil from the unpruned model (soft targets) as well as labels (on in --recipe best)',
  },
  'no-distill': { type: 'boolean', description: 'labels only, also with --recipe best' },
  temperature: {
    type: 'string',
    value: 'T',
    description: 'distillation temperature (default 4)',
  },
  alpha: {
    type: 'string',
    value: 'A',
    description: 'weight of the label loss when distilling (default 0.5)',
  },
  epochs: {
    type: 'string',
    value: 'N',
    description:
      "epochs (default: --recipe paper: the paper's for the task; best: sized by --steps)",
  },
  steps: {
    type: 'string',
    value: 'N',
    description:
      'recipe best: optimiser steps to size the schedule to (default: KWS 17,100, images 12,100)',
  },
  'epoch-scale': {
    type: 'string',
    value: 'K',
    description: "stretch the recipe's schedule K times (epochs, or steps for best)",
  },
  'batch-size': {
    type: 'string',
    value: 'N',
    description:
      "batch size (default: the paper's); more than the training examples: one batch of them all per epoch",
  },
  lr: {
    type: 'string',
    value: 'LR',
    description: "initial learning rate; later phases keep the paper's ratios",
  },
  views: {
    type: 'string',
    value: 'N',
    description:
      'augmented views of the training set to cache (frozen tail; default: best KWS 4, images 8; paper 0)',
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
  workers: {
    type: 'string',
    value: 'N',
    description: 'wasm backend: data-parallel training worker threads (torch: --threads)',
    default: '1',
  },
  backend: {
    type: 'string',
    value: 'B',
    description:
      'training backend: torch (libtorch addon), wasm (tfjs), or auto (torch when built)',
    default: 'auto',
  },
  threads: {
    type: 'string',
    value: 'N',
    description:
      'torch backend: intra-op threads (default 1: the same numbers on every machine; more are faster on idle cores but change the last bits of the weights)',
  },
  'cache-dir': {
    type: 'string',
    value: 'DIR',
    description:
      'feature cache (content-addressed shards, reused by later runs; default OUT/feature-cache)',
  },
  'cache-precision': {
    type: 'string',
    value: 'P',
    description:
      'cached training features: int8 (per-channel scale), fp16, fp32, or auto (fp32 up to 1 GiB of training features, int8 beyond)',
    default: 'auto',
  },
  'extract-workers': {
    type: 'string',
    value: 'N',
    description:
      'feature extraction threads: each decodes, computes MFCC / image inputs and runs the frozen tail and teacher (default: one per core; 0: all in the main thread)',
  },
  seed: {
    type: 'string',
    value: 'N',
    description: 'seed for the split, initialisation, shuffles and augmentation',
    default: '1',
  },
  out: { type: 'string', value: 'DIR', description: 'output folder' },
  quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
};

/**
 * The training options of prune, sweep and run: `--recipe` (default best) for the data's task,
 * with every knob given by hand taking precedence (src/prune/recipe.ts resolves them).
 */
export function pruneOptionsFrom(
  args: ParsedArgs,
  cmd: string,
  task: Task,
  defaultRecipe: Recipe = 'best',
): PruneOptions & { recipe: Recipe } {
  if (args.values.distill === true && args.values['no-distill'] === true)
    throw new TinypruneError(`tinyprune ${cmd}: --distill and --no-distill contradict each other`);
  const recipe = (stringOption(args, cmd, 'recipe', true) ?? defaultRecipe) as Recipe;
  const r = resolveRecipe(recipe, task, {
    epochs: numberOption(args, cmd, 'epochs', { integer: true, min: 1 }),
    epochScale: numberOption(args, cmd, 'epoch-scale', { min: 0.01 }),
    steps: numberOption(args, cmd, 'steps', { integer: true, min: 1 }),
    batchSize: numberOption(args, cmd, 'batch-size', { integer: true, min: 1 }),
    lr: numberOption(args, cmd, 'lr', { min: 0 }),
    views: numberOption(args, cmd, 'views', { integer: true, min: 0 }),
    distill:
      args.values.distill === true ? true : args.values['no-distill'] === true ? false : undefined,
    temperature: numberOption(args, cmd, 'temperature', { min: 0.01 }),
    alpha: numberOption(args, cmd, 'alpha', { min: 0, max: 1 }),
  });
  return {
    recipe,
    seed: numberOption(args, cmd, 'seed', { integer: true, min: 0 })!,
    finetune: args.values.finetune === true,
    distill: r.distill,
    schedule: r.schedule,
    views: r.views,
    mixup: numberOption(args, cmd, 'mixup', { min: 0 })!,
    patience: numberOption(args, cmd, 'patience', { integer: true, min: 1 }),
    ema: numberOption(args, cmd, 'ema', { min: 0, max: 0.99999 }) || undefined, // 0: off
    workers: numberOption(args, cmd, 'workers', { integer: true, min: 1, max: 8 })!,
    backend: backendOption(args, cmd),
    threads: numberOption(args, cmd, 'threads', { integer: true, min: 1, max: 256 }),
    cachePrecision: parsePrecision(
      String(args.values['cache-precision']),
      `${cmd} --cache-precision`,
    ),
  };
}

function backendOption(args: ParsedArgs, cmd: string): BackendChoice {
  const b = String(args.values.backend ?? 'auto');
  if (!(BACKEND_CHOICES as readonly string[]).includes(b))
    throw new TinypruneError(
      `tinyprune ${cmd}: --backend expects ${BACKEND_CHOICES.join('|')}, found ${JSON.stringify(b)}`,
    );
  return b as BackendChoice;
}

/** Feature-cache settings of prune, sweep and run (progress and log lines on stderr). */
export function sessionOptionsFrom(
  args: ParsedArgs,
  cmd: string,
  out: string,
  quiet: boolean,
): SessionOptions {
  const cacheDir = args.values['cache-dir'];
  return {
    cacheDir: cacheDir !== undefined ? String(cacheDir) : join(out, 'feature-cache'),
    workers: numberOption(args, cmd, 'extract-workers', { integer: true, min: 0, max: 16 }),
    progress: (label, total) => progress(label, total, { quiet }),
    log: (line) => quiet || console.error(line),
  };
}

/** `--val-data` / `--test-data` of a command. */
export function partitionSpecsFrom(args: ParsedArgs, cmd: string): PartitionSpecs {
  return {
    val: stringOption(args, cmd, 'val-data', true),
    test: stringOption(args, cmd, 'test-data', true),
  };
}

/** `viewsForData` (prune/recipe.ts) for a command: views given with --views are kept. */
export function fitOptionsToData(
  opts: PruneOptions,
  data: PruneData,
  args: ParsedArgs,
  log: (line: string) => void,
): void {
  opts.views = viewsForData(opts.views, data, args.values.views !== undefined, log);
  noteBatchBeyondData(opts.schedule.batchSize, data.train.length * ((opts.views ?? 0) + 1), log);
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
    backend: r.backend,
    schedule: r.schedule,
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
      description: `with --cut auto: e.g. params=20k,macs=4M,drop=1% (default ${DEFAULT_BUDGET}; never more MACs than the unpruned model unless macs=any)`,
    },
  },
  async run(args) {
    const modelPath = stringOption(args, 'prune', 'model');
    const spec = stringOption(args, 'prune', 'data');
    const cutName = stringOption(args, 'prune', 'cut');
    const out = stringOption(args, 'prune', 'out');
    const head = String(args.values.head);
    parseHead(head);
    const budgetText =
      args.values.budget !== undefined
        ? String(args.values.budget)
        : cutName === 'auto'
          ? DEFAULT_BUDGET
          : undefined;
    const budget = budgetText !== undefined ? parseBudget(budgetText) : undefined;
    if (cutName !== 'auto' && args.values.budget !== undefined)
      throw new TinypruneError(
        `tinyprune prune: --budget picks among cuts with --cut auto; with --cut ${cutName} it would be ignored (drop --budget or use --cut auto)`,
      );
    const base = await loadModel(modelPath);
    const opts = pruneOptionsFrom(args, 'prune', taskOfSpec(spec));
    const quiet = args.values.quiet === true;
    const log = (s: string) => quiet || console.error(s);
    const partitions = partitionSpecsFrom(args, 'prune');
    const data = await preparePruneData(spec, opts.seed, undefined, partitions);
    log(`data: ${partitionCounts(data)} (${data.split})`);
    fitOptionsToData(opts, data, args, log);
    log(
      describeTraining(
        opts,
        sizeSchedule(opts.schedule, data.train.length * ((opts.views ?? 0) + 1)),
        data.train.length,
      ),
    );
    const logLines: string[] = [];
    let lastCut = '';
    const { chosen, unpruned, extraction } = await pruneAndSelect({
      base,
      modelKey: modelPath,
      data: spec,
      partitions,
      prepared: data,
      cut: cutName,
      head,
      settings: opts,
      budget: budget && { rule: budget, text: budgetText! },
      session: sessionOptionsFrom(args, 'prune', out, quiet),
      log: (line) => {
        if (lastCut && !quiet && process.stderr.isTTY) process.stderr.write('\n');
        lastCut = '';
        log(line);
      },
      onEpochEnd: (cut, e) => {
        const line = `${cut} epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)} acc ${(e.accuracy * 100).toFixed(1)}% val ${((e.valAccuracy ?? 0) * 100).toFixed(1)}% lr ${e.lr} (${e.seconds.toFixed(1)} s)`;
        logLines.push(line);
        lastCut = cut;
        if (!quiet && process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K`);
      },
    });
    mkdirSync(out, { recursive: true });
    const tflite = saveTflite(out, 'pruned.tflite', chosen.graph);
    writeFileAtomic(join(out, 'train.log'), logLines.join('\n') + '\n');
    const record = resultRecord(chosen, {
      model: modelPath,
      data: spec,
      split: data.split,
      partitions: data.partitions,
      recipe: opts.recipe,
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
      featureCache: {
        precision: chosen.cachePrecision,
        extraction,
      },
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
