// The four models the MCU acceptance numbers are about, with real int8 inputs: the published
// int8 KWS and VWW models, and the pruned ones (KWS block 2 + aux, VWW block 5 + aux; seeded,
// untrained heads, quantised with our quantiser on seeded real calibration samples). Cycle
// counts do not depend on the head's training.
import type { Graph } from '../../src/graph/types.js';
import { Rng } from '../../src/data/random.js';
import { quantizeInt8 } from '../../src/data/quantize.js';
import { readInputs } from '../../src/cli/commands/deploy.js';
import { loadModel } from '../../src/io/load.js';
import { pruneModel, resolveCutPoint } from '../../src/prune/cut.js';
import { deployableGraph } from '../../src/prune/save.js';
import { quantizeGraph } from '../../src/quant/quantize.js';
import { kwsExamples, pick, vwwExamples } from './eembc.js';
import { data, model } from './shared.js';

export type McuModel = 'kws' | 'vww' | 'kws-block2-aux' | 'vww-block5-aux';
export const MCU_MODELS: McuModel[] = ['kws', 'vww', 'kws-block2-aux', 'vww-block5-aux'];

export async function mcuModel(
  name: McuModel,
  n: number,
): Promise<{ graph: Graph; inputs: Int8Array[] }> {
  if (name === 'kws' || name === 'vww') {
    const graph = await loadModel(
      model(name === 'kws' ? 'kws_ref_model.tflite' : 'vww_96_int8.tflite'),
    );
    const inputs =
      name === 'kws'
        ? readInputs(`${data('eembc_kws01', 'mfcc')}:${n}`, graph, 'int8')
        : readInputs(`${data('eembc_vww01')}:${n}`, graph, 'uint8');
    return { graph, inputs };
  }
  const kws = name === 'kws-block2-aux';
  const g = await loadModel(model(kws ? 'kws_ref_model_float32.tflite' : 'vww_96_float.tflite'));
  const fg = deployableGraph(
    pruneModel(g, resolveCutPoint(g, kws ? 'block2' : 'block5'), 'aux', new Rng(7)),
  );
  const examples = kws ? await kwsExamples() : vwwExamples();
  const graph = await quantizeGraph(
    fg,
    pick(examples, 32, 1234).map((e) => e.x),
    { method: 'minmax' },
  );
  const q = graph.tensors.get(graph.inputs[0]!)!.quant!;
  const inputs = examples.slice(0, n).map((e) => quantizeInt8(e.x, q.scale[0]!, q.zeroPoint[0]!));
  return { graph, inputs };
}
