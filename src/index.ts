// The tinyprune library API: everything the CLI does is reachable from here.
export * from './graph/types.js';
export * from './graph/graph.js';
export * from './graph/shapes.js';
export * from './graph/accounting.js';
export * from './graph/cutpoints.js';
export { loadModel, detectFormat } from './io/load.js';
export { readTflite } from './io/tflite/reader.js';
export { writeTflite, type WriteTfliteOptions } from './io/tflite/writer.js';
export { deploy, type DeployOptions, type DeployReport } from './mcu/deploy.js';
export { generateC } from './mcu/codegen.js';
export { Emulator, type FirmwareRun } from './mcu/emulator.js';
export { compileFirmware, findToolchain, TARGETS } from './mcu/build.js';
export { parseElf } from './mcu/elf.js';
export * from './data/index.js';
