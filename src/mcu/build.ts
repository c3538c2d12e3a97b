// Cross-compiles firmware with arm-none-eabi-gcc for a Cortex-M0/M0+ memory map and reports its
// sizes from the ELF sections.
import { spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { removeStaleTemporaries, temporaryPath } from '../io/atomic.js';
import { TinypruneError } from '../graph/types.js';
import { parseElf, type ElfFile } from './elf.js';
import { linkerScript, RUNTIME_H, STARTUP_C } from './runtime.js';
import type { MemoryMap, Target } from './targets.js';

export { EMULATOR_MEMORY, TARGETS, type Target, type TargetName } from './targets.js';

export const GCC = 'arm-none-eabi-gcc';

const INSTALL =
  'install the Arm GNU toolchain (Debian/Ubuntu: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)';

/**
 * Finds arm-none-eabi-gcc on PATH (or `env.PATH`): the first executable file of that name, as a
 * shell would. A clear one-line error says what was found instead (a directory, a file that is
 * not executable) or how to install it.
 */
export function findToolchain(env: NodeJS.ProcessEnv = process.env): string {
  let unusable: string | undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, GCC);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue;
    }
    if (!st.isFile()) {
      unusable ??= `${p} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`;
      continue;
    }
    try {
      accessSync(p, constants.X_OK);
    } catch {
      unusable ??= `${p} is not executable`;
      continue;
    }
    return p;
  }
  throw new TinypruneError(
    unusable
      ? `${GCC} on PATH: ${unusable}, expected the compiler's executable file; ${INSTALL} or fix PATH`
      : `${GCC} not found on PATH: ${INSTALL}`,
  );
}

/**
 * A toolchain that cannot build anything (no C library headers or newlib, no libgcc, a compiler
 * that does not run) as one line naming it and what was expected; undefined for other failures
 * (those are ours: the full compiler output is kept for them).
 */
export function toolchainProblem(
  gcc: string,
  stderr: string,
  error?: NodeJS.ErrnoException,
): string | undefined {
  if (error) return `${gcc} could not be run (${error.code ?? error.message}): ${INSTALL}`;
  const header =
    /fatal error: ([\w./+-]+\.h): No such file or directory|no include path in which to search for ([\w./+-]+\.h)/.exec(
      stderr,
    );
  if (header)
    return `${gcc} has no C library headers (${header[1] ?? header[2]} not found), expected a toolchain with newlib: ${INSTALL}`;
  const lib = /cannot find -l(\S+)/.exec(stderr);
  if (lib)
    return `${gcc} cannot find the library ${lib[1]}, expected a complete toolchain (libgcc, newlib): ${INSTALL}`;
  const part = /cannot execute '([^']+)'|installation problem, cannot exec '([^']+)'/.exec(stderr);
  if (part)
    return `${gcc} cannot run its ${part[1] ?? part[2]}, expected a complete toolchain: ${INSTALL}`;
  return undefined;
}

export interface FirmwareSizes {
  /** Bytes in flash: code + constants + .data initialisers. */
  flash: number;
  text: number;
  rodata: number;
  data: number;
  bss: number;
  /** Harness-only buffers (input/output exchange), not part of the model's RAM. */
  noinit: number;
}

export function elfSizes(elf: ElfFile): FirmwareSizes {
  const size = (name: string) => elf.sections.find((s) => s.name === name)?.size ?? 0;
  const text = size('.text') + size('.ARM.exidx');
  const rodata = size('.rodata');
  const data = size('.data');
  return {
    flash: text + rodata + data,
    text,
    rodata,
    data,
    bss: size('.bss'),
    noinit: size('.noinit'),
  };
}

export interface CompileOptions {
  /** Directory holding the C sources; the linker script and runtime are written there too. */
  dir: string;
  sources: string[];
  cpu: Target['cpu'];
  memory: MemoryMap;
  /** Output ELF path. */
  out: string;
  optimisation?: '-O2' | '-O3' | '-Os';
  defines?: Record<string, string | number>;
  env?: NodeJS.ProcessEnv;
  /** Name used in error messages, e.g. the model. */
  label?: string;
  /** Start-up code (default: the semihosting runtime for emulators and QEMU). */
  startup?: { file: string; text: string };
}

export interface CompileResult {
  elfPath: string;
  elf: ElfFile;
  bytes: Uint8Array;
  sizes: FirmwareSizes;
}

/** Writes the runtime next to the sources, then compiles and links one ELF. */
export function compileFirmware(o: CompileOptions): CompileResult {
  const gcc = findToolchain(o.env);
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, 'tp_runtime.h'), RUNTIME_H);
  const startup = o.startup ?? { file: 'tp_startup.c', text: STARTUP_C };
  writeFileSync(join(o.dir, startup.file), startup.text);
  const ld = `${o.out.replace(/\.elf$/, '')}.ld`;
  writeFileSync(ld, linkerScript(o.memory));
  // Linked to a temporary name, then renamed: a killed build never leaves a partial ELF under its
  // name; what an earlier killed build left here is removed first.
  removeStaleTemporaries(dirname(o.out));
  const tmp = temporaryPath(o.out);
  const args = [
    `-mcpu=${o.cpu}`,
    '-mthumb',
    o.optimisation ?? '-O2',
    '-std=c99',
    '-ffreestanding',
    '-fno-tree-loop-distribute-patterns',
    '-ffunction-sections',
    '-fdata-sections',
    '-Wall',
    '-Wno-unused-function',
    '-Wno-unused-const-variable',
    ...Object.entries(o.defines ?? {}).map(([k, v]) => `-D${k}=${v}`),
    '-nostdlib',
    '-nostartfiles',
    '-Wl,--gc-sections',
    `-T${ld}`,
    '-o',
    tmp,
    ...o.sources.map((s) => join(o.dir, s)),
    join(o.dir, startup.file),
    '-lgcc',
  ];
  const r = spawnSync(gcc, args, { cwd: o.dir, encoding: 'utf8', env: o.env ?? process.env });
  if (r.status !== 0) {
    const broken = toolchainProblem(gcc, r.stderr ?? '', r.error);
    if (broken) throw new TinypruneError(broken);
    const text = `${r.stderr ?? ''}${r.error?.message ?? ''}`;
    const overflow = /region `(\w+)' overflowed by (\d+) bytes/.exec(text);
    if (overflow)
      throw new TinypruneError(
        `${o.label ?? o.out}: does not fit the target: ${overflow[1]} overflowed by ${overflow[2]} bytes (${overflow[1] === 'RAM' ? o.memory.ramBytes : o.memory.flashBytes} bytes available)`,
      );
    throw new Error(`${GCC} failed for ${o.out}:\n${text.slice(0, 4000)}`);
  }
  renameSync(tmp, o.out);
  const bytes = new Uint8Array(readFileSync(o.out));
  const elf = parseElf(bytes, o.out);
  return { elfPath: o.out, elf, bytes, sizes: elfSizes(elf) };
}
