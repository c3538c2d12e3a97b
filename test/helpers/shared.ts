import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

/** The read-only models and data beside the checkout (see ../shared/README.md). */
export const SHARED = fileURLToPath(new URL('../../../shared', import.meta.url));
export const MODELS = join(SHARED, 'models', 'mlperf_tiny');
export const DATA = join(SHARED, 'data');

export const hasShared = existsSync(join(MODELS, 'vww_96_float.tflite'));

/** Pass as the `skip` option of a test that needs ../shared. */
export const needsShared: string | false = hasShared
  ? false
  : `../shared is absent (expected at ${SHARED}): test needs the real models and data`;

export const model = (file: string) => join(MODELS, file);
export const data = (...parts: string[]) => join(DATA, ...parts);
