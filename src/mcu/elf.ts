// A minimal reader for the 32-bit little-endian ARM ELF files our toolchain produces: loadable
// segments, section sizes and the symbol table. Nothing else of the format is needed.
import { TinypruneError } from '../graph/types.js';

export interface ElfSegment {
  /** Load (physical) address: where the bytes live in flash/RAM at reset. */
  paddr: number;
  /** Run (virtual) address. */
  vaddr: number;
  /** The file bytes; the segment is zero-filled from data.length up to memSize. */
  data: Uint8Array;
  memSize: number;
}

export interface ElfSection {
  name: string;
  addr: number;
  size: number;
  /** SHT_NOBITS sections (.bss, .stack) occupy no file bytes. */
  nobits: boolean;
  /** SHF_ALLOC: the section occupies target memory. */
  alloc: boolean;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
}

export interface ElfFile {
  entry: number;
  segments: ElfSegment[];
  sections: ElfSection[];
  symbols: Map<string, ElfSymbol>;
}

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_NOBITS = 8;
const SHF_ALLOC = 2;
const EM_ARM = 40;

export function parseElf(bytes: Uint8Array, source = 'ELF file'): ElfFile {
  const bad = (what: string) =>
    new TinypruneError(`${source}: not a 32-bit ARM ELF file (${what})`);
  if (bytes.length < 52 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c)
    throw bad('missing \\x7fELF signature');
  if (bytes[4] !== 1) throw bad('not ELFCLASS32');
  if (bytes[5] !== 1) throw bad('not little-endian');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint16(18, true) !== EM_ARM) throw bad(`machine ${v.getUint16(18, true)}, expected ARM`);
  const entry = v.getUint32(24, true);
  const phoff = v.getUint32(28, true);
  const shoff = v.getUint32(32, true);
  const phentsize = v.getUint16(42, true);
  const phnum = v.getUint16(44, true);
  const shentsize = v.getUint16(46, true);
  const shnum = v.getUint16(48, true);
  const shstrndx = v.getUint16(50, true);

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (v.getUint32(o, true) !== PT_LOAD) continue;
    const offset = v.getUint32(o + 4, true);
    const vaddr = v.getUint32(o + 8, true);
    const paddr = v.getUint32(o + 12, true);
    const filesz = v.getUint32(o + 16, true);
    const memSize = v.getUint32(o + 20, true);
    if (offset + filesz > bytes.length) throw bad(`segment ${i} runs past the end of the file`);
    segments.push({ paddr, vaddr, data: bytes.subarray(offset, offset + filesz), memSize });
  }

  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    raw.push({
      nameOff: v.getUint32(o, true),
      type: v.getUint32(o + 4, true),
      flags: v.getUint32(o + 8, true),
      addr: v.getUint32(o + 12, true),
      offset: v.getUint32(o + 16, true),
      size: v.getUint32(o + 20, true),
      link: v.getUint32(o + 24, true),
      entsize: v.getUint32(o + 36, true),
    });
  }
  const cstr = (off: number) => {
    let end = off;
    while (end < bytes.length && bytes[end] !== 0) end++;
    return new TextDecoder().decode(bytes.subarray(off, end));
  };
  const shstr = raw[shstrndx];
  const sections: ElfSection[] = raw.map((s) => ({
    name: shstr ? cstr(shstr.offset + s.nameOff) : '',
    addr: s.addr,
    size: s.size,
    nobits: s.type === SHT_NOBITS,
    alloc: (s.flags & SHF_ALLOC) !== 0,
  }));

  const symbols = new Map<string, ElfSymbol>();
  for (const s of raw) {
    if (s.type !== SHT_SYMTAB) continue;
    const strtab = raw[s.link]!;
    const n = s.size / (s.entsize || 16);
    for (let i = 1; i < n; i++) {
      const o = s.offset + i * 16;
      const name = cstr(strtab.offset + v.getUint32(o, true));
      if (name)
        symbols.set(name, {
          name,
          value: v.getUint32(o + 4, true),
          size: v.getUint32(o + 8, true),
        });
    }
  }
  return { entry, segments, sections, symbols };
}

/** A symbol's address, or a clear error naming the firmware when it is missing. */
export function symbolAddress(elf: ElfFile, name: string, source = 'firmware'): number {
  const s = elf.symbols.get(name);
  if (!s) throw new TinypruneError(`${source}: symbol "${name}" not found in the ELF symbol table`);
  return s.value;
}
