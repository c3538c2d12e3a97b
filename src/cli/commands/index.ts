import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';

/** Every CLI command, in the order `tinyprune --help` lists them. */
export const COMMANDS: Command[] = [inspectCommand];
