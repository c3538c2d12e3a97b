// The deployment targets: one table that the generator, the build, the emulator run, the CLI,
// the pipeline and the report all read. Adding a target is adding an entry here; nothing else
// names one.
import { TinypruneError } from '../graph/types.js';

export type TargetName = 'rp2040' | 'cortex-m0';

/** A memory map the linker script is generated for. */
export interface MemoryMap {
  flashOrigin: number;
  flashBytes: number;
  ramOrigin: number;
  ramBytes: number;
  /**
   * Bytes reserved at the start of flash before the vector table. The RP2040 boot ROM expects a
   * 256-byte second-stage boot loader (boot2) there; the board image (uf2.ts) fills it.
   */
  flashReserved: number;
}

export interface Target {
  name: TargetName;
  /** How reports name it. */
  label: string;
  /** GCC's -mcpu. */
  cpu: 'cortex-m0plus' | 'cortex-m0';
  /** The core, in words. */
  core: string;
  /** The memory map of the deliverable firmware. */
  memory: MemoryMap;
  /** Clock for the reported latency, in Hz. */
  clockHz: number;
  /**
   * Where the reported cycle count comes from: the emulated RP2040 core itself, or that count
   * plus one cycle per taken branch (a Cortex-M0's pipeline refill).
   */
  cycles: 'emulated' | 'm0-estimate';
  /** What the emulator's count leaves out on this target's silicon (stated in deploy.json). */
  uncounted: string[];
  /** A board whose image (firmware.uf2) deploy writes beside the ELF. */
  board?: PicoBoard;
}

/** A Raspberry Pi Pico: its crystal, the PLL_SYS settings that make the target's clock, UART0. */
export interface PicoBoard {
  name: string;
  xoscHz: number;
  pllFbdiv: number;
  pllPostdiv1: number;
  pllPostdiv2: number;
  uartBaud: number;
}

export const TARGETS: Record<TargetName, Target> = {
  // RP2040: 2 MB QSPI flash executed in place at 0x10000000 after the 256-byte boot2 stage,
  // 264 KB SRAM of which the firmware uses 256 KB, 133 MHz.
  rp2040: {
    name: 'rp2040',
    label: 'RP2040 (Cortex-M0+, emulated)',
    cpu: 'cortex-m0plus',
    core: 'Cortex-M0+',
    memory: {
      flashOrigin: 0x10000000,
      flashBytes: 2048 * 1024,
      ramOrigin: 0x20000000,
      ramBytes: 256 * 1024,
      flashReserved: 0x100,
    },
    clockHz: 133_000_000,
    cycles: 'emulated',
    uncounted: [
      'XIP flash cache misses: code and constants in flash are read as fast as SRAM (the 16 KB cache misses cost tens of cycles each on a board)',
      'bus contention between the core, DMA and the second core',
    ],
    // 12 MHz x 133 = 1596 MHz VCO (the datasheet's maximum), / 6 / 2 = 133 MHz.
    board: {
      name: 'Raspberry Pi Pico',
      xoscHz: 12_000_000,
      pllFbdiv: 133,
      pllPostdiv1: 6,
      pllPostdiv2: 2,
      uartBaud: 115_200,
    },
  },
  // A generic Cortex-M0 part (nRF51/SAMD21 class): 256 KB flash at 0, 32 KB RAM, 48 MHz.
  'cortex-m0': {
    name: 'cortex-m0',
    label: 'Cortex-M0 (estimate from the emulated M0+)',
    cpu: 'cortex-m0',
    core: 'Cortex-M0',
    memory: {
      flashOrigin: 0,
      flashBytes: 256 * 1024,
      ramOrigin: 0x20000000,
      ramBytes: 32 * 1024,
      flashReserved: 0,
    },
    clockHz: 48_000_000,
    cycles: 'm0-estimate',
    uncounted: [
      'flash wait states (0-1 per access at this clock on most parts)',
      'the M0 timings are estimated: the emulated M0+ count plus one cycle per taken branch',
    ],
  },
};

export const TARGET_NAMES = Object.keys(TARGETS) as TargetName[];

/** The target the CLI and the pipeline use unless told otherwise. */
export const DEFAULT_TARGET: TargetName = 'rp2040';

/** The memory map the emulator runs (RP2040's), for firmware of any target. */
export const EMULATOR_MEMORY: MemoryMap = TARGETS.rp2040.memory;

/** The target called `name`; a clear error names the option and the choices. */
export function getTarget(name: string, where = 'deploy: target'): Target {
  if (!Object.hasOwn(TARGETS, name))
    throw new TinypruneError(`${where} expects ${TARGET_NAMES.join(' or ')}, got "${name}"`);
  return TARGETS[name as TargetName];
}

/** A one-line note on how the cycle counts of `t` were obtained, for reports. */
export function cycleNote(t: Target): string {
  const base =
    'Cycles are counted by the rp2040js emulator (Cortex-M0+ timings, no flash wait states)';
  return t.cycles === 'emulated'
    ? `${base}; not counted: ${t.uncounted.join('; ')}.`
    : `${base}; ${t.label}: ${t.uncounted.join('; ')}.`;
}
