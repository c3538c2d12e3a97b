// UF2, the file a Raspberry Pi Pico's boot ROM accepts on its USB drive: 512-byte blocks, each
// carrying 256 bytes of flash at a target address. Also the flash image of an ELF (segments at
// their load addresses) and the CRC the RP2040 boot ROM checks over the boot loader.
import { TinypruneError } from '../graph/types.js';
import type { ElfFile } from './elf.js';

const MAGIC_START0 = 0x0a324655;
const MAGIC_START1 = 0x9e5d5157;
const MAGIC_END = 0x0ab16f30;
/** The block's last header word is a family ID (not a file size). */
const FLAG_FAMILY_ID = 0x2000;
export const RP2040_FAMILY_ID = 0xe48bff56;
const PAYLOAD = 256;

/** CRC-32/MPEG-2: polynomial 0x04C11DB7, init 0xFFFFFFFF, MSB first, no final XOR. */
export function crc32Mpeg2(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

/**
 * The flash contents of an ELF's segments loaded at `origin` and above (the .data initialisers
 * included), from `origin` to the last byte; gaps read 0xFF, as erased flash does.
 */
export function flashImage(elf: ElfFile, origin: number, flashBytes: number): Uint8Array {
  const segs = elf.segments.filter(
    (s) => s.data.length && s.paddr >= origin && s.paddr < origin + flashBytes,
  );
  const end = Math.max(0, ...segs.map((s) => s.paddr + s.data.length - origin));
  const image = new Uint8Array(end).fill(0xff);
  for (const s of segs) image.set(s.data, s.paddr - origin);
  return image;
}

/** A UF2 file writing `image` to flash at `address` (256-byte blocks, RP2040 family). */
export function toUf2(image: Uint8Array, address: number, familyId = RP2040_FAMILY_ID): Uint8Array {
  const n = Math.ceil(image.length / PAYLOAD);
  const out = new Uint8Array(n * 512);
  const view = new DataView(out.buffer);
  for (let k = 0; k < n; k++) {
    const o = k * 512;
    const words = [
      MAGIC_START0,
      MAGIC_START1,
      FLAG_FAMILY_ID,
      address + k * PAYLOAD,
      PAYLOAD,
      k,
      n,
      familyId,
    ];
    words.forEach((w, i) => view.setUint32(o + 4 * i, w >>> 0, true));
    const chunk = image.subarray(k * PAYLOAD, (k + 1) * PAYLOAD);
    out.set(chunk, o + 32);
    if (chunk.length < PAYLOAD) out.fill(0xff, o + 32 + chunk.length, o + 32 + PAYLOAD);
    view.setUint32(o + 508, MAGIC_END, true);
  }
  return out;
}

/** The flash contents a UF2 file writes, from `address` (checks magics and block numbering). */
export function fromUf2(file: Uint8Array, address: number, source = 'firmware.uf2'): Uint8Array {
  if (file.length === 0 || file.length % 512)
    throw new TinypruneError(`${source}: ${file.length} bytes is not a whole number of UF2 blocks`);
  const view = new DataView(file.buffer, file.byteOffset, file.length);
  const n = file.length / 512;
  let end = 0;
  const blocks: { at: number; data: Uint8Array }[] = [];
  for (let k = 0; k < n; k++) {
    const o = k * 512;
    const w = (i: number) => view.getUint32(o + 4 * i, true);
    if (
      w(0) !== MAGIC_START0 ||
      w(1) !== MAGIC_START1 ||
      view.getUint32(o + 508, true) !== MAGIC_END
    )
      throw new TinypruneError(`${source}: block ${k} has wrong UF2 magic numbers`);
    if (w(5) !== k || w(6) !== n)
      throw new TinypruneError(`${source}: block ${k} is numbered ${w(5)} of ${w(6)}`);
    const at = w(3) - address;
    const size = w(4);
    if (at < 0 || size > 476) throw new TinypruneError(`${source}: block ${k} outside flash`);
    blocks.push({ at, data: file.subarray(o + 32, o + 32 + size) });
    end = Math.max(end, at + size);
  }
  const image = new Uint8Array(end).fill(0xff);
  for (const b of blocks) image.set(b.data, b.at);
  return image;
}
