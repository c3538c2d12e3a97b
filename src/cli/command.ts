import { parseArgs } from 'node:util';
import { TinypruneError } from '../graph/types.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in --help, e.g. "FILE" */
  value?: string;
  description: string;
  default?: string | boolean;
  multiple?: boolean;
}

export interface Command {
  name: string;
  summary: string;
  /** e.g. "tinyprune inspect MODEL [--json]" */
  usage: string;
  /** Names of positional arguments (documentation and arity check). */
  positionals?: { name: string; description: string; optional?: boolean }[];
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | string[] | undefined>;
}

export function helpText(cmd: Command): string {
  const lines = [`${cmd.summary}`, '', `Usage: ${cmd.usage}`];
  if (cmd.positionals?.length) {
    lines.push('', 'Arguments:');
    for (const p of cmd.positionals) lines.push(`  ${p.name.padEnd(24)} ${p.description}`);
  }
  lines.push('', 'Options:');
  const opts = {
    ...cmd.options,
    help: { type: 'boolean', short: 'h', description: 'show this help' },
  };
  for (const [name, o] of Object.entries(opts) as [string, OptionSpec][]) {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    const def = o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : '';
    lines.push(`  ${flag.padEnd(24)} ${o.description}${def}`);
  }
  return lines.join('\n');
}

/** Parses argv for one command; unknown options and missing values become TinypruneErrors. */
export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs & { help: boolean } {
  const options: Record<
    string,
    { type: 'string' | 'boolean'; short?: string; multiple?: boolean }
  > = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(cmd.options)) {
    options[name] = { type: o.type };
    if (o.short) options[name].short = o.short;
    if (o.multiple) options[name].multiple = true;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // Only parse errors are the user's; anything else is a bug in the option table.
    if (!(e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) throw e;
    const msg = (e as Error).message
      .replace(/\. To specify a positional argument.*$/s, '')
      .replace(/\s*\n\s*/g, ' '); // one line (parseArgs explains an ambiguous `-1` on three)
    const ambiguous = /Option '(--[\w-]+)' argument is ambiguous/.exec(msg);
    if (ambiguous)
      throw new TinypruneError(
        `tinyprune ${cmd.name}: ${ambiguous[1]} is followed by a value starting with "-" (write ${ambiguous[1]}=VALUE if you mean it)`,
      );
    throw new TinypruneError(`tinyprune ${cmd.name}: ${msg} (see tinyprune ${cmd.name} --help)`);
  }
  const values = parsed.values as ParsedArgs['values'];
  for (const [name, o] of Object.entries(cmd.options))
    if (values[name] === undefined && o.default !== undefined) values[name] = o.default;
  const help = values.help === true;
  if (!help) {
    const required = (cmd.positionals ?? []).filter((p) => !p.optional).length;
    const max = cmd.positionals?.length ?? 0;
    if (parsed.positionals.length < required)
      throw new TinypruneError(
        `tinyprune ${cmd.name}: missing ${cmd.positionals![parsed.positionals.length]!.name} (usage: ${cmd.usage})`,
      );
    if (parsed.positionals.length > max)
      throw new TinypruneError(
        `tinyprune ${cmd.name}: unexpected argument "${parsed.positionals[max]}" (usage: ${cmd.usage})`,
      );
  }
  return { positionals: parsed.positionals, values, help };
}

/** Reads a string option, failing clearly when it is required and absent. */
export function stringOption(args: ParsedArgs, cmd: string, name: string): string;
export function stringOption(
  args: ParsedArgs,
  cmd: string,
  name: string,
  optional: true,
): string | undefined;
export function stringOption(args: ParsedArgs, cmd: string, name: string, optional = false) {
  const v = args.values[name];
  if (v === undefined || v === '') {
    if (optional) return undefined;
    throw new TinypruneError(`tinyprune ${cmd}: --${name} is required`);
  }
  return String(v);
}

/** Parses a numeric option, naming the option and the bad value on failure. */
export function numberOption(
  args: ParsedArgs,
  cmd: string,
  name: string,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const ok =
    String(raw).trim() !== '' &&
    Number.isFinite(n) &&
    (!opts.integer || Number.isInteger(n)) &&
    (opts.min === undefined || n >= opts.min) &&
    (opts.max === undefined || n <= opts.max);
  if (!ok) {
    const want = [
      opts.integer ? 'an integer' : 'a number',
      opts.min !== undefined ? `>= ${opts.min}` : '',
      opts.max !== undefined ? `<= ${opts.max}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    throw new TinypruneError(`tinyprune ${cmd}: --${name} expects ${want}, got "${raw}"`);
  }
  return n;
}
