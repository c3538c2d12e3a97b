// A bounds-checked protocol-buffers reader: every length and offset is checked against the
// buffer before it is used, so a truncated or damaged file gives a ProtoError, never an
// out-of-range read, a huge allocation or a loop that does not advance.

/** A malformed message; the caller adds the file name. */
export class ProtoError extends Error {}

export const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** One field occurrence: varints as numbers (int64 beyond 2^53 lose precision, see below). */
export interface Field {
  wire: number;
  /** varint / fixed values. */
  num: number;
  /** length-delimited payload (a view into the file). */
  bytes?: Uint8Array;
}

/** The fields of one message, by field number, in file order. */
export type Message = Map<number, Field[]>;

const TWO_32 = 4294967296;

/**
 * Decodes one message level. Varints are read as signed 64-bit two's complement and returned as
 * the nearest double: ONNX int64 values are dims, attributes and slice bounds, where only
 * values beyond ±2^53 (INT64_MAX/MIN sentinels) round, which the readers clamp anyway.
 */
export function decodeMessage(buf: Uint8Array, what: string): Message {
  const fields: Message = new Map();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const varint = (): number => {
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtoError(`${what}: truncated varint at byte ${pos}`);
      const b = buf[pos++]!;
      if (i < 4) lo += (b & 0x7f) * 2 ** (7 * i);
      else if (i === 4) {
        lo += (b & 0x0f) * 2 ** 28;
        hi += (b & 0x70) >> 4;
      } else hi += (b & 0x7f) * 2 ** (7 * i - 32);
      if ((b & 0x80) === 0) {
        hi = hi % TWO_32;
        return hi >= 2 ** 31 ? (hi - TWO_32) * TWO_32 + lo : hi * TWO_32 + lo;
      }
    }
    throw new ProtoError(`${what}: varint longer than 10 bytes at byte ${pos}`);
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field < 1 || !Number.isSafeInteger(key))
      throw new ProtoError(`${what}: invalid field number ${field} at byte ${pos}`);
    let f: Field;
    switch (wire) {
      case WIRE.varint:
        f = { wire, num: varint() };
        break;
      case WIRE.fixed64:
        if (pos + 8 > buf.length) throw new ProtoError(`${what}: truncated fixed64 at byte ${pos}`);
        f = { wire, num: view.getFloat64(pos, true), bytes: buf.subarray(pos, pos + 8) };
        pos += 8;
        break;
      case WIRE.fixed32:
        if (pos + 4 > buf.length) throw new ProtoError(`${what}: truncated fixed32 at byte ${pos}`);
        f = { wire, num: view.getFloat32(pos, true), bytes: buf.subarray(pos, pos + 4) };
        pos += 4;
        break;
      case WIRE.bytes: {
        const len = varint();
        if (len < 0 || pos + len > buf.length)
          throw new ProtoError(
            `${what}: field ${field} claims ${len} bytes at byte ${pos}, only ${buf.length - pos} remain`,
          );
        f = { wire, num: len, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      default:
        throw new ProtoError(
          `${what}: unsupported wire type ${wire} (field ${field}) at byte ${pos}`,
        );
    }
    const list = fields.get(field);
    if (list) list.push(f);
    else fields.set(field, [f]);
  }
  return fields;
}

function last(m: Message, field: number): Field | undefined {
  const l = m.get(field);
  return l?.[l.length - 1];
}

export function getInt(m: Message, field: number, what: string): number | undefined {
  const f = last(m, field);
  if (!f) return undefined;
  if (f.wire !== WIRE.varint) throw new ProtoError(`${what}: expected an integer`);
  return f.num;
}

export function getFloat(m: Message, field: number, what: string): number | undefined {
  const f = last(m, field);
  if (!f) return undefined;
  if (f.wire !== WIRE.fixed32) throw new ProtoError(`${what}: expected a float`);
  return f.num;
}

export function getBytes(m: Message, field: number, what: string): Uint8Array | undefined {
  const f = last(m, field);
  if (!f) return undefined;
  if (f.wire !== WIRE.bytes) throw new ProtoError(`${what}: expected a length-delimited field`);
  return f.bytes!;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function getString(m: Message, field: number, what: string): string | undefined {
  const b = getBytes(m, field, what);
  return b === undefined ? undefined : utf8.decode(b);
}

export function getStrings(m: Message, field: number, what: string): string[] {
  return (m.get(field) ?? []).map((f) => {
    if (f.wire !== WIRE.bytes) throw new ProtoError(`${what}: expected strings`);
    return utf8.decode(f.bytes!);
  });
}

export function getMessages(m: Message, field: number, what: string): Uint8Array[] {
  return (m.get(field) ?? []).map((f) => {
    if (f.wire !== WIRE.bytes) throw new ProtoError(`${what}: expected a message`);
    return f.bytes!;
  });
}

/** Repeated integers, packed or one per tag (parsers must accept both). */
export function getInts(m: Message, field: number, what: string): number[] {
  const out: number[] = [];
  for (const f of m.get(field) ?? []) {
    if (f.wire === WIRE.varint) out.push(f.num);
    else if (f.wire === WIRE.bytes) {
      // A packed run is a message of varints without keys: decode it by prefixing nothing.
      const b = f.bytes!;
      let pos = 0;
      while (pos < b.length) {
        let v = 0;
        let hi = 0;
        let i = 0;
        for (; ; i++) {
          if (i >= 10 || pos >= b.length) throw new ProtoError(`${what}: bad packed varint`);
          const byte = b[pos++]!;
          if (i < 4) v += (byte & 0x7f) * 2 ** (7 * i);
          else if (i === 4) {
            v += (byte & 0x0f) * 2 ** 28;
            hi += (byte & 0x70) >> 4;
          } else hi += (byte & 0x7f) * 2 ** (7 * i - 32);
          if ((byte & 0x80) === 0) break;
        }
        hi = hi % TWO_32;
        out.push(hi >= 2 ** 31 ? (hi - TWO_32) * TWO_32 + v : hi * TWO_32 + v);
      }
    } else throw new ProtoError(`${what}: expected integers`);
  }
  return out;
}

/** Repeated float32 (wire type 5), packed or not. */
export function getFloats(m: Message, field: number, what: string): number[] {
  const out: number[] = [];
  for (const f of m.get(field) ?? []) {
    if (f.wire === WIRE.fixed32) out.push(f.num);
    else if (f.wire === WIRE.bytes) {
      const b = f.bytes!;
      if (b.length % 4 !== 0)
        throw new ProtoError(`${what}: packed floats of ${b.length} bytes (not a multiple of 4)`);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.length; i += 4) out.push(v.getFloat32(i, true));
    } else throw new ProtoError(`${what}: expected floats`);
  }
  return out;
}

/** Repeated double (wire type 1), packed or not. */
export function getDoubles(m: Message, field: number, what: string): number[] {
  const out: number[] = [];
  for (const f of m.get(field) ?? []) {
    if (f.wire === WIRE.fixed64) out.push(f.num);
    else if (f.wire === WIRE.bytes) {
      const b = f.bytes!;
      if (b.length % 8 !== 0)
        throw new ProtoError(`${what}: packed doubles of ${b.length} bytes (not a multiple of 8)`);
      const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
      for (let i = 0; i < b.length; i += 8) out.push(v.getFloat64(i, true));
    } else throw new ProtoError(`${what}: expected doubles`);
  }
  return out;
}
