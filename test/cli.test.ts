import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS } from '../src/cli/commands/index.js';
import { helpText } from '../src/cli/command.js';
import { runCli } from './helpers/cli.js';
import { readFileSync } from 'node:fs';
import { cliReference } from '../scripts/cli-docs.js';

test('every command has a complete --help: usage and every option', () => {
  for (const cmd of COMMANDS) {
    const text = helpText(cmd);
    assert.match(text, new RegExp(`Usage: tinyprune ${cmd.name}`), cmd.name);
    for (const name of Object.keys(cmd.options))
      assert.ok(text.includes(`--${name}`), `${cmd.name} --help lists --${name}`);
    for (const [name, o] of Object.entries(cmd.options))
      assert.ok(o.description.length > 8, `${cmd.name} --${name} has a description`);
  }
});

test('the CLI prints help, and rejects unknown commands, options and bad values in one line', () => {
  const top = runCli(['--help']);
  assert.equal(top.status, 0);
  for (const cmd of COMMANDS)
    assert.ok(top.stdout.includes(cmd.name), `top-level help names ${cmd.name}`);

  const help = runCli(['prune', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--finetune/);

  const cases: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['inspect', 'x.tflite', '--colour'], /Unknown option '--colour'/],
    [['prune', '--model', 'm.tflite'], /--data is required/],
    [
      ['eval', '--model', 'm.tflite', '--data', 'eembc-vww:/nowhere', '--limit', 'ten'],
      /--limit expects an integer from 1 to \d+, got "ten"/,
    ],
    [['run', '--target', 'esp32'], /--target expects rp2040 or cortex-m0, got "esp32"/],
    [['run', '--budget', 'params=lots'], /--budget: expected a count/],
    [
      ['sweep', '--model', 'm', '--data', 'd', '--out', 'o', '--heads', 'aux,bogus'],
      /unknown layer "bogus"/,
    ],
    [['run', '--model', 'only-model.tflite'], /--model needs --data/],
  ];
  for (const [args, pattern] of cases) {
    const r = runCli(args);
    assert.equal(r.status, 2, `${args.join(' ')} exits 2 (stderr: ${r.stderr})`);
    assert.match(r.stderr, pattern, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});

test('docs/cli.md is the --help of every command (regenerate: node --import tsx scripts/cli-docs.ts)', () => {
  const committed = readFileSync(new URL('../docs/cli.md', import.meta.url), 'utf8');
  assert.equal(committed, cliReference());
});
