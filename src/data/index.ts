// Datasets and the audio/image frontends.
export * from './random.js';
export * from './fft.js';
export * from './frontend.js';
export * from './quantize.js';
export * from './wav.js';
export * from './dataset.js';
export * from './augment-audio.js';
export * from './augment-image.js';
export * from './kws.js';
export * from './vww.js';
export * from './ic.js';
export * from './open.js';
export * from './synthetic.js';
export * from './kinds.js';
