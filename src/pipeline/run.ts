// `tinyprune run`: inspect → sweep (or the given cut) → quantise → deploy → report, for the
// unpruned and the pruned model. Every stage writes its artefacts, then a stage record under
// DIR/stages; a rerun skips finished stages (and finished sweep rows), so a run killed at any
// point continues where it stopped and never reads a half-written file.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCutPoints } from '../graph/cutpoints.js';
import { modelTotals } from '../graph/accounting.js';
import { getTensor } from '../graph/graph.js';
import { TinypruneError, type Graph } from '../graph/types.js';
import { loadModel } from '../io/load.js';
import { writeTflite } from '../io/tflite/writer.js';
import { quantizeInt8 } from '../data/quantize.js';
import { argmaxRows, predictScores } from '../eval/predict.js';
import { evaluatePredictions } from '../eval/metrics.js';
import { quantizeGraph } from '../quant/quantize.js';
import { deploy, type DeployReport, type KernelChoice } from '../mcu/deploy.js';
import { cycleNote, TARGETS, type TargetName } from '../mcu/targets.js';
import { parseBudget } from '../prune/budget.js';
import { resolveCutPoint } from '../prune/cut.js';
import {
  partitionCounts,
  preparePruneData,
  type PartitionSpecs,
  type PruneData,
} from '../prune/data.js';
import type { Task } from '../data/kinds.js';
import { noteBatchBeyondData, viewsForData } from '../prune/recipe.js';
import { deployableGraph } from '../prune/save.js';
import { writeFileAtomic } from '../io/atomic.js';
import {
  localExecutor,
  runSweep,
  selectFromSweep,
  type RowExecutor,
  type SweepRecord,
  type SweepSelection,
} from '../prune/sweep.js';
import { SessionPool } from '../prune/row.js';
import type { PruneOptions, SessionOptions } from '../prune/train.js';
import { layerCosts, withDeployedLayers } from '../report/layers.js';
import type { AccuracyStat, ModelSummary, PaperFigures, ReportData } from '../report/types.js';
import { writeReport, type WrittenReport } from '../report/write.js';
import type { Progress } from '../cli/progress.js';
import { claimRunDir, runSettings, runStage } from './stages.js';

export interface RunOptions {
  /** The trained model; absent for the built-in demo (a model trained here from scratch). */
  model?: string;
  /** Dataset spec; absent for the built-in synthetic demo data. */
  data?: string;
  out: string;
  /** A cut point name, several separated by commas, or 'auto' (sweep every cut and select by the budget). */
  cut: string;
  heads: string[];
  budget: string;
  target: TargetName;
  prune: PruneOptions;
  /** Separate validation / test sets (`--val-data`, `--test-data`). */
  partitionSpecs?: PartitionSpecs;
  /** The number of views was set by hand: keep it even when the data has no augmentation. */
  viewsByHand?: boolean;
  /** int8 inputs run on the emulated MCU for the bit-exactness check. */
  deployInputs: number;
  /** Kernel mode of the deployed models (default auto). */
  kernels?: KernelChoice;
  command: string;
  log: (line: string) => void;
  /** Progress display for long steps (training epochs). */
  progress?: (label: string, total: number) => Progress;
  /** Where the sweep's rows train (default: here, one after another). */
  executor?: RowExecutor;
  /** Feature-cache settings (default: cache under OUT/feature-cache). */
  session?: SessionOptions;
  /** Builds and trains the demo model when `model` is absent; returns its float graph. */
  demo?: (data: PruneData, log: (line: string) => void) => Promise<Graph>;
  /** What the demo model was trained on, for the report's title (e.g. 'Fashion-MNIST'). */
  demoDescription?: string;
}

export interface RunResult {
  report: WrittenReport;
  data: ReportData;
}

/** Runs `fn` once per output folder: its JSON result is recorded and replayed on reruns. */
async function stage<T>(
  dir: string,
  name: string,
  log: (l: string) => void,
  fn: () => Promise<T>,
): Promise<T> {
  // Replayed only when intact and made from the same inputs (pipeline/stages.ts).
  return runStage(dir, name, log, fn);
}

interface ModelStageResult {
  file: string;
  int8File: string;
  floatTest: AccuracyStat;
  int8Test: AccuracyStat;
  confusion: { classes: string[]; matrix: number[][] };
  deploy: Pick<
    DeployReport,
    | 'flashBytes'
    | 'codeBytes'
    | 'ramBytes'
    | 'arenaBytes'
    | 'peakStackBytes'
    | 'cycles'
    | 'cortexM0Cycles'
    | 'latencyMs'
    | 'layers'
    | 'bitExact'
  > &
    Partial<Pick<DeployReport, 'weights' | 'kernels'>>;
}

const PAPER: Partial<Record<Task, PaperFigures>> = {
  vww: {
    source:
      'De Leon & Atienza, ICASSP 2022 (arXiv 2204.10546): VWW, cut at block 5 (params/accuracy) and the 96x96 grayscale variant on a Pico4ML (flash/latency)',
    unpruned: { params: 221_800, floatAccuracy: 0.856, flashBytes: 336 * 1024, latencyMs: 904 },
    pruned: {
      label: 'block5 + aux',
      params: 15_400,
      floatAccuracy: 0.856 - 0.0065,
      flashBytes: 71 * 1024,
      latencyMs: 551,
    },
    notes: [
      'Paper latency: TFLite Micro on a real RP2040 at 133 MHz; the board figures are for its block-6 grayscale model.',
    ],
  },
  kws: {
    source:
      'De Leon & Atienza, ICASSP 2022 (arXiv 2204.10546): KWS DS-CNN cut at block 2, Pico4ML (RP2040, TFLite Micro)',
    unpruned: { params: 24_900, floatAccuracy: 0.957, flashBytes: 54 * 1024, latencyMs: 340 },
    pruned: {
      label: 'block2 + aux',
      params: 17_900,
      floatAccuracy: 0.957 - 0.0106,
      flashBytes: 43 * 1024,
      latencyMs: 275,
    },
  },
};

/**
 * The paper's figures for the data's task (the dataset kinds table says which); for VWW only
 * when the model is the MobileNetV1 0.25 the paper pruned (14 cut points).
 */
function paperFor(g: Graph, task: Task): PaperFigures | undefined {
  if (task === 'kws') return PAPER.kws;
  if (task === 'vww' && findCutPoints(g).length === 14) return PAPER.vww;
  return undefined;
}

/** One line with each finished stage's wall-clock seconds (from the stage records). */
function stageTimes(dir: string): string {
  const names = ['model', 'inspect', 'sweep', 'quantize-deploy-unpruned', 'quantize-deploy-pruned'];
  const parts = names
    .map((n) => join(dir, 'stages', `${n}.json`))
    .filter((f) => existsSync(f))
    .map(
      (f) =>
        JSON.parse(readFileSync(f, 'utf8')) as {
          stage: string;
          seconds: number;
          cpuSeconds?: number;
        },
    )
    .map(
      (r) =>
        `${r.stage} ${r.seconds.toFixed(0)} s` +
        (r.cpuSeconds === undefined ? '' : ` (CPU ${r.cpuSeconds.toFixed(0)} s)`),
    );
  return `Stage times, wall clock (CPU time of all threads), first run of each: ${parts.join(', ')}.`;
}

export async function runPipeline(options: RunOptions): Promise<RunResult> {
  let o = options;
  const dir = o.out;
  mkdirSync(dir, { recursive: true });
  // Lock DIR; stop if it holds a run made with other settings (pipeline/stages.ts).
  const release = claimRunDir(dir, await runSettings({ ...o, data: o.data ?? 'synthetic:shapes' }));
  const log = o.log;
  const spec = o.data ?? 'synthetic:shapes';
  const data = await preparePruneData(spec, o.prune.seed, undefined, o.partitionSpecs);
  log(`data: ${partitionCounts(data)} (${data.split})`);
  const views = viewsForData(o.prune.views, data, o.viewsByHand === true, log);
  if (views !== o.prune.views) o = { ...o, prune: { ...o.prune, views } };
  noteBatchBeyondData(o.prune.schedule.batchSize, data.train.length * ((views ?? 0) + 1), log);

  // 1. The model to prune: the user's, or the demo trained from scratch.
  const baseFile = await stage(dir, 'model', log, async () => {
    if (o.model) return o.model;
    if (!o.demo) throw new Error('runPipeline: no model and no demo trainer');
    const g = await o.demo(data, log);
    const file = join(dir, 'base.tflite');
    writeFileAtomic(file, writeTflite(deployableGraph(g), { description: 'tinyprune demo model' }));
    return file;
  });
  const base = await loadModel(baseFile);

  // 2. Inspect.
  const inspect = await stage(dir, 'inspect', log, async () => ({
    totals: modelTotals(base),
    cutPoints: findCutPoints(base).map(({ name, tensor, params, macs, peakActivationBytes }) => ({
      name,
      tensor,
      params,
      macs,
      peakActivationBytes,
    })),
  }));

  // 3. Sweep (every cut, or the one asked for) and select.
  const sessions = new SessionPool(1, {
    cacheDir: join(dir, 'feature-cache'),
    progress: o.progress,
    log,
    ...o.session,
  });
  const modelKey = baseFile;
  const rowData = { base, modelKey, data: spec, partitions: o.partitionSpecs, settings: o.prune };
  await sessions.get(rowData, data); // the data opened above serves the local rows
  const exec = o.executor ?? localExecutor({ log, progress: o.progress, sessions });
  const sweep = await stage(dir, 'sweep', log, async () => {
    const cuts =
      o.cut === 'auto'
        ? findCutPoints(base)
        : o.cut.split(',').map((c) => resolveCutPoint(base, c.trim()));
    const result = await runSweep(
      {
        base,
        modelKey,
        modelFile: baseFile,
        data: spec,
        ...(o.partitionSpecs && { partitions: o.partitionSpecs }),
        cuts: cuts.map((c) => c.name),
        heads: o.heads,
        settings: o.prune,
        saveModels: true,
      },
      join(dir, 'sweep'),
      exec,
    );
    if (result.failed.length > 0)
      throw new TinypruneError(
        `tinyprune run: ${result.failed.length} sweep row(s) failed: ${result.failed
          .map((f) => `${f.cut} + ${f.head}: ${f.error}`)
          .join('; ')} (rerun to retry them)`,
      );
    const rows = result.rows;
    const budget = parseBudget(o.budget);
    let selection: SweepSelection = selectFromSweep(rows, budget, o.budget);
    if (!selection.cut) {
      // Nothing fits: report it, and carry on with the most accurate pruned model — one that
      // costs no more MACs than the unpruned model when there is one (unless macs=any).
      const full = rows.find((r) => r.variant === 'unpruned')!;
      const pruned = rows.filter((r) => r.variant !== 'unpruned');
      const cheaper = pruned.filter((r) => budget.anyMacs || r.macs <= full.macs);
      const best = (cheaper.length > 0 ? cheaper : pruned).sort(
        (a, b) => b.val!.accuracy - a.val!.accuracy,
      )[0]!;
      log(
        `no cut meets the budget ${o.budget}; continuing with the most accurate: ${best.cut} + ${best.head}`,
      );
      selection = { ...selection, cut: best.cut, head: best.head };
    }
    return { rows, selection };
  });
  const session = await sessions.get(rowData);
  const chosen = sweep.rows.find(
    (r) => r.cut === sweep.selection.cut && r.head === sweep.selection.head,
  ) as SweepRecord;

  // 4–5. Quantise and deploy both models.
  const calibration = () => session.sampleInputs('train', 200);
  const deployInputs = async (int8: Graph) => {
    const q = getTensor(int8, int8.inputs[0]!).quant!;
    return (await session.sampleInputs('test', o.deployInputs)).map((x) =>
      quantizeInt8(x, q.scale[0]!, q.zeroPoint[0]!),
    );
  };
  const modelStage = (label: 'unpruned' | 'pruned', floatFile: string, floatTest: AccuracyStat) =>
    stage(dir, `quantize-deploy-${label}`, log, async (): Promise<ModelStageResult> => {
      const floatGraph = deployableGraph(await loadModel(floatFile));
      const int8 = await quantizeGraph(floatGraph, await calibration());
      const int8File = join(dir, `${label}_int8.tflite`);
      writeFileAtomic(int8File, writeTflite(int8, { description: `${label} int8` }));
      const scores = await predictScores(int8, data.test);
      const ev = evaluatePredictions(
        data.test.labels,
        argmaxRows(scores, data.test.classes.length),
        data.test.classes,
      );
      log(
        `${label}: int8 test accuracy ${(ev.accuracy * 100).toFixed(2)}% (n=${ev.n}); deploying to ${o.target}…`,
      );
      const d = await deploy(int8, {
        target: o.target,
        outDir: join(dir, `deploy-${label}`),
        inputs: await deployInputs(int8),
        kernels: o.kernels,
      });
      return {
        file: floatFile,
        int8File,
        floatTest,
        int8Test: { correct: ev.correct, n: ev.n, accuracy: ev.accuracy, ci95: ev.ci95 },
        confusion: { classes: ev.classes, matrix: ev.confusion },
        deploy: {
          flashBytes: d.flashBytes,
          codeBytes: d.codeBytes,
          ramBytes: d.ramBytes,
          arenaBytes: d.arenaBytes,
          peakStackBytes: d.peakStackBytes,
          cycles: d.cycles,
          cortexM0Cycles: d.cortexM0Cycles,
          latencyMs: d.latencyMs,
          layers: d.layers,
          bitExact: d.bitExact,
          weights: d.weights,
          kernels: d.kernels,
        },
      };
    });
  const unprunedRow = sweep.rows.find((r) => r.variant === 'unpruned')!;
  const unpruned = await modelStage('unpruned', baseFile, unprunedRow.test);
  const pruned = await modelStage('pruned', chosen.file!, chosen.test);

  // 6. Report.
  const summary = async (
    label: string,
    r: ModelStageResult,
    extra: Partial<ModelSummary>,
  ): Promise<ModelSummary> => {
    const g = deployableGraph(await loadModel(r.file));
    const totals = modelTotals(g);
    return {
      label,
      ...extra,
      params: totals.params,
      macs: totals.macs,
      peakActivationBytes: totals.peakActivationBytes,
      flashBytes: r.deploy.flashBytes,
      ramBytes: r.deploy.ramBytes,
      cycles: r.deploy.cycles,
      latencyMs: r.deploy.latencyMs.at133MHz,
      floatTest: r.floatTest,
      int8Test: r.int8Test,
      layers: withDeployedLayers(layerCosts(g), r.deploy.layers),
      confusion: r.confusion,
    };
  };
  const rowsWithLatency = sweep.rows.map((r) =>
    r.variant === 'unpruned'
      ? { ...r, latencyMs: unpruned.deploy.latencyMs.at133MHz, cycles: unpruned.deploy.cycles }
      : r === chosen || (r.cut === chosen.cut && r.head === chosen.head)
        ? { ...r, latencyMs: pruned.deploy.latencyMs.at133MHz, cycles: pruned.deploy.cycles }
        : r,
  );
  const report: ReportData = {
    title: `tinyprune: ${o.model ?? `demo model (trained from scratch on ${o.demoDescription ?? spec})`}`,
    createdAt: new Date().toISOString(),
    command: o.command,
    settings: {
      model: baseFile,
      data: spec,
      split: data.split,
      partitions: partitionCounts(data),
      cut: o.cut,
      heads: o.heads.join(','),
      budget: o.budget,
      selected: `${chosen.cut} + ${chosen.head}`,
      target: o.target,
      ...Object.fromEntries(Object.entries(o.prune).filter(([, v]) => typeof v !== 'function')),
      cutPoints: inspect.cutPoints.length,
      bitExact: `unpruned ${unpruned.deploy.bitExact.inputs - unpruned.deploy.bitExact.mismatches}/${unpruned.deploy.bitExact.inputs}, pruned ${pruned.deploy.bitExact.inputs - pruned.deploy.bitExact.mismatches}/${pruned.deploy.bitExact.inputs} inputs identical to the host int8 interpreter`,
    },
    target: {
      name: TARGETS[o.target].label,
      clockMHz: 133,
    },
    unpruned: await summary('unpruned', unpruned, {}),
    pruned: await summary(`pruned (${chosen.cut} + ${chosen.head})`, pruned, {
      cut: chosen.cut,
      head: chosen.head,
    }),
    sweep: rowsWithLatency,
    paper: o.model ? paperFor(base, data.task) : undefined,
    notes: [
      `Accuracy is measured on the test split (${data.test.length} examples, ${data.split}); the cut is selected on validation accuracy only.`,
      `Partitions: ${partitionCounts(data)} (train from ${data.partitions.train.from}; validation from ${data.partitions.val.from}; test from ${data.partitions.test.from}).`,
      cycleNote(TARGETS[o.target]),
      ...[unpruned, pruned].flatMap((m, k) =>
        m.deploy.weights
          ? [
              `${k ? 'Pruned' : 'Unpruned'} model: layer constants in ${m.deploy.weights.in} — ${m.deploy.weights.note}.`,
            ]
          : [],
      ),
      ...[unpruned, pruned].flatMap((m, k) =>
        m.deploy.kernels
          ? [`${k ? 'Pruned' : 'Unpruned'} model: kernels ${m.deploy.kernels.reason}.`]
          : [],
      ),
      stageTimes(dir),
    ],
  };
  // MACs steer the selection (no candidate costs more than the unpruned model unless the budget
  // says macs=any); the emulator's cycles are known only for the two deployed models.
  if (pruned.deploy.cycles > unpruned.deploy.cycles) {
    const note = `The selected pruned model takes more cycles than the unpruned one (${pruned.deploy.cycles.toLocaleString('en-US')} vs ${unpruned.deploy.cycles.toLocaleString('en-US')}).`;
    log(`warning: ${note}`);
    report.notes!.push(note);
  }
  const written = await stage(dir, 'report', log, async () => writeReport(dir, report));
  release();
  return { report: written, data: report };
}
