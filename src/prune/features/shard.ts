// One shard file of a feature store: a block of consecutive examples with their labels, their
// encoded features and (for distillation) the teacher's log-probabilities, closed by a sha256 of
// everything before it. A shard is written to a temporary name and renamed, so a killed writer
// leaves either a whole shard or none; a damaged one fails its checksum and is never decoded.
import { createHash } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../io/atomic.js';
import { decodeBlock, encodeBlock, encodedBytes, type Precision } from './codec.js';

const MAGIC = 0x53465054; // "TPFS" little-endian
const VERSION = 1;
const HASH_BYTES = 32;

export interface ShardHeader {
  /** Examples in this shard. */
  n: number;
  /** Feature values per example (0: no features stored). */
  dim: number;
  /** Channels (the last axis) of the features: the int8 scales are per channel. */
  channels: number;
  precision: Precision;
  /** Teacher log-probabilities per example (0: none). */
  teacherClasses: number;
  /** Byte length of the encoded features. */
  featureBytes: number;
}

export interface ShardData {
  y: Int32Array;
  /** n × dim float features (decoded), when the shard has any. */
  x?: Float32Array;
  teacher?: Float32Array;
}

/** A shard that fails its checks; the store rebuilds it. */
export class ShardError extends Error {}

const pad8 = (n: number) => (n + 7) & ~7;

/** Encodes a shard's bytes (header, sections, checksum). */
export function encodeShard(
  y: Int32Array,
  x: Float32Array | undefined,
  dim: number,
  channels: number,
  precision: Precision,
  teacher: Float32Array | undefined,
  teacherClasses: number,
): Uint8Array {
  const n = y.length;
  const featureBytes = x ? encodedBytes(n * dim, channels, precision) : 0;
  const header: ShardHeader = {
    n,
    dim: x ? dim : 0,
    channels: x ? channels : 0,
    precision,
    teacherClasses: teacher ? teacherClasses : 0,
    featureBytes,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const at = { header: 12, labels: pad8(12 + json.length) };
  const featAt = pad8(at.labels + 4 * n);
  const teachAt = pad8(featAt + featureBytes);
  const end = teachAt + (teacher ? 4 * n * teacherClasses : 0);
  const buf = new Uint8Array(end + HASH_BYTES);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, json.length, true);
  buf.set(json, 12);
  buf.set(new Uint8Array(y.buffer, y.byteOffset, 4 * n), at.labels);
  // Encoded in place: the shard is the only buffer of its size this allocates.
  if (x)
    encodeBlock(
      x.subarray(0, n * dim),
      channels,
      precision,
      buf.subarray(featAt, featAt + featureBytes),
    );
  if (teacher)
    buf.set(new Uint8Array(teacher.buffer, teacher.byteOffset, 4 * n * teacherClasses), teachAt);
  buf.set(createHash('sha256').update(buf.subarray(0, end)).digest(), end);
  return buf;
}

/** Writes a shard atomically. */
export function writeShard(file: string, bytes: Uint8Array): void {
  writeFileAtomic(file, bytes);
}

/** Checks a shard's bytes and returns its header; throws ShardError when damaged. */
export function checkShard(bytes: Uint8Array, file: string): ShardHeader {
  if (bytes.length < 12 + HASH_BYTES) throw new ShardError(`${file}: truncated shard`);
  const end = bytes.length - HASH_BYTES;
  const want = bytes.subarray(end);
  const got = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!got.equals(want)) throw new ShardError(`${file}: checksum mismatch`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== VERSION)
    throw new ShardError(`${file}: not a version-${VERSION} feature shard`);
  const len = dv.getUint32(8, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as ShardHeader;
}

/** Decodes a checked shard. `into` (n × dim floats) avoids an allocation per read. */
export function decodeShard(bytes: Uint8Array, file: string, into?: Float32Array): ShardData {
  const h = checkShard(bytes, file);
  const json = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  const labelsAt = pad8(12 + json);
  const featAt = pad8(labelsAt + 4 * h.n);
  const teachAt = pad8(featAt + h.featureBytes);
  // Copies: the file's buffer may be unaligned for typed views and is dropped after decoding.
  // (Uint8Array's slice copies; a Buffer's would share the file buffer's memory.)
  const copy = (a: number, b: number) => Uint8Array.prototype.slice.call(bytes, a, b).buffer;
  const y = new Int32Array(copy(labelsAt, labelsAt + 4 * h.n));
  let x: Float32Array | undefined;
  if (h.dim > 0) {
    x = into && into.length >= h.n * h.dim ? into.subarray(0, h.n * h.dim) : undefined;
    x ??= new Float32Array(h.n * h.dim);
    decodeBlock(
      bytes.subarray(featAt, featAt + h.featureBytes),
      h.n * h.dim,
      h.channels,
      h.precision,
      x,
    );
  }
  const teacher =
    h.teacherClasses > 0
      ? new Float32Array(copy(teachAt, teachAt + 4 * h.n * h.teacherClasses))
      : undefined;
  return { y, x, teacher };
}

/** A byte buffer reused from read to read (see readBytes). */
export interface ReadScratch {
  bytes?: Uint8Array;
}

/**
 * A file's bytes, read into `scratch`'s buffer (grown when too small; the result is a view of
 * it, valid until the next read with the same scratch). A pass over a large store reads
 * hundreds of MB of shards: a fresh buffer per shard left them for the collector to find, and
 * resident memory grew with the store.
 */
export async function readBytes(file: string, scratch: ReadScratch): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (!scratch.bytes || scratch.bytes.length < size) scratch.bytes = new Uint8Array(size);
    const out = scratch.bytes.subarray(0, size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await fh.read(out, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return out.subarray(0, got);
  } finally {
    await fh.close();
  }
}

/**
 * Reads and decodes a shard file; ShardError when it is damaged. With `scratch` the file is
 * read into a reused buffer (the decoded arrays never share its memory).
 */
export async function readShard(
  file: string,
  into?: Float32Array,
  scratch?: ReadScratch,
): Promise<ShardData> {
  return decodeShard(scratch ? await readBytes(file, scratch) : await readFile(file), file, into);
}
