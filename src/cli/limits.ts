// Checks every command's options get before the command runs, so a mistake fails in
// milliseconds instead of after training: numeric options against one table of limits (decimal
// syntax only — `0x2` and `1e12` are not epoch counts), dataset-spec option values, and the
// paths the command will read and write (an output that names a file, lies under a file, cannot
// be created, or lies inside an input).

import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, relative, resolve, isAbsolute, join } from 'node:path';
import { TinypruneError } from '../graph/types.js';
import type { Command, OptionSpec, ParsedArgs } from './command.js';

interface NumberLimit {
  integer?: boolean;
  min: number;
  max: number;
  /** Why the bound is where it is (shown in the error). */
  why?: string;
}

/**
 * Limits by option name, the same in every command that has the option. The commands still
 * read the values with numberOption (their own, possibly tighter, bounds).
 */
export const OPTION_LIMITS: Record<string, NumberLimit> = {
  epochs: { integer: true, min: 1, max: 100_000 },
  'epoch-scale': { min: 0.01, max: 1000 },
  'batch-size': { integer: true, min: 1, max: 65_536, why: 'batches are held in memory whole' },
  lr: { min: 0, max: 100 },
  views: {
    integer: true,
    min: 0,
    max: 1000,
    why: 'every view is cached in memory; the memory budget is checked again against the data',
  },
  mixup: { min: 0, max: 1000 },
  ema: { min: 0, max: 0.99999 },
  patience: { integer: true, min: 1, max: 100_000 },
  workers: { integer: true, min: 1, max: 8 },
  seed: { integer: true, min: 0, max: 2 ** 32 - 1 },
  temperature: { min: 0.01, max: 1000 },
  alpha: { min: 0, max: 1 },
  folds: { integer: true, min: 3, max: 1000 },
  samples: { integer: true, min: 1, max: 1_000_000 },
  limit: { integer: true, min: 1, max: 1_000_000_000 },
  'deploy-inputs': { integer: true, min: 1, max: 1000, why: 'each input is one emulated run' },
  'base-epochs': { integer: true, min: 1, max: 100_000 },
};

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INTEGER = /^[+-]?\d+$/;

function checkNumber(cmd: string, name: string, raw: string, l: NumberLimit): void {
  const text = raw.trim();
  const n = Number(text);
  const ok =
    (l.integer ? INTEGER : DECIMAL).test(text) && Number.isFinite(n) && n >= l.min && n <= l.max;
  if (!ok)
    throw new TinypruneError(
      `tinyprune ${cmd}: --${name} expects ${l.integer ? 'an integer' : 'a decimal number'} from ${l.min} to ${l.max}, got "${raw}"${l.why ? ` (${l.why})` : ''}`,
    );
}

/** What a path option is, by convention (`out` with DIR or FILE, `model`, dataset specs). */
export type PathRole = 'output-dir' | 'output-file' | 'input-file' | 'input-spec';

export function pathRole(name: string, o: OptionSpec): PathRole | undefined {
  if (name === 'out') return o.value === 'FILE' ? 'output-file' : 'output-dir';
  if (name === 'model') return 'input-file';
  if (o.value === 'SPEC' && (name === 'data' || name === 'calib' || name === 'inputs'))
    return 'input-spec';
  return undefined;
}

/** The file or folder a dataset spec reads (`kind:PATH?opts`, deploy's `PATH[:N]`). */
export function specPath(spec: string): string | undefined {
  const m = /^[a-z][a-z0-9-]*:(.+)$/.exec(spec);
  const candidates = [m ? m[1]!.replace(/\?.*$/, '') : undefined, spec, spec.replace(/:\d+$/, '')];
  return candidates.find((p) => p !== undefined && p !== '' && existsSync(p));
}

/** Values a spec's `?key=value` options must have, whatever the kind. */
function checkSpecQuery(cmd: string, name: string, spec: string): void {
  const q = spec.indexOf('?');
  if (q < 0 || !/^[a-z][a-z0-9-]*:/.test(spec)) return;
  for (const part of spec.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue; // the spec parser names it
    const [key, value] = [part.slice(0, eq), part.slice(eq + 1)];
    const fail = (want: string): never => {
      throw new TinypruneError(
        `tinyprune ${cmd}: --${name} ${spec}: option ${key} expects ${want}, got "${value}"`,
      );
    };
    if (
      (key === 'augmentSeed' || key === 'seed') &&
      !(INTEGER.test(value) && Number(value) >= 0 && Number(value) < 2 ** 32)
    )
      fail('an integer from 0 to 4294967295');
    if (key === 'inputShape' && !/^\d{1,4}x\d{1,4}x[13]$/.test(value))
      fail('HxWxC with C 1 or 3, e.g. 96x96x3');
    if ((key === 'quantized' || key === 'cache') && !/^(true|false|1|0)$/.test(value))
      fail('true, false, 1 or 0');
  }
}

function realpathOrNull(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}

/** `p` resolved through its nearest existing ancestor's real path (p need not exist). */
function realTarget(p: string): { real: string; existing: string } {
  let existing = resolve(p);
  const rest: string[] = [];
  while (!existsSync(existing)) {
    const up = dirname(existing);
    rest.unshift(basename(existing));
    if (up === existing) break;
    existing = up;
  }
  return { real: join(realpathOrNull(existing) ?? existing, ...rest), existing };
}

function inside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

function checkOutput(
  cmd: string,
  name: string,
  path: string,
  dir: boolean,
  inputs: { option: string; path: string }[],
): void {
  const flag = `tinyprune ${cmd}: --${name} ${path}`;
  const { real, existing } = realTarget(path);
  const existingIsTarget = resolve(existing) === resolve(path);
  const st = statSync(existing);
  if (existingIsTarget) {
    if (dir && !st.isDirectory())
      throw new TinypruneError(
        `${flag}: exists and is not a directory, expected an output directory`,
      );
    if (!dir && st.isDirectory())
      throw new TinypruneError(`${flag}: is a directory, expected an output file name`);
    if (!dir && !st.isFile()) throw new TinypruneError(`${flag}: exists and is not a regular file`);
  } else if (!st.isDirectory()) {
    throw new TinypruneError(
      `${flag}: cannot be created because ${existing} is a file, not a directory`,
    );
  }
  try {
    accessSync(existingIsTarget && !dir ? dirname(existing) : existing, constants.W_OK);
  } catch {
    throw new TinypruneError(`${flag}: ${existing} is not writable`);
  }
  for (const input of inputs) {
    const realIn = realpathOrNull(input.path);
    if (!realIn) continue;
    const inStat = statSync(realIn);
    if (inStat.isDirectory() ? inside(real, realIn) : real === realIn)
      throw new TinypruneError(
        `${flag}: lies ${inStat.isDirectory() ? 'inside' : 'on'} the input ${input.path} (--${input.option}); write the output elsewhere`,
      );
  }
}

/**
 * Checks the parsed options of `cmd` before it runs: numeric limits, spec option values and
 * output paths. Throws a one-line TinypruneError naming the option.
 */
export function checkCommandArgs(cmd: Command, args: ParsedArgs): void {
  const inputs: { option: string; path: string }[] = [];
  for (const [name, o] of Object.entries(cmd.options)) {
    const v = args.values[name];
    if (typeof v !== 'string') continue;
    const limit = OPTION_LIMITS[name];
    if (limit && o.type === 'string') checkNumber(cmd.name, name, v, limit);
    const role = pathRole(name, o);
    if (role === 'input-spec') {
      checkSpecQuery(cmd.name, name, v);
      const p = specPath(v);
      if (p) inputs.push({ option: name, path: p });
    }
    if (role === 'input-file' && existsSync(v)) inputs.push({ option: name, path: v });
  }
  for (const [name, o] of Object.entries(cmd.options)) {
    const v = args.values[name];
    const role = pathRole(name, o);
    if (typeof v !== 'string' || v === '') continue;
    if (role === 'output-dir' || role === 'output-file')
      checkOutput(cmd.name, name, v, role === 'output-dir', inputs);
  }
}
