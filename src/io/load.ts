import { extname } from 'node:path';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { checkGraph } from '../graph/validate.js';
import { readFileBounded } from './files.js';
import { readTflite } from './tflite/reader.js';
import { readKerasH5 } from './keras/reader.js';
import { readOnnx } from './onnx/reader.js';

export type ModelFormat = 'tflite' | 'keras-h5' | 'onnx';

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/** Tells the format from the file's magic bytes (not its extension). */
export function detectFormat(bytes: Uint8Array): ModelFormat | undefined {
  if (bytes.length >= 8 && String.fromCharCode(...bytes.subarray(4, 8)) === 'TFL3') return 'tflite';
  if (HDF5_SIGNATURE.every((b, i) => bytes[i] === b)) return 'keras-h5';
  return undefined;
}

/** Reads a model file (.tflite, Keras .h5 or .onnx) into a Graph; user mistakes become TinypruneErrors. */
export async function loadModel(path: string): Promise<Graph> {
  // Regular file under the size limit (io/files.ts): no FIFO hang, no multi-GB read.
  const bytes = readFileBounded(path, 'model');
  const format = detectFormat(bytes);
  // Every importer's result passes the boundary check (graph/validate.ts) before any stage.
  if (format === 'tflite') return checkGraph(readTflite(bytes, path), path);
  if (format === 'keras-h5') return checkGraph(await readKerasH5(bytes, path), path);
  const ext = extname(path).toLowerCase();
  // ONNX (protobuf) has no magic bytes: the extension decides.
  if (ext === '.onnx') return checkGraph(readOnnx(bytes, path), path);
  throw new TinypruneError(
    `${path} is not a model tinyprune can read: expected a TFLite flatbuffer ("TFL3" at byte 4), a Keras HDF5 file or an .onnx file${
      bytes.length === 0
        ? ', found an empty file'
        : ext
          ? `, found a ${ext} file with neither signature`
          : ''
    }`,
  );
}
