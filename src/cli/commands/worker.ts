import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { TinypruneError } from '../../graph/types.js';
import type { Command } from '../command.js';
import { numberOption, stringOption } from '../command.js';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Train sweep rows from a Redis queue (sweep/run --queue), until stopped',
  usage:
    'tinyprune worker --queue redis://[:password@]HOST:PORT[/DB] [--concurrency N] [--data-root DIR]',
  options: {
    queue: {
      type: 'string',
      value: 'URL',
      description:
        'Redis: redis://[:password@]HOST:PORT[/DB], rediss://… (TLS), redis+unix:///SOCKET',
    },
    'queue-name': {
      type: 'string',
      value: 'NAME',
      description: 'the queue sweep/run --queue-name submit to',
      default: 'tinyprune',
    },
    concurrency: {
      type: 'string',
      value: 'N',
      description: 'rows trained at once (one process each; about one per core)',
      default: '1',
    },
    'data-root': {
      type: 'string',
      value: 'DIR',
      description:
        'jobs may only read data under DIR; relative data paths resolve against it (default: the current folder)',
    },
    'stall-seconds': {
      type: 'string',
      value: 'S',
      description: 'a worker silent this long has its row given to another worker',
      default: '30',
    },
    quiet: { type: 'boolean', short: 'q', description: 'log only errors' },
  },
  async run(args) {
    const url = stringOption(args, 'worker', 'queue');
    const queueName = String(args.values['queue-name']);
    const concurrency = numberOption(args, 'worker', 'concurrency', {
      integer: true,
      min: 1,
      max: 256,
    })!;
    const stallSeconds = numberOption(args, 'worker', 'stall-seconds', { min: 1, max: 86_400 })!;
    const dataRoot = resolve(stringOption(args, 'worker', 'data-root', true) ?? '.');
    const quiet = args.values.quiet === true;
    const { parseQueueUrl } = await import('../../distributed/url.js');
    const { checkQueueName } = await import('../../distributed/submit.js');
    parseQueueUrl(url);
    checkQueueName(queueName);
    if (concurrency > 1) return runChildren(concurrency);
    const { startWorker } = await import('../../distributed/worker.js');
    const log = (line: string) => {
      if (!quiet || /refused|failed|error/i.test(line)) console.error(line);
    };
    const w = await startWorker({ url, queueName, dataRoot, stallSeconds, log });
    // First signal: finish the running row, then stop. Second: stop now (the row's lock lapses
    // and another worker takes it over).
    let signals = 0;
    const stopped = new Promise<void>((done) => {
      const onSignal = (sig: string) => {
        signals++;
        if (signals === 1) {
          const row = w.active();
          console.error(
            row
              ? `${w.name} ${sig}: finishing ${row}, then stopping (${sig} again stops at once; the row then goes to another worker)`
              : `${w.name} ${sig}: stopping`,
          );
          void w.close().then(done);
        } else {
          console.error(`${w.name} ${sig}: stopping now`);
          process.exit(130);
        }
      };
      process.on('SIGINT', () => onSignal('SIGINT'));
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      // A child of `--concurrency N` stops like on a signal when its parent goes away.
      process.on('disconnect', () => signals === 0 && onSignal('parent gone'));
    });
    await stopped;
    console.error(`${w.name} stopped`);
    // A child of `--concurrency N`: let go of the channel to the parent, or it keeps us alive.
    if (process.connected) process.disconnect();
    return 0;
  },
};

/** `--concurrency N`: N worker processes with this command line, each training one row at a time. */
async function runChildren(n: number): Promise<number> {
  const argv = process.argv.slice(2);
  const at = argv.findIndex((a) => a === '--concurrency' || a.startsWith('--concurrency='));
  if (at < 0)
    throw new TinypruneError('tinyprune worker: --concurrency not found in the arguments');
  const childArgs = [...argv];
  if (childArgs[at]!.includes('=')) childArgs.splice(at, 1);
  else childArgs.splice(at, 2);
  const children: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  for (let i = 0; i < n; i++) {
    // Own process group (a terminal's Ctrl-C reaches the parent only, which forwards it once);
    // the IPC channel tells a child when the parent is gone.
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...childArgs], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
    });
    children.push(child);
    exits.push(new Promise((r) => child.on('exit', (code) => r(code ?? 1))));
  }
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      for (const c of children) if (c.exitCode === null) c.kill(sig);
    });
  const codes = await Promise.all(exits);
  return codes.every((c) => c === 0) ? 0 : 1;
}
