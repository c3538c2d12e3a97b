import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../src/cli/run.ts', import.meta.url));
// A small but complete run: synthetic data, a demo model trained from scratch, one cut, one head.
const ARGS = [
  'run',
  '--data',
  'synthetic:shapes?n=400',
  '--cut',
  'block2',
  '--heads',
  'aux',
  '--epochs',
  '3',
  '--base-epochs',
  '3',
  '--deploy-inputs',
  '2',
  '--quiet',
];

function start(out: string) {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...ARGS, '--out', out], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function finish(out: string): Promise<void> {
  const child = start(out);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, `run failed: ${stderr}`);
}

/** The numbers a report must reproduce (timestamps and paths differ between runs). */
function results(out: string) {
  const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  const pick = (m: Record<string, unknown>) => ({
    params: m.params,
    macs: m.macs,
    flashBytes: m.flashBytes,
    ramBytes: m.ramBytes,
    cycles: m.cycles,
    floatTest: m.floatTest,
    int8Test: m.int8Test,
  });
  // Sweep rows name their model files, which live in each run's own folder.
  const sweep = r.sweep.map(({ file: _file, ...row }: Record<string, unknown>) => row);
  return { unpruned: pick(r.unpruned), pruned: pick(r.pruned), sweep };
}

test(
  'run: kill -9 mid-run, rerun, and the results equal an uninterrupted run',
  { timeout: 900_000 },
  async () => {
    const root = mkdtempSync(join(tmpdir(), 'tinyprune-resume-'));
    try {
      const straight = join(root, 'straight');
      await finish(straight);
      assert.ok(existsSync(join(straight, 'report.html')), 'report.html written');
      assert.ok(existsSync(join(straight, 'report.md')), 'report.md written');

      // Kill as soon as the sweep stage has started writing, then resume.
      const killed = join(root, 'killed');
      const child = start(killed);
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          const stages = existsSync(join(killed, 'stages'))
            ? readdirSync(join(killed, 'stages'))
            : [];
          if (stages.includes('inspect.json')) {
            clearInterval(timer);
            child.kill('SIGKILL');
            resolve();
          }
        }, 50);
        child.on('exit', () => {
          clearInterval(timer);
          reject(new Error('run finished before it could be killed'));
        });
      });
      await new Promise((r) => child.on('exit', r));
      assert.ok(!existsSync(join(killed, 'report.json')), 'no report from the killed run');
      assert.ok(!existsSync(join(killed, 'stages', 'report.json')), 'report stage not recorded');
      await finish(killed);
      assert.deepEqual(results(killed), results(straight));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
);
