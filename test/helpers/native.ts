import { loadNativeKernels, type NativeKernels } from '../../src/data/nativeKernels.js';

const loaded = loadNativeKernels();

/** The native kernels (native/kernels), when built; tests compare them with the JS versions. */
export const nativeKernels: NativeKernels | undefined = loaded.addon;

/** Pass as the `skip` option of a test that needs the native kernels. */
export const needsNativeKernels: string | false = loaded.addon
  ? false
  : `native kernels not loaded (${loaded.error}); run npm run bootstrap`;
