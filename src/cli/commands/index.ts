import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { deployCommand } from './deploy.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { pruneCommand } from './prune.js';
import { sweepCommand } from './sweep.js';
import { runCommand } from './run.js';
import { quantizeCommand } from './quantize.js';
import { workerCommand } from './worker.js';

/** Every CLI command, in the order `tinyprune --help` lists them. */
export const COMMANDS: Command[] = [
  inspectCommand,
  evalCommand,
  pruneCommand,
  sweepCommand,
  runCommand,
  quantizeCommand,
  exportCommand,
  deployCommand,
  workerCommand,
];
