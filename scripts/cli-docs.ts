// Writes docs/cli.md from every command's --help (the test suite checks it is up to date).
import { writeFileSync } from 'node:fs';
import { COMMANDS } from '../src/cli/commands/index.js';
import { helpText } from '../src/cli/command.js';

export function cliReference(): string {
  const parts = [
    '# CLI reference',
    '',
    'Generated from `tinyprune <command> --help` by `node --import tsx scripts/cli-docs.ts`.',
    '',
  ];
  for (const cmd of COMMANDS)
    parts.push(`## tinyprune ${cmd.name}`, '', '```text', helpText(cmd), '```', '');
  return parts.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) writeFileSync('docs/cli.md', cliReference());
