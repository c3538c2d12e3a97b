// A bounds-checked flatbuffer reader on top of the `flatbuffers` runtime's ByteBuffer.
// Every offset is checked against the file size before it is read and every vector length is
// checked against the bytes that remain, so a truncated or corrupt file raises a
// FlatbufferError (never a RangeError, never an unbounded loop).

import { ByteBuffer } from 'flatbuffers';

export class FlatbufferError extends Error {}

export interface VectorRef {
  /** Absolute position of the first element. */
  start: number;
  length: number;
}

export class FbReader {
  readonly bb: ByteBuffer;
  readonly size: number;
  private readonly utf8 = new TextDecoder('utf-8');

  constructor(readonly bytes: Uint8Array) {
    this.bb = new ByteBuffer(bytes);
    this.size = bytes.length;
  }

  /** Throws unless [offset, offset + length) lies inside the file. */
  check(offset: number, length: number, what: string): void {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    )
      throw new FlatbufferError(
        `${what} at byte ${offset} (${length} bytes) lies outside the ${this.size}-byte file`,
      );
  }

  u8(pos: number): number {
    this.check(pos, 1, 'byte');
    return this.bb.readUint8(pos);
  }
  u16(pos: number): number {
    this.check(pos, 2, 'uint16');
    return this.bb.readUint16(pos);
  }
  i32(pos: number): number {
    this.check(pos, 4, 'int32');
    return this.bb.readInt32(pos);
  }
  u32(pos: number): number {
    this.check(pos, 4, 'uint32');
    return this.bb.readUint32(pos);
  }

  /** The root table (the uoffset at byte 0). */
  root(what: string): FbTable {
    this.check(0, 8, 'file header');
    return this.table(this.u32(0), what);
  }

  table(pos: number, what: string): FbTable {
    this.check(pos, 4, what);
    const vtable = pos - this.bb.readInt32(pos);
    this.check(vtable, 4, `${what} vtable`);
    const vtableSize = this.bb.readUint16(vtable);
    const objectSize = this.bb.readUint16(vtable + 2);
    if (vtableSize < 4 || vtableSize % 2 !== 0 || objectSize < 4)
      throw new FlatbufferError(
        `${what} at byte ${pos} has a malformed vtable (size ${vtableSize}, object size ${objectSize})`,
      );
    this.check(vtable, vtableSize, `${what} vtable`);
    this.check(pos, objectSize, what);
    return new FbTable(this, pos, vtable, vtableSize, objectSize, what);
  }

  decodeUtf8(start: number, length: number): string {
    return this.utf8.decode(this.bytes.subarray(start, start + length));
  }
}

export class FbTable {
  constructor(
    readonly r: FbReader,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableSize: number,
    private readonly objectSize: number,
    readonly what: string,
  ) {}

  /** Absolute position of field `id` (width bytes), or 0 when the field is absent. */
  private field(id: number, width: number): number {
    const slot = 4 + 2 * id;
    if (slot + 2 > this.vtableSize) return 0;
    const off = this.r.bb.readUint16(this.vtable + slot);
    if (off === 0) return 0;
    if (off + width > this.objectSize)
      throw new FlatbufferError(`${this.what}: field ${id} lies outside its table`);
    return this.pos + off;
  }

  has(id: number): boolean {
    return this.field(id, 1) !== 0;
  }

  u8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p ? this.r.bb.readUint8(p) : def;
  }
  i8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p ? this.r.bb.readInt8(p) : def;
  }
  bool(id: number, def = false): boolean {
    const p = this.field(id, 1);
    return p ? this.r.bb.readUint8(p) !== 0 : def;
  }
  i32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p ? this.r.bb.readInt32(p) : def;
  }
  u32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p ? this.r.bb.readUint32(p) : def;
  }
  f32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p ? this.r.bb.readFloat32(p) : def;
  }
  /** A ulong field as a number (exact up to 2^53; larger values are out of any file's range). */
  u64(id: number, def = 0): number {
    const p = this.field(id, 8);
    return p ? Number(this.r.bb.readUint64(p)) : def;
  }

  /** Absolute position of the object a uoffset field points to, or 0 when absent. */
  private ref(id: number, what: string): number {
    const p = this.field(id, 4);
    if (!p) return 0;
    const target = p + this.r.bb.readUint32(p);
    this.r.check(target, 4, `${this.what}: ${what}`);
    return target;
  }

  table(id: number, what: string): FbTable | undefined {
    const p = this.ref(id, what);
    return p ? this.r.table(p, `${this.what}: ${what}`) : undefined;
  }

  vector(id: number, elemSize: number, what: string): VectorRef | undefined {
    const p = this.ref(id, what);
    if (!p) return undefined;
    const length = this.r.bb.readUint32(p);
    this.r.check(p + 4, length * elemSize, `${this.what}: ${what} (${length} elements)`);
    return { start: p + 4, length };
  }

  string(id: number, what: string): string | undefined {
    const v = this.vector(id, 1, what);
    return v ? this.r.decodeUtf8(v.start, v.length) : undefined;
  }

  bytes(id: number, what: string): Uint8Array | undefined {
    const v = this.vector(id, 1, what);
    return v ? this.r.bytes.subarray(v.start, v.start + v.length) : undefined;
  }

  int32s(id: number, what: string): number[] | undefined {
    const v = this.vector(id, 4, what);
    if (!v) return undefined;
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.bb.readInt32(v.start + 4 * i);
    return out;
  }

  float32s(id: number, what: string): number[] | undefined {
    const v = this.vector(id, 4, what);
    if (!v) return undefined;
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.r.bb.readFloat32(v.start + 4 * i);
    return out;
  }

  int64s(id: number, what: string): number[] | undefined {
    const v = this.vector(id, 8, what);
    if (!v) return undefined;
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = Number(this.r.bb.readInt64(v.start + 8 * i));
    return out;
  }

  /** A vector of tables; each element is parsed (and checked) when `at` is called. */
  tables(id: number, what: string): { length: number; at(i: number): FbTable } {
    const v = this.vector(id, 4, what);
    const r = this.r;
    const parent = this.what;
    return {
      length: v?.length ?? 0,
      at(i: number): FbTable {
        const p = v!.start + 4 * i;
        const target = p + r.bb.readUint32(p);
        return r.table(target, `${parent}: ${what}[${i}]`);
      },
    };
  }
}
