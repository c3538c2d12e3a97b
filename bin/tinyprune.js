#!/usr/bin/env node
// Runs the compiled CLI; `npm run build` (or `npm start`) makes dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(dist)) {
  console.error('tinyprune: dist/ is missing; run `npm run build` (or `npm start`) first');
  process.exit(2);
}
const { main } = await import(dist);
process.exitCode = await main(process.argv.slice(2));
