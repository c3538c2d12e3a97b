// Cortex-M0+ deployment benchmark (script): deploys the two MLPerf Tiny int8 reference models
// and their pruned versions (KWS block2 + aux, VWW block5 + aux; seeded untrained heads), runs
// real inputs on the emulated RP2040 core, checks every output against the int8
// interpreter and prints cycles, cycles/MAC per layer, flash, RAM and latency next to the
// TFLite Micro + CMSIS-NN anchors.
//   node --import tsx bench/mcu.ts
// BENCH_MCU_KWS / BENCH_MCU_VWW set the number of inputs (default 100 each: about 40 s and 2 min
// of CPU here, per kernel mode); BENCH_MCU_KERNELS the kernel modes (default speed,size).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deploy, type DeployReport, type KernelChoice } from '../src/mcu/deploy.js';
import { mcuModel, type McuModel } from '../test/helpers/mcuModels.js';
import { hasShared } from '../test/helpers/shared.js';

interface Case {
  name: string;
  model: McuModel;
  count: number;
  /** TFLite Micro + CMSIS-NN on a Cortex-M0+ (cycles per inference), where measured. */
  anchor?: number;
  target: number;
  goal?: number;
}

const KWS_N = Number(process.env.BENCH_MCU_KWS ?? 100);
const VWW_N = Number(process.env.BENCH_MCU_VWW ?? 100);
const CASES: Case[] = [
  { name: 'KWS (DS-CNN)', model: 'kws', count: KWS_N, anchor: 39.5e6, target: 13e6, goal: 12e6 },
  {
    name: 'VWW (MobileNetV1 0.25)',
    model: 'vww',
    count: VWW_N,
    anchor: 118.4e6,
    target: 38e6,
    goal: 34e6,
  },
  { name: 'KWS block2 + aux (pruned)', model: 'kws-block2-aux', count: KWS_N, target: 9.5e6 },
  { name: 'VWW block5 + aux (pruned)', model: 'vww-block5-aux', count: VWW_N, target: 22e6 },
];

const MODES = (process.env.BENCH_MCU_KERNELS ?? 'speed,size').split(',') as KernelChoice[];
const m = (n: number) => `${(n / 1e6).toFixed(2)}M`;

function print(c: Case, r: DeployReport, seconds: number): void {
  const sorted = [...r.cyclesPerInput].sort((a, b) => a - b);
  console.log(
    `\n## ${c.name}, kernels ${r.kernels.mode}: ${r.bitExact.inputs} real inputs, ${seconds.toFixed(0)} s`,
  );
  console.log(`| measure | value |\n| --- | ---: |`);
  const rows: [string, string][] = [
    [
      'bit-exact with the int8 interpreter',
      `${r.bitExact.inputs - r.bitExact.mismatches}/${r.bitExact.inputs}`,
    ],
    ['kernels', r.kernels.reason],
    ['cycles (median)', `${m(r.cycles)} (min ${m(sorted[0]!)}, max ${m(sorted.at(-1)!)})`],
    ['target / goal', `${m(c.target)}${c.goal ? ` / ${m(c.goal)}` : ''}`],
    [
      'TFLM + CMSIS-NN anchor',
      c.anchor
        ? `${m(c.anchor)} (ours ${(c.anchor / r.cycles).toFixed(2)}x faster)`
        : 'not measured',
    ],
    ['MACs', `${r.macs} (${(r.cycles / r.macs).toFixed(2)} cycles/MAC)`],
    ['Cortex-M0 estimate', m(r.cortexM0Cycles)],
    ['latency @133 MHz', `${r.latencyMs.at133MHz} ms`],
    [
      'flash (code + constants)',
      `${r.flashBytes} B (code ${r.codeBytes}, constants ${r.constBytes})`,
    ],
    [
      'RAM (arena + data + peak stack)',
      `${r.ramBytes} B (arena ${r.arenaBytes}, stack ${r.peakStackBytes})`,
    ],
  ];
  for (const [k, v] of rows) console.log(`| ${k} | ${v} |`);
  console.log(
    `\n| layer | kind | kernel | MACs | cycles | cycles/MAC | requant |\n| ---: | --- | --- | ---: | ---: | ---: | --- |`,
  );
  for (const l of r.layers)
    console.log(
      `| ${l.index} | ${l.kind} | ${l.kernel} | ${l.macs} | ${l.cycles} | ${l.cyclesPerMac ?? ''} | ${l.requant ?? ''} |`,
    );
}

async function main(): Promise<void> {
  if (!hasShared) {
    console.log('bench/mcu: ../shared is absent; skipping');
    return;
  }
  for (const c of CASES) {
    const { graph, inputs } = await mcuModel(c.model, c.count);
    for (const kernels of MODES) {
      const dir = mkdtempSync(join(tmpdir(), 'tinyprune-bench-mcu-'));
      try {
        const t0 = performance.now();
        const r = await deploy(graph, { target: 'rp2040', outDir: dir, inputs, kernels });
        print(c, r, (performance.now() - t0) / 1e3);
        if (r.bitExact.mismatches) process.exitCode = 1;
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
