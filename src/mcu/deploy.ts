// deploy: int8 Graph → C sources + firmware ELF + deploy.json with sizes, emulated cycles per
// layer, latency, a Cortex-M0 estimate and a bit-exactness check against the int8 interpreter.
import { mkdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../io/atomic.js';
import { join } from 'node:path';
import { getTensor, numElements } from '../graph/graph.js';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { prepareInt8 } from '../quant/interpreter.js';
import { buildBoardImage } from './board.js';
import { compileFirmware, type CompileResult } from './build.js';
import { generateC, type KernelMode, type WeightsIn } from './codegen.js';
import { Emulator, type FirmwareRun } from './emulator.js';
import { TWO_PIXEL_KERNELS } from './emitters/index.js';
import { harnessC, MARK_END, MARK_START } from './runtime.js';
import { EMULATOR_MEMORY, getTarget, type TargetName } from './targets.js';

export interface DeployOptions {
  target: TargetName;
  outDir: string;
  /** int8 inputs to run in the emulator (one zero input when absent). */
  inputs?: Int8Array[];
  /** Clock for the extra latency figure, in Hz (the target's default otherwise). */
  clockHz?: number;
  cycleLimit?: number;
  env?: NodeJS.ProcessEnv;
  /** Inputs bundled into the board image (the first N of `inputs`; default 5). */
  boardInputs?: number;
  /**
   * Where the layer constants live: flash (read in place), sram (copied at start-up), or auto
   * (sram when they fit beside the arena and stack; the default).
   */
  weightsIn?: WeightsIn | 'auto';
  /**
   * Kernel mode: speed (two-pixel kernels, int16 weights), size (int8 weights), or auto (speed
   * when its image fits the target's flash and, with weights in SRAM, its SRAM; the default).
   */
  kernels?: KernelMode | 'auto';
}

/** A kernel-mode choice as `--kernels` names it. */
export const KERNEL_CHOICES = ['speed', 'size', 'auto'] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

/** RAM kept free for the stack and the harness when auto placement decides (bytes). */
const STACK_MARGIN = 8 * 1024;

/** Flash the size measurement of a kernel mode links against (more than any target has). */
const MEASURE_FLASH = 32 * 1024 * 1024;

export interface LayerReport {
  index: number;
  name: string;
  kind: string;
  macs: number;
  cycles: number;
  cyclesPerMac: number | null;
  /** The kernel the generator chose for the layer (from its geometry). */
  kernel: string;
  /** Requantisation routine (conv/depthwise/FC layers): 'mul2' | 'mul4' | 'general'. */
  requant?: string;
}

export interface DeployReport {
  model: string;
  target: TargetName;
  cpu: string;
  /** How the cycles were counted and what that count leaves out on the target. */
  cycleModel: { source: string; uncounted: string[] };
  flashBytes: number;
  codeBytes: number;
  constBytes: number;
  /** RAM: .data + .bss (the arena) + peak stack. */
  ramBytes: number;
  arenaBytes: number;
  peakStackBytes: number;
  /** Median inference cycles over the inputs (emulated Cortex-M0+). */
  cycles: number;
  cyclesPerInput: number[];
  /** Taken branches/PC writes in one inference: each costs a cycle more on a Cortex-M0. */
  takenBranches: number;
  cortexM0Cycles: number;
  macs: number;
  latencyMs: { at133MHz: number; atClock: number; clockHz: number };
  layers: LayerReport[];
  bitExact: { inputs: number; mismatches: number };
  outputs: number[][];
  /** Where the layer constants were placed, and what that means for the cycle count. */
  weights: { in: WeightsIn; requested: WeightsIn | 'auto'; constBytes: number; note: string };
  /** The kernel mode used, what was asked for, why (one line) and the flash image it gives. */
  kernels: { mode: KernelMode; requested: KernelChoice; reason: string; flashBytes: number };
  /** The board image (firmware.uf2), when the target has a board. */
  board?: { name: string; uf2Bytes: number; flashBytes: number; inputs: number };
  files: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function deploy(graph: Graph, o: DeployOptions): Promise<DeployReport> {
  const target = getTarget(o.target);
  const requested = o.weightsIn ?? 'auto';
  const kernelsRequested = o.kernels ?? 'auto';
  let gen = generateC(graph, { target, weightsIn: 'flash', kernels: 'size' });
  const input = getTensor(graph, graph.inputs[0]!);
  const inputs = o.inputs?.length ? o.inputs : [new Int8Array(gen.inputBytes)];
  inputs.forEach((x, k) => {
    if (x.length !== gen.inputBytes)
      throw new TinypruneError(
        `deploy: input ${k} has ${x.length} values, expected ${gen.inputBytes} (shape [${input.shape.join(', ')}] of ${graph.name})`,
      );
  });

  const src = join(o.outDir, 'src');
  mkdirSync(src, { recursive: true });
  const writeSources = () => {
    for (const [name, text] of Object.entries(gen.files)) writeFileAtomic(join(src, name), text);
  };
  writeFileAtomic(join(src, 'main.c'), harnessC({}));
  // The deliverable ELF for the target's memory map, and (when that map is not RP2040's) one
  // linked for the emulator; both from the same sources and flags.
  const common = {
    dir: src,
    sources: ['model.c', 'main.c'],
    cpu: target.cpu,
    env: o.env,
    label: `${graph.name} on ${target.name}`,
  };
  const build = () =>
    compileFirmware({
      ...common,
      memory: target.memory,
      out: join(o.outDir, 'firmware.elf'),
      defines: { TP_MARKS: 0 },
    });
  // Each kernel mode's image with the constants in flash, linked with room to spare so that an
  // image too large for the target is measured rather than refused.
  const measured = new Map<KernelMode, CompileResult>();
  const measure = (mode: KernelMode): CompileResult => {
    if (!measured.has(mode)) {
      gen = generateC(graph, { target, weightsIn: 'flash', kernels: mode });
      writeSources();
      measured.set(
        mode,
        compileFirmware({
          ...common,
          memory: { ...target.memory, flashBytes: MEASURE_FLASH },
          out: join(o.outDir, `firmware_${mode}.elf`),
          defines: { TP_MARKS: 0 },
        }),
      );
      rmSync(join(o.outDir, `firmware_${mode}.elf`), { force: true });
    }
    return measured.get(mode)!;
  };
  const flashBudget = target.memory.flashBytes - target.memory.flashReserved;
  // The RAM in use with the constants copied to SRAM: data, arena, constants and a stack margin.
  const ramWithConsts = (f: CompileResult) =>
    f.sizes.data + f.sizes.bss + f.sizes.rodata + STACK_MARGIN;
  const fitsRam = (f: CompileResult) => ramWithConsts(f) <= target.memory.ramBytes;
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const choose = (): { mode: KernelMode; reason: string } => {
    if (kernelsRequested !== 'auto') return { mode: kernelsRequested, reason: 'as requested' };
    const speed = measure('speed');
    const speedImage = `the speed image (${kb(speed.sizes.flash)})`;
    if (speed.sizes.flash > flashBudget)
      return {
        mode: 'size',
        reason: `${speedImage} exceeds ${target.name}'s ${kb(flashBudget)} flash`,
      };
    // Constants read from flash on every inference pay wait states / XIP cache misses that the
    // emulated cycles leave out; there the int16 copies' extra bytes can cost more than the
    // two-pixel kernels save, so auto keeps flash-resident weights small.
    const inFlash =
      'weights stay in flash, where int8 weights mean fewer flash reads (not in the emulated cycles)';
    if (requested === 'flash') return { mode: 'size', reason: inFlash };
    if (fitsRam(speed))
      return {
        mode: 'speed',
        reason: `${speedImage} fits the flash and its constants fit the ${kb(target.memory.ramBytes)} SRAM`,
      };
    const size = measure('size');
    const noRoom = `speed's constants (${kb(speed.sizes.rodata)}) do not fit the ${kb(target.memory.ramBytes)} SRAM beside the arena and stack`;
    if (requested === 'sram' || fitsRam(size))
      return {
        mode: 'size',
        reason: `${noRoom}; size's (${kb(size.sizes.rodata)}) ${fitsRam(size) ? 'do' : 'come closer'}`,
      };
    return { mode: 'size', reason: `the constants fit SRAM in neither mode: ${inFlash}` };
  };
  const { mode, reason } = choose();
  const chosen = measure(mode);
  // auto: the constants go to SRAM when, with them, the RAM in use (data, arena, the stack
  // measured below plus a margin) still fits the target's SRAM.
  const constBytes = chosen.sizes.rodata;
  const weightsIn: WeightsIn =
    requested === 'sram' || (requested === 'auto' && fitsRam(chosen)) ? 'sram' : 'flash';
  gen = generateC(graph, { target, weightsIn, kernels: mode });
  writeSources();
  const firmware = build();
  const emuBuild = compileFirmware({
    ...common,
    memory: EMULATOR_MEMORY,
    out: join(o.outDir, 'firmware_emu.elf'),
    defines: { TP_MARKS: 1 },
  });

  const board =
    target.board &&
    buildBoardImage({
      dir: src,
      outDir: o.outDir,
      target,
      model: graph.name,
      inputs: inputs.slice(0, o.boardInputs ?? 5),
      inputBytes: gen.inputBytes,
      env: o.env,
    });

  const emu = new Emulator(emuBuild.bytes, `${graph.name} firmware`);
  const ref = prepareInt8(graph);
  const runs: FirmwareRun[] = [];
  const outputs: number[][] = [];
  let mismatches = 0;
  for (const x of inputs) {
    const run = emu.run({
      inputs: [{ symbol: 'tp_io_in', bytes: new Uint8Array(x.buffer, x.byteOffset, x.length) }],
      outputs: [{ symbol: 'tp_io_out', length: gen.outputBytes }],
      cycleLimit: o.cycleLimit,
    });
    if (run.exitCode !== 0)
      throw new TinypruneError(`deploy: firmware exited with code ${run.exitCode}`);
    const got = new Int8Array(run.outputs.get('tp_io_out')!.buffer);
    const want = ref.run([x])[0]!;
    if (got.some((v, i) => v !== want[i])) mismatches++;
    outputs.push(Array.from(got));
    runs.push(run);
  }

  const span = (run: FirmwareRun) => {
    const s = run.marks.find((m) => m.id === MARK_START)!;
    const e = run.marks.find((m) => m.id === MARK_END)!;
    return { cycles: e.cycles - s.cycles, branches: e.branches - s.branches };
  };
  const cyclesPerInput = runs.map((r) => span(r).cycles);
  const cycles = median(cyclesPerInput);
  const typical = runs[cyclesPerInput.indexOf(cycles)]!;
  const takenBranches = span(typical).branches;
  const layers: LayerReport[] = [];
  let prev = typical.marks.find((m) => m.id === MARK_START)!.cycles;
  for (const l of gen.layers) {
    const mark = typical.marks.find((m) => m.id === l.index);
    if (!mark) continue;
    const c = mark.cycles - prev;
    prev = mark.cycles;
    layers.push({ ...l, cycles: c, cyclesPerMac: l.macs ? +(c / l.macs).toFixed(3) : null });
  }
  const macs = gen.layers.reduce((s, l) => s + l.macs, 0);
  const clockHz = o.clockHz ?? target.clockHz;
  const sizes = firmware.sizes;
  // Models without a two-pixel layer (FC only, single-pixel convolutions) build the same either way.
  const sameInBoth =
    mode === 'speed' && !gen.layers.some((l) => TWO_PIXEL_KERNELS.includes(l.kernel));
  const report: DeployReport = {
    model: graph.name,
    target: target.name,
    cpu: target.cpu,
    cycleModel: {
      source:
        target.cycles === 'emulated'
          ? 'rp2040js: per-instruction Cortex-M0+ cycles, no flash wait states'
          : 'rp2040js Cortex-M0+ count plus one cycle per taken branch (Cortex-M0 estimate)',
      uncounted: target.uncounted,
    },
    flashBytes: sizes.flash,
    codeBytes: sizes.text,
    constBytes,
    ramBytes: sizes.data + sizes.bss + typical.peakStackBytes,
    arenaBytes: gen.arenaBytes,
    peakStackBytes: typical.peakStackBytes,
    cycles,
    cyclesPerInput,
    takenBranches,
    cortexM0Cycles: cycles + takenBranches,
    macs,
    latencyMs: {
      at133MHz: +((cycles / 133e6) * 1e3).toFixed(3),
      atClock: +((cycles / clockHz) * 1e3).toFixed(3),
      clockHz,
    },
    layers,
    bitExact: { inputs: inputs.length, mismatches },
    outputs,
    weights: {
      in: weightsIn,
      requested,
      constBytes,
      note:
        weightsIn === 'sram'
          ? `constants copied to SRAM at start-up (${constBytes} B more RAM): the layers read them without flash cache misses; code still runs from flash`
          : `constants read from flash in place: on a board with a flash cache each miss costs extra cycles the emulator does not count`,
    },
    kernels: {
      mode,
      requested: kernelsRequested,
      reason: `${kernelsRequested === 'auto' ? 'auto → ' : ''}${mode}: ${reason}${sameInBoth ? '; no layer has a two-pixel kernel, so both modes give this image' : ''}; flash ${kb(sizes.flash)}`,
      flashBytes: sizes.flash,
    },
    ...(board && {
      board: {
        name: target.board!.name,
        uf2Bytes: board.uf2.length,
        flashBytes: board.flash.length,
        inputs: board.inputs,
      },
    }),
    files: [
      ...Object.keys(gen.files).map((f) => `src/${f}`),
      'src/main.c',
      'firmware.elf',
      'firmware_emu.elf',
      ...(board ? ['src/board_main.c', 'firmware_board.elf', 'firmware.uf2'] : []),
      'deploy.json',
    ],
  };
  writeFileAtomic(join(o.outDir, 'deploy.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/** Number of int8 values a graph's input takes. */
export function inputSize(graph: Graph): number {
  return numElements(getTensor(graph, graph.inputs[0]!).shape);
}
