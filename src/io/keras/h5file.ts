// Opening HDF5 bytes with h5wasm, safely.
//
// h5wasm's ESM build keeps files in an in-memory Emscripten file system (its Node build maps the
// host file system instead), so the bytes never touch the disk. HDF5's C library prints error
// stacks to stderr and, on badly corrupted files, can trap inside wasm (out-of-bounds access,
// abort) leaving that instance unusable: we silence its stderr, turn every failure into a
// TinypruneError, and start a fresh wasm instance after a trap.
import type * as H5 from 'h5wasm';
import { TinypruneError } from '../../graph/types.js';

type H5Lib = typeof H5;

/** The parts of the Emscripten FS API used to redirect a file descriptor. */
interface EmscriptenStreams {
  getStream(fd: number): unknown;
  close(stream: unknown): void;
  open(path: string, flags: string): unknown;
}

let instance: Promise<H5Lib> | undefined;
let instanceCount = 0;
let fileCount = 0;

async function loadInstance(): Promise<H5Lib> {
  // A query string makes Node evaluate the module again: a new wasm instance with its own heap.
  const url = `${import.meta.resolve('h5wasm')}?instance=${++instanceCount}`;
  const lib = (await import(url)) as H5Lib;
  const module = await lib.ready;
  // Route the C library's stderr (fd 2: HDF5-DIAG error stacks) to /dev/null.
  const fs = module.FS as unknown as EmscriptenStreams;
  fs.close(fs.getStream(2));
  fs.open('/dev/null', 'w');
  return lib;
}

function h5lib(): Promise<H5Lib> {
  instance ??= loadInstance();
  return instance;
}

/** Where the HDF5 superblock says the file ends, or undefined if it cannot tell. */
export function hdf5DeclaredLength(bytes: Uint8Array): number | undefined {
  const signature = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
  // The superblock sits at 0, 512, 1024, 2048… (after an optional user block).
  for (let at = 0; at + 64 <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (!signature.every((b, i) => bytes[at + i] === b)) continue;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, bytes.length - at);
    const version = view.getUint8(8);
    const readAddress = (offset: number, size: number): number => {
      let v = 0;
      for (let i = size - 1; i >= 0; i--) v = v * 256 + view.getUint8(offset + i);
      return v;
    };
    if (version === 0 || version === 1) {
      const size = view.getUint8(13);
      if (size !== 4 && size !== 8) return undefined;
      const first = version === 0 ? 24 : 28;
      const base = readAddress(first, size);
      return base + readAddress(first + 2 * size, size);
    }
    if (version === 2 || version === 3) {
      const size = view.getUint8(9);
      if (size !== 4 && size !== 8) return undefined;
      const base = readAddress(12, size);
      return base + readAddress(12 + 2 * size, size);
    }
    return undefined;
  }
  return undefined;
}

/** Corrupted names and JSON snippets may hold control characters: show them escaped. */
function oneLine(message: string): string {
  return message.replace(
    /[\x00-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0]!;
  return String(e).split('\n')[0]!;
}

/**
 * Opens `bytes` as an HDF5 file and runs `use` on it (synchronously: h5wasm reads are
 * synchronous); the file is closed and removed afterwards. Any failure that is not already a
 * TinypruneError becomes one naming `source`.
 */
export async function withH5File<T>(
  bytes: Uint8Array,
  source: string,
  use: (file: H5.File) => T,
): Promise<T> {
  const declared = hdf5DeclaredLength(bytes);
  if (declared !== undefined && declared > bytes.length)
    throw new TinypruneError(
      `${source}: the HDF5 file is truncated: its superblock says ${declared} bytes, found ${bytes.length}`,
    );
  const lib = await h5lib();
  const path = `/tinyprune-${process.pid}-${++fileCount}.h5`;
  const fs = lib.FS!;
  let file: H5.File | undefined;
  try {
    fs.writeFile(path, bytes);
    try {
      file = new lib.File(path, 'r');
    } catch (e) {
      throw new TinypruneError(
        `${source}: cannot open as an HDF5 file (corrupted or not HDF5?): ${describe(e)}`,
      );
    }
    return use(file);
  } catch (e) {
    if ((e instanceof Error && e.name === 'RuntimeError') || /abort/i.test(describe(e)))
      instance = undefined;
    if (e instanceof TinypruneError) throw new TinypruneError(oneLine(e.message), e.exitCode);
    throw new TinypruneError(
      oneLine(`${source}: cannot read the HDF5 file (corrupted?): ${describe(e)}`),
    );
  } finally {
    try {
      file?.close();
    } catch {
      instance = undefined; // a failing close means the instance's state is suspect
    }
    try {
      fs.unlink(path);
    } catch {
      // the file was never written
    }
  }
}
