// Boots a flash image the way a board does: the RP2040 boot ROM (a file the caller supplies)
// runs first, checks boot2's CRC, runs it, and boot2 enters the application; UART0's bytes are
// collected. Simulated time follows clk_sys as the firmware configures it, so the 1 us TIMER
// reads what it would on the board.
import { BasePeripheral, RP2040 } from 'rp2040js';
import { TinypruneError } from '../graph/types.js';

const FLASH = 0x10000000;
const APP = FLASH + 0x100;

/**
 * VREG_AND_CHIP_RESET, which rp2040js leaves unimplemented (reads give 0xFFFFFFFF): the ROM reads
 * CHIP_RESET first, and a set PSM_RESTART_FLAG (a debugger's restart) sends it to wait for the
 * debugger. Here a power-on reset: HAD_POR set, the voltage regulator and brown-out registers at
 * their reset values.
 */
class ChipReset extends BasePeripheral {
  private regs = [0xb1, 0x91, 0x100];
  override readUint32(offset: number): number {
    return this.regs[offset >> 2] ?? 0;
  }
  override writeUint32(offset: number, value: number): void {
    if (offset < 8) this.regs[offset >> 2] = value;
  }
}

/**
 * The QSPI pins' IO registers (rp2040js leaves them unimplemented): the ROM drives the flash's
 * chip select through GPIO_QSPI_SS_CTRL's output override (2 = low, 3 = high).
 */
class QspiIo extends BasePeripheral {
  private regs = new Map<number, number>();
  constructor(
    mcu: RP2040,
    private readonly onSelect: (low: boolean) => void,
  ) {
    super(mcu, 'IO_QSPI');
  }
  override readUint32(offset: number): number {
    return this.regs.get(offset) ?? 0;
  }
  override writeUint32(offset: number, value: number): void {
    this.regs.set(offset, value);
    if (offset === 0x0c) this.onSelect(((value >> 8) & 3) === 2);
  }
}

/**
 * The SSI with a serial NOR flash behind it, for the ROM's reads in standard SPI mode (8-bit
 * frames, transmit and receive): each byte written to DR0 clocks one byte back. The flash answers
 * read (03h), fast read (0Bh), status (05h/35h) and JEDEC ID (9Fh); rp2040js's own SSI returns 0
 * for every byte, so the ROM would never see boot2. XIP reads after boot2 go straight to the
 * flash array (rp2040js), as before.
 */
class FlashSsi extends BasePeripheral {
  private regs = new Map<number, number>();
  private rx: number[] = [];
  private cmd: number[] = [];
  private addr = 0;
  constructor(
    mcu: RP2040,
    private readonly flash: Uint8Array,
  ) {
    super(mcu, 'SSI');
  }
  select(low: boolean): void {
    if (low) this.cmd = [];
  }
  private exchange(b: number): number {
    const c = this.cmd;
    c.push(b);
    const op = c[0]!;
    if (op === 0x03 || op === 0x0b) {
      if (c.length === 4) this.addr = (c[1]! << 16) | (c[2]! << 8) | c[3]!;
      const first = op === 0x03 ? 5 : 6;
      if (c.length >= first) return this.flash[this.addr++ & 0xffffff] ?? 0xff;
      return 0;
    }
    if (op === 0x9f) return [0, 0xef, 0x40, 0x15][c.length - 1] ?? 0;
    return 0; // status registers: not busy, no write in progress
  }
  override readUint32(offset: number): number {
    switch (offset) {
      case 0x60:
        return this.rx.shift() ?? 0;
      case 0x20: // TXFLR: transmitted at once
        return 0;
      case 0x24: // RXFLR
        return this.rx.length;
      case 0x28: // SR: TFNF | TFE | RFNE
        return 0x6 | (this.rx.length ? 0x8 : 0);
      default:
        return this.regs.get(offset) ?? 0;
    }
  }
  override writeUint32(offset: number, value: number): void {
    if (offset === 0x60) this.rx.push(this.exchange(value & 0xff));
    else {
      if (offset === 0x08 && !(value & 1)) this.rx = [];
      this.regs.set(offset, value);
    }
  }
}

export interface BootRun {
  /** Text written to UART0. */
  uart: string;
  /** Whether the core ever ran an instruction of the application (flash past boot2). */
  enteredApp: boolean;
  /** Whether it ran boot2's copy in SRAM (the ROM accepted the CRC). */
  ranBoot2: boolean;
  cycles: number;
  /** clk_sys at the end, in Hz. */
  clkSysHz: number;
  /** Why the run ended. */
  stop: 'text' | 'halted' | 'cycle-limit';
}

export interface BootOptions {
  /** Stop once UART0 has printed this. */
  until?: string;
  cycleLimit?: number;
}

/** Boots `flash` (contents from 0x10000000) through `bootrom` (16 KB, little-endian words). */
export function bootFlash(flash: Uint8Array, bootrom: Uint8Array, o: BootOptions = {}): BootRun {
  if (bootrom.length !== 16384)
    throw new TinypruneError(`boot ROM: expected 16384 bytes, found ${bootrom.length}`);
  const mcu = new RP2040();
  // The ROM touches peripherals rp2040js only partly models; their warnings are not errors here.
  mcu.logger = { debug() {}, info() {}, warn() {}, error() {} };
  mcu.loadBootrom(
    new Uint32Array(bootrom.buffer.slice(bootrom.byteOffset, bootrom.byteOffset + 16384)),
  );
  mcu.flash.set(flash);
  const peripherals = (mcu as unknown as { peripherals: Record<number, unknown> }).peripherals;
  peripherals[0x40064] = new ChipReset(mcu, 'VREG_AND_CHIP_RESET');
  const ssi = new FlashSsi(mcu, mcu.flash);
  peripherals[0x18000] = ssi;
  peripherals[0x40018] = new QspiIo(mcu, (low) => ssi.select(low));
  // The flash's chip select idles high (pulled up on the Pico): BOOTSEL is not held, so the ROM
  // boots from flash rather than entering USB boot.
  // (rp2040js starts the QSPI pads with input disabled; the chip's reset value enables it.)
  const ss = mcu.qspi[1]!;
  ss.padValue |= 0x40;
  ss.setInputValue(true);
  let uart = '';
  mcu.uart[0]!.onByte = (b: number) => {
    uart += String.fromCharCode(b);
  };
  const core = mcu.core;
  const clock = mcu.clock as unknown as { tick(n: number): void; nanosToNextAlarm: number };
  const limit = o.cycleLimit ?? 2_000_000_000;
  let cycles = 0;
  let enteredApp = false;
  let ranBoot2 = false;
  let stop: BootRun['stop'] = 'cycle-limit';
  let checkAt = 0;
  // Simulated time advances in batches of instructions (a TIMER read is at most one batch,
  // ~64 cycles, early): ticking the clock per instruction quarters the emulator's speed.
  let pending = 0;
  const flush = () => {
    if (pending) clock.tick((pending * 1e9) / mcu.clkSys);
    pending = 0;
  };
  while (cycles < limit) {
    if (core.waiting) {
      flush();
      const next = clock.nanosToNextAlarm;
      if (!(next > 0 && Number.isFinite(next))) {
        stop = 'halted';
        break;
      }
      clock.tick(next);
      continue;
    }
    for (let k = 0; k < 64 && !core.waiting; k++) {
      const pc = core.PC >>> 0;
      if (pc >= APP && pc < FLASH + 0x1000000) enteredApp = true;
      else if (pc >= 0x20041f00 && pc < 0x20042000) ranBoot2 = true;
      const c = core.executeInstruction();
      cycles += c;
      pending += c;
    }
    flush();
    if (o.until && uart.length !== checkAt) {
      checkAt = uart.length;
      if (uart.includes(o.until)) {
        stop = 'text';
        break;
      }
    }
  }
  return { uart, enteredApp, ranBoot2, cycles, clkSysHz: mcu.clkSys, stop };
}
