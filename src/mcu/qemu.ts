// Independent cross-check of generated firmware on QEMU (an Arm machine model, not rp2040js):
// the inputs are compiled in, the outputs printed as hex lines over semihosting.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { compileFirmware } from './build.js';
import { generateC } from './codegen.js';
import { harnessC } from './runtime.js';

/**
 * QEMU's mps2-an385 (Cortex-M3 that runs our Thumb-1 code unchanged): 4 MB of code memory at 0
 * and RAM at 0x20000000. (-M microbit, a real Cortex-M0, has only 16 KB of RAM.)
 */
const MPS2_MEMORY = {
  flashOrigin: 0,
  flashBytes: 4 * 1024 * 1024,
  ramOrigin: 0x20000000,
  ramBytes: 256 * 1024,
  flashReserved: 0,
};

/** Builds the model with `inputs` compiled in, runs it under QEMU, returns the outputs. */
export function runOnQemu(
  graph: Graph,
  inputs: Int8Array[],
  dir: string,
  opts: { timeoutMs?: number; qemu?: string } = {},
): Int8Array[] {
  const gen = generateC(graph);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(gen.files)) writeFileSync(join(dir, name), text);
  const rows = inputs.map((x) => `  {${Array.from(x).join(',')}},`).join('\n');
  writeFileSync(
    join(dir, 'tp_inputs.h'),
    `#define TP_NUM_INPUTS ${inputs.length}\nstatic const int8_t tp_inputs[${inputs.length}][${gen.inputBytes}] = {\n${rows}\n};\n`,
  );
  writeFileSync(join(dir, 'main.c'), harnessC({ embeddedInputs: inputs.length }));
  const fw = compileFirmware({
    dir,
    sources: ['model.c', 'main.c'],
    cpu: 'cortex-m0',
    memory: MPS2_MEMORY,
    out: join(dir, 'firmware_qemu.elf'),
    defines: { TP_MARKS: 0 },
  });
  const qemu = opts.qemu ?? 'qemu-system-arm';
  const r = spawnSync(
    qemu,
    [
      '-M',
      'mps2-an385',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      'none',
      '-semihosting-config',
      'enable=on,target=native',
      '-kernel',
      fw.elfPath,
    ],
    { encoding: 'utf8', timeout: opts.timeoutMs ?? 120_000 },
  );
  if (r.error)
    throw new TinypruneError(
      `${qemu} could not run (${r.error.message}): install it (Debian: apt-get install qemu-system-arm)`,
    );
  if (r.status !== 0) throw new Error(`QEMU exited with ${r.status}: ${r.stderr.slice(0, 2000)}`);
  const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^[0-9a-f]+$/.test(l));
  return lines.map((l) =>
    Int8Array.from({ length: l.length / 2 }, (_, i) => parseInt(l.slice(2 * i, 2 * i + 2), 16)),
  );
}
