import type { Command } from '../command.js';
import { inspectCommand } from './inspect.js';
import { deployCommand } from './deploy.js';

/** Every CLI command, in the order `tinyprune --help` lists them. */
export const COMMANDS: Command[] = [inspectCommand, deployCommand];
