// The bench runner (`npm run bench [substring…]`): runs every bench/*.ts except itself, each in its
// own process so that timings do not disturb each other. Convention (see bench/README.md):
// - a file exporting `bench(): Promise<BenchReport> | BenchReport` is imported and called, and its
//   report printed as a Markdown table (PASS/FAIL against any `required` minimum);
// - any other file is run as a script (`node --import tsx bench/FILE.ts`) and prints its own output.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** Minimum the project requires (higher is better). */
  required?: number;
  /** A reference figure (e.g. PyTorch on the same machine). */
  anchor?: number;
}

export interface BenchReport {
  title: string;
  rows: BenchRow[];
  notes?: string[];
}

export function formatReport(r: BenchReport): string {
  const lines = [
    `## ${r.title}`,
    '',
    '| measure | value | unit | required | anchor | |',
    '| --- | ---: | --- | ---: | ---: | --- |',
  ];
  for (const row of r.rows) {
    const ok = row.required === undefined ? '' : row.value >= row.required ? 'PASS' : 'FAIL';
    lines.push(
      `| ${row.name} | ${row.value.toFixed(row.value < 10 ? 3 : 0)} | ${row.unit} | ${row.required ?? ''} | ${row.anchor ?? ''} | ${ok} |`,
    );
  }
  for (const n of r.notes ?? []) lines.push('', n);
  return lines.join('\n');
}

const here = dirname(fileURLToPath(import.meta.url));

async function runOne(file: string): Promise<void> {
  const mod = (await import(pathToFileURL(file).href)) as {
    bench?: () => Promise<BenchReport> | BenchReport;
  };
  if (typeof mod.bench === 'function') {
    console.log(formatReport(await mod.bench()));
    return;
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], { stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = r.status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  if (args[0] === '--one') await runOne(args[1]!);
  else {
    const files = readdirSync(here)
      .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
      .filter((f) => args.length === 0 || args.some((a) => f.includes(a)))
      .sort();
    let failed = 0;
    for (const f of files) {
      console.log(`\n# bench/${f}\n`);
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--one', join(here, f)],
        {
          stdio: 'inherit',
        },
      );
      if (r.status !== 0) failed++;
    }
    process.exit(failed ? 1 : 0);
  }
}
