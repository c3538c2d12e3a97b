import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { getTensor } from '../../graph/graph.js';
import type { Graph } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';
import { loadModel } from '../../io/load.js';
import { deploy, inputSize, KERNEL_CHOICES, type KernelChoice } from '../../mcu/deploy.js';
import { DEFAULT_TARGET, getTarget, TARGET_NAMES, TARGETS } from '../../mcu/targets.js';
import { numberOption, stringOption, type Command } from '../command.js';
import { readFileBounded } from '../../io/files.js';

/**
 * Reads deploy inputs from SPEC = FILE.bin or DIR[:N] (the first N .bin files by name). Each file
 * holds exactly one input: int8 values, or uint8 pixels (0..255) quantised with the model's input
 * scale as pixel/255.
 */
export function readInputs(spec: string, graph: Graph, format: 'int8' | 'uint8'): Int8Array[] {
  const m = /^(.*?)(?::(\d+))?$/.exec(spec)!;
  const path = m[1]!;
  const limit = m[2] ? Number(m[2]) : Infinity;
  let files: string[];
  try {
    files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => f.endsWith('.bin'))
          .sort()
          .slice(0, limit)
          .map((f) => join(path, f))
      : [path];
  } catch {
    throw new TinypruneError(`tinyprune deploy: --inputs ${path}: no such file or directory`);
  }
  if (files.length === 0)
    throw new TinypruneError(`tinyprune deploy: --inputs ${path}: no .bin files found`);
  const n = inputSize(graph);
  const t = getTensor(graph, graph.inputs[0]!);
  const scale = t.quant?.scale[0] ?? 1;
  const zp = t.quant?.zeroPoint[0] ?? 0;
  return files.map((f) => {
    const b = readFileBounded(f, 'data');
    if (b.length !== n)
      throw new TinypruneError(
        `tinyprune deploy: input ${f} has ${b.length} bytes, expected ${n} (one ${format} input of shape [${t.shape.join(', ')}])`,
      );
    if (format === 'int8') return new Int8Array(b.buffer, b.byteOffset, b.length);
    return Int8Array.from(b, (p) =>
      Math.max(-128, Math.min(127, Math.round(p / 255 / scale) + zp)),
    );
  });
}

/** A `--kernels` value; a clear error lists the choices. */
export function kernelOption(v: string, where: string): KernelChoice {
  if (!(KERNEL_CHOICES as readonly string[]).includes(v))
    throw new TinypruneError(
      `${where}: --kernels expects ${KERNEL_CHOICES.slice(0, -1).join(', ')} or ${KERNEL_CHOICES.at(-1)}, got "${v}"`,
    );
  return v as KernelChoice;
}

export const deployCommand: Command = {
  name: 'deploy',
  summary:
    'Generate C for an int8 model, build Cortex-M0/M0+ firmware, and measure it on the emulated RP2040',
  usage: `tinyprune deploy --model M_int8.tflite --target ${TARGET_NAMES.join('|')} [--inputs SPEC] --out DIR`,
  options: {
    model: { type: 'string', value: 'FILE', description: 'int8 .tflite model' },
    target: {
      type: 'string',
      value: 'NAME',
      description: TARGET_NAMES.map((n) => `${n} (${TARGETS[n].core})`).join(' or '),
      default: DEFAULT_TARGET,
    },
    inputs: {
      type: 'string',
      value: 'SPEC',
      description: 'FILE.bin or DIR[:N]: inputs to run and check (default: one zero input)',
    },
    'input-format': {
      type: 'string',
      value: 'int8|uint8',
      description: 'int8 values, or uint8 pixels scaled by 1/255',
      default: 'int8',
    },
    'weights-in': {
      type: 'string',
      value: 'sram|flash|auto',
      description:
        'layer constants in SRAM (copied at start-up) or flash; auto: SRAM when they fit',
      default: 'auto',
    },
    kernels: {
      type: 'string',
      value: KERNEL_CHOICES.join('|'),
      description:
        "speed: two-pixel kernels, int16 weights; size: int8 weights; auto: speed when it fits the target's flash (and SRAM when the weights go there)",
      default: 'auto',
    },
    clock: { type: 'string', value: 'MHZ', description: 'clock for the latency figure' },
    out: { type: 'string', value: 'DIR', description: 'output directory' },
    json: { type: 'boolean', description: 'print deploy.json instead of a summary' },
  },
  async run(args) {
    const kernels = kernelOption(stringOption(args, 'deploy', 'kernels'), 'tinyprune deploy');
    const modelPath = stringOption(args, 'deploy', 'model');
    const outDir = stringOption(args, 'deploy', 'out');
    const target = getTarget(
      stringOption(args, 'deploy', 'target'),
      'tinyprune deploy: --target',
    ).name;
    const format = stringOption(args, 'deploy', 'input-format');
    if (format !== 'int8' && format !== 'uint8')
      throw new TinypruneError(
        `tinyprune deploy: --input-format expects int8 or uint8, got "${format}"`,
      );
    const weightsIn = stringOption(args, 'deploy', 'weights-in');
    if (weightsIn !== 'sram' && weightsIn !== 'flash' && weightsIn !== 'auto')
      throw new TinypruneError(
        `tinyprune deploy: --weights-in expects sram, flash or auto, got "${weightsIn}"`,
      );
    const mhz = numberOption(args, 'deploy', 'clock', { min: 1, max: 1000 });
    const graph = await loadModel(modelPath);
    const spec = stringOption(args, 'deploy', 'inputs', true);
    const inputs = spec ? readInputs(spec, graph, format) : undefined;
    const r = await deploy(graph, {
      target,
      outDir,
      inputs,
      clockHz: mhz ? mhz * 1e6 : undefined,
      weightsIn,
      kernels,
    });
    if (args.values.json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    const kb = (n: number) => (n / 1024).toFixed(1);
    console.log(`${r.model} on ${r.target} (${r.cpu}) → ${outDir}`);
    console.log(
      `flash ${kb(r.flashBytes)} KB (code ${kb(r.codeBytes)} KB, constants ${kb(r.constBytes)} KB), RAM ${kb(r.ramBytes)} KB (arena ${kb(r.arenaBytes)} KB, stack ${r.peakStackBytes} B)`,
    );
    console.log(
      `${r.cycles.toLocaleString('en-US')} cycles (${(r.cycles / r.macs).toFixed(2)}/MAC), ${r.latencyMs.at133MHz} ms at 133 MHz${r.latencyMs.clockHz === 133e6 ? '' : `, ${r.latencyMs.atClock} ms at ${r.latencyMs.clockHz / 1e6} MHz`}; Cortex-M0 estimate ${r.cortexM0Cycles.toLocaleString('en-US')} cycles`,
    );
    console.log(`kernels ${r.kernels.reason}`);
    console.log(`layer constants in ${r.weights.in} (${r.weights.note})`);
    if (r.board)
      console.log(
        `board image: ${join(outDir, 'firmware.uf2')} for the ${r.board.name} (${kb(r.board.uf2Bytes)} KB, ${r.board.inputs} bundled inputs; see docs/pico.md)`,
      );
    console.log(
      `bit-exact vs the int8 interpreter: ${r.bitExact.inputs - r.bitExact.mismatches}/${r.bitExact.inputs} inputs`,
    );
    return r.bitExact.mismatches === 0 ? 0 : 1;
  },
};
