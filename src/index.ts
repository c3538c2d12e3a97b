// The tinyprune library API: everything the CLI does is reachable from here.
export * from './graph/types.js';
export * from './graph/graph.js';
export * from './graph/shapes.js';
export * from './graph/accounting.js';
export * from './graph/cutpoints.js';
export { loadModel, detectFormat } from './io/load.js';
