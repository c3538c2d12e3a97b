// Names from a model file reach the generated C only inside comments, neutralised: a model or
// layer named to close the comment and declare code must not compile that code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/io/load.js';
import { generateC } from '../src/mcu/codegen.js';
import { hostileKeras } from './helpers/hostile.js';
import { model, needsShared } from './helpers/shared.js';

const MORE = [
  'm */ extern int tp_injected; /*',
  '*/\n#error injected\n/*',
  '??/\nint tp_injected2;',
  '*//*/ int tp_injected3; /*',
];

/** The C text with every block and line comment removed. */
function code(c: string): string {
  return c.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, ' ');
}

test(
  'hostile model and layer names from a Keras file never become C code',
  { skip: needsShared },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyprune-names-'));
    try {
      // The names a user's Keras file brings (model and layer names)…
      const file = join(dir, 'hostile.h5');
      writeFileSync(file, await hostileKeras());
      const keras = await loadModel(file);
      const names = [keras.name, ...keras.ops.map((op) => op.name), ...MORE];
      // …on an int8 graph the generator accepts (the Keras model itself is float).
      const g = await loadModel(model('kws_ref_model.tflite'));
      g.name = keras.name;
      g.ops.forEach((op, i) => (op.name = names[i % names.length]!));
      const { files } = generateC(g);
      for (const [name, text] of Object.entries(files)) {
        const c = code(text);
        for (const bad of ['extern int x', 'tp_injected', '#error', '??/'])
          assert.ok(!c.includes(bad), `${name}: "${bad}" outside comments`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
