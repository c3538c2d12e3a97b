// Runs a firmware ELF on the emulated RP2040 core (npm rp2040js) in-process, with ARM
// semihosting for output/exit, cycle marks (BKPT 0x01, id in r0) for per-layer timing, a cycle
// limit, taken-branch counting (for the Cortex-M0 estimate) and peak-stack measurement.
import { RP2040 } from 'rp2040js';
import { TinypruneError } from '../graph/types.js';
import { parseElf, symbolAddress, type ElfFile } from './elf.js';
import { STACK_PAINT } from './runtime.js';

const FLASH_START = 0x10000000;
const RAM_START = 0x20000000;

export interface Mark {
  id: number;
  cycles: number;
  /** Taken branches and other PC writes so far (each costs one more cycle on a Cortex-M0). */
  branches: number;
}

export interface FirmwareRun {
  exitCode: number;
  /** Text written through semihosting. */
  stdout: string;
  cycles: number;
  instructions: number;
  branches: number;
  marks: Mark[];
  /** Bytes of stack used at the deepest point (from the painted region). */
  peakStackBytes: number;
  /** Bytes read back from the requested symbols after the run. */
  outputs: Map<string, Uint8Array>;
}

export interface RunOptions {
  /** Bytes written to symbols before reset (the symbols must not be zeroed by startup). */
  inputs?: { symbol: string; bytes: Uint8Array }[];
  /** Symbols read back after the firmware exits; length defaults to the symbol's size. */
  outputs?: { symbol: string; length?: number }[];
  /** Stop with an error after this many cycles (default 500M). */
  cycleLimit?: number;
  /** Called after every instruction with its address and cycles (kernel profiling). */
  profile?: (pc: number, cycles: number) => void;
}

/** A failure of the firmware itself (fault, cycle limit): the message says which firmware. */
export class FirmwareError extends TinypruneError {}

export class Emulator {
  readonly elf: ElfFile;
  private readonly mcu = new RP2040();
  private readonly ramImage = new Uint8Array(264 * 1024);

  constructor(
    elfBytes: Uint8Array,
    readonly source = 'firmware',
  ) {
    this.elf = parseElf(elfBytes, source);
    const fail = (component: string, message: string) => {
      throw new FirmwareError(`${source}: emulator ${component}: ${message}`);
    };
    this.mcu.logger = { debug() {}, info() {}, warn: fail, error: fail };
    for (const seg of this.elf.segments) {
      if (seg.data.length === 0) continue;
      const a = seg.paddr;
      if (a >= FLASH_START && a + seg.data.length <= FLASH_START + this.mcu.flash.length)
        this.mcu.flash.set(seg.data, a - FLASH_START);
      else if (a >= RAM_START && a + seg.data.length <= RAM_START + this.ramImage.length)
        this.ramImage.set(seg.data, a - RAM_START);
      else
        throw new TinypruneError(
          `${source}: segment at 0x${a.toString(16)} (${seg.data.length} bytes) is outside the RP2040 flash (0x10000000) and SRAM (0x20000000): was it linked for another target?`,
        );
    }
  }

  run(opts: RunOptions = {}): FirmwareRun {
    const { mcu, elf, source } = this;
    const core = mcu.core;
    const limit = opts.cycleLimit ?? 500_000_000;
    mcu.sram.set(this.ramImage);
    for (const inp of opts.inputs ?? []) {
      const sym = elf.symbols.get(inp.symbol);
      if (!sym) throw new TinypruneError(`${source}: symbol "${inp.symbol}" not found`);
      if (sym.size && inp.bytes.length !== sym.size)
        throw new TinypruneError(
          `${source}: input for "${inp.symbol}" has ${inp.bytes.length} bytes, expected ${sym.size}`,
        );
      mcu.sram.set(inp.bytes, sym.value - RAM_START);
    }
    const vectors = elf.symbols.get('tp_vectors')?.value ?? elf.segments[0]?.paddr ?? FLASH_START;
    core.VTOR = vectors;
    core.reset();
    core.cycles = 0;

    let stdout = '';
    let exitCode: number | undefined;
    const marks: Mark[] = [];
    let branches = 0;
    const readString = (addr: number) => {
      let s = '';
      for (let c = mcu.readUint8(addr); c !== 0; c = mcu.readUint8(++addr))
        s += String.fromCharCode(c);
      return s;
    };
    mcu.onBreak = (code: number) => {
      const r = core.registers;
      if (code === 0x01) {
        marks.push({ id: r[0]!, cycles: core.cycles, branches });
      } else if (code === 0xab) {
        const op = r[0]!;
        const arg = r[1]!;
        if (op === 0x03) stdout += String.fromCharCode(mcu.readUint8(arg));
        else if (op === 0x04) stdout += readString(arg);
        else if (op === 0x05) {
          const buf = mcu.readUint32(arg + 4);
          const len = mcu.readUint32(arg + 8);
          for (let i = 0; i < len; i++) stdout += String.fromCharCode(mcu.readUint8(buf + i));
          r[0] = 0;
        } else if (op === 0x18) exitCode = arg === 0x20026 ? 0 : 1;
        else if (op === 0x20)
          exitCode = mcu.readUint32(arg) === 0x20026 ? mcu.readUint32(arg + 4) : 1;
        else
          throw new FirmwareError(`${source}: unsupported semihosting call 0x${op.toString(16)}`);
      } else if (code === 0xfe) {
        throw new FirmwareError(
          `${source}: firmware fault (HardFault or unexpected exception) near PC 0x${(core.PC >>> 0).toString(16)}`,
        );
      } else throw new FirmwareError(`${source}: unexpected BKPT 0x${code.toString(16)}`);
    };

    const flash16 = mcu.flash16;
    let instructions = 0;
    const profile = opts.profile;
    while (exitCode === undefined) {
      const pc = core.PC;
      if (profile) {
        const before = core.cycles;
        core.executeInstruction();
        profile(pc, core.cycles - before);
      } else core.executeInstruction();
      instructions++;
      const next = core.PC;
      if (next !== pc + 2 && next !== pc + 4) branches++;
      else if (next === pc + 4) {
        // A 16-bit branch that skips one halfword lands on pc+4 as well: tell by the opcode.
        const op = pc >= FLASH_START ? flash16[(pc - FLASH_START) >>> 1]! : core.readUint16(pc);
        const wide = op >>> 11 >= 0b11101;
        if (!wide) branches++;
      }
      if (core.cycles > limit)
        throw new FirmwareError(
          `${source}: firmware did not finish within the cycle limit of ${limit.toLocaleString('en-US')} cycles (PC 0x${(core.PC >>> 0).toString(16)})`,
        );
    }

    const outputs = new Map<string, Uint8Array>();
    for (const o of opts.outputs ?? []) {
      const addr = symbolAddress(elf, o.symbol, source);
      const len = o.length ?? elf.symbols.get(o.symbol)!.size;
      outputs.set(o.symbol, mcu.sram.slice(addr - RAM_START, addr - RAM_START + len));
    }
    return {
      exitCode,
      stdout,
      cycles: core.cycles,
      instructions,
      branches,
      marks,
      peakStackBytes: this.peakStack(),
      outputs,
    };
  }

  private peakStack(): number {
    const lo = this.elf.symbols.get('__stack_limit')?.value;
    const top = this.elf.symbols.get('__stack_top')?.value;
    if (lo === undefined || top === undefined) return 0;
    const view = this.mcu.sramView;
    for (let a = lo; a < top; a += 4)
      if (view.getUint32(a - RAM_START, true) !== STACK_PAINT) return top - a;
    return 0;
  }
}
