import { helpText, parseCommandArgs } from '../cli/command.js';
import { TinypruneError } from '../graph/types.js';
import { COMMANDS } from './commands/index.js';
import { checkCommandArgs } from './limits.js';
import { logSafe } from '../io/sanitize.js';

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'tinyprune — depth pruning with auxiliary networks for TinyML',
    '',
    'Usage: tinyprune <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)} ${c.summary}`),
    '',
    'Run `tinyprune <command> --help` for the options of a command.',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. User mistakes print one line on stderr and return 2. */
export async function main(argv: string[]): Promise<number> {
  // `tinyprune … | head` closes stdout early: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    console.log(pkg.version);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  try {
    if (!cmd)
      throw new TinypruneError(
        `tinyprune: unknown command "${name}" (commands: ${COMMANDS.map((c) => c.name).join(', ')})`,
      );
    const args = parseCommandArgs(cmd, rest);
    if (args.help) {
      console.log(helpText(cmd));
      return 0;
    }
    checkCommandArgs(cmd, args); // limits and paths, before any work (cli/limits.ts)
    return await cmd.run(args);
  } catch (e) {
    if (e instanceof TinypruneError) {
      // logSafe: names from model files in the message cannot add lines or control the terminal.
      const msg = logSafe(e.message);
      console.error(msg.startsWith('tinyprune') ? msg : `tinyprune: ${msg}`);
      return e.exitCode;
    }
    throw e;
  }
}
