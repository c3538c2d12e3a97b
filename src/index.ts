// The tinyprune library API: everything the CLI does is reachable from here.
export * from './graph/types.js';
export * from './graph/graph.js';
export * from './graph/shapes.js';
export * from './graph/accounting.js';
export * from './graph/cutpoints.js';
export { loadModel, detectFormat } from './io/load.js';
export { readKerasH5 } from './io/keras/reader.js';
export { foldBatchNorm } from './graph/passes/foldBatchNorm.js';
export { fuseActivations } from './graph/passes/fuseActivations.js';
export { readTflite } from './io/tflite/reader.js';
export { readOnnx } from './io/onnx/reader.js';
export {
  OP_SUPPORT,
  STAGES,
  supports,
  supportedKinds,
  assertNever,
  type Stage,
} from './graph/ops.js';
export { writeTflite, type WriteTfliteOptions } from './io/tflite/writer.js';
export { deploy, type DeployOptions, type DeployReport } from './mcu/deploy.js';
export { generateC } from './mcu/codegen.js';
export { Emulator, type FirmwareRun } from './mcu/emulator.js';
export { compileFirmware, findToolchain, TARGETS } from './mcu/build.js';
export { parseElf } from './mcu/elf.js';
export * from './data/index.js';
export { useBackend, type BackendName } from './engine/backend.js';
export {
  TfModel,
  floatValues,
  type ModelOptions,
  type TrainablePredicate,
} from './engine/model.js';
export {
  fit,
  evaluate,
  batchLoss,
  learningRate,
  type Dataset as TrainingSet,
  type FitOptions,
  type History,
  type EpochLogs,
  type LrSchedule,
  type Distillation,
} from './engine/train.js';
export {
  createTrainable,
  resolveBackend,
  WasmTrainable,
  type Trainable,
  type TrainableOptions,
  type BackendChoice,
  type BackendKind,
} from './engine/trainable.js';
export { TorchModel, torchAvailable, setTorchThreads } from './engine/torch.js';
export {
  WeightAverage,
  BestCheckpoint,
  EarlyStopping,
  type Callback,
  type FitState,
} from './engine/callbacks.js';
export { graphToOnnx } from './engine/onnx.js';
export { OnnxRunner, runOnnx, type OnnxOptions } from './engine/onnxRun.js';
export { glorotUniform } from './engine/init.js';
export * from './report/index.js';
export {
  progress,
  formatDuration,
  etaSeconds,
  type Progress,
  type ProgressOptions,
} from './cli/progress.js';
export * from './quant/fixedpoint.js';
export {
  prepareInt8,
  runInt8,
  activationRangeInt8,
  type PreparedInt8,
} from './quant/interpreter.js';
export { prepareFloat, runFloat, constantAsFloat, type PreparedFloat } from './quant/floatRef.js';
export {
  quantizeGraph,
  activationQuant,
  type QuantizeOptions,
  type CalibrationMethod,
} from './quant/quantize.js';
export { HEAD_PRESETS, parseHead, attachHead, type HeadLayer } from './prune/heads.js';
export { cutGraph, pruneModel, resolveCutPoint, outputClasses } from './prune/cut.js';
export {
  parseBudget,
  DEFAULT_BUDGET,
  budgetViolations,
  selectCandidate,
  type Budget,
  type Candidate,
  type Reference,
} from './prune/budget.js';
export {
  preparePruneData,
  loadAll,
  checkDisjoint,
  partitionCounts,
  SPLIT_FRACTIONS,
  type PruneData,
  type PartitionRecord,
  type PartitionSpecs,
} from './prune/data.js';
export {
  resolveRecipe,
  sizeSchedule,
  describeTraining,
  TASK_RECIPES,
  RECIPES,
  MIN_EPOCHS,
  type Recipe,
  type BestRecipe,
  type RecipeOverrides,
  type ResolvedRecipe,
} from './prune/recipe.js';
export {
  PruneSession,
  PAPER_SCHEDULES,
  headGraph,
  type PruneOptions,
  type PruneResult,
  type Schedule,
  type SessionOptions,
} from './prune/train.js';
export {
  runSweep,
  localExecutor,
  planRows,
  poolFolds,
  selectFromSweep,
  writeSweepOutputs,
  type FailedRow,
  type RowExecutor,
  type RowOutcome,
  type SweepPlan,
  type SweepRecord,
  type SweepResult,
  type SweepSelection,
} from './prune/sweep.js';
export {
  trainRow,
  pruneAndSelect,
  SessionPool,
  UNPRUNED_CUT,
  type RowSpec,
  type RowResult,
  type RowSettings,
} from './prune/row.js';
export { dataFingerprint } from './data/fingerprint.js';
// Distributed sweeps: rows as BullMQ jobs on Redis (docs/distributed.md).
export { queueExecutor, type QueueExecutorOptions } from './distributed/submit.js';
export { startWorker, type WorkerOptions, type RunningWorker } from './distributed/worker.js';
export { parseQueueUrl, redact } from './distributed/url.js';
export { PRECISIONS, type Precision } from './prune/features/codec.js';
export { FeatureStore, type StoreLayout } from './prune/features/store.js';
export { storeSource } from './prune/features/source.js';
export { arraySource, type Batch, type BatchSource } from './engine/batches.js';
export { saveTflite, deployableGraph } from './prune/save.js';
export { writeFileAtomic } from './io/atomic.js';
export { predictScores, argmaxRows, isInt8Graph } from './eval/predict.js';
export { evaluatePredictions, type Evaluation } from './eval/metrics.js';
export { runPipeline, type RunOptions, type RunResult } from './pipeline/run.js';
export { main as runCli } from './cli/main.js';
