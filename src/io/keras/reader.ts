// Keras HDF5 (.h5, `model.save(...)`) → Graph. The architecture comes from the `model_config`
// attribute (JSON), the weights from the `model_weights` group; BatchNormalization stays its own
// op (fold it with src/graph/passes/foldBatchNorm.ts).
import type { Dataset, File, Group } from 'h5wasm';
import { addTensor, createGraph, validateGraph } from '../../graph/graph.js';
import { inferShapes } from '../../graph/shapes.js';
import type { Graph } from '../../graph/types.js';
import { TinypruneError } from '../../graph/types.js';
import { parseModelConfig, type KerasLayer } from './config.js';
import { withH5File } from './h5file.js';
import { convertLayer, inputLayerShape, type BuildContext, type KerasWeight } from './layers.js';

const isGroup = (e: unknown): e is Group =>
  typeof e === 'object' && e !== null && typeof (e as Group).keys === 'function';
const isDataset = (e: unknown): e is Dataset =>
  typeof e === 'object' &&
  e !== null &&
  'shape' in e &&
  typeof (e as unknown as Group).keys !== 'function';

function stringAttr(holder: Group, name: string): string | undefined {
  const v = holder.attrs[name]?.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

function stringList(holder: Group, name: string): string[] {
  const v = holder.attrs[name]?.value;
  if (Array.isArray(v)) return v.map(String);
  if (typeof v === 'string') return [v];
  return []; // Keras writes an empty float array for layers without weights
}

/** `conv2d/kernel:0` → `kernel`. */
const shortWeightName = (full: string) => full.split('/').pop()!.replace(/:\d+$/, '');

function layerWeights(
  root: Group | null,
  layer: KerasLayer,
  source: string,
): Map<string, KerasWeight> {
  const found = new Map<string, KerasWeight>();
  const group = root?.get(layer.name);
  if (!isGroup(group)) return found;
  for (const full of stringList(group, 'weight_names')) {
    const where = `${source}: layer "${layer.name}" (${layer.className}): weight "${full}"`;
    const ds = group.get(full);
    if (!isDataset(ds)) throw new TinypruneError(`${where} is listed in weight_names but absent`);
    const shape = ds.shape ?? [];
    const value = ds.value;
    let data: Float32Array;
    if (value instanceof Float32Array) data = value;
    else if (value instanceof Float64Array) data = Float32Array.from(value);
    else
      throw new TinypruneError(`${where} has dtype ${JSON.stringify(ds.dtype)}; expected float32`);
    if (data.length !== shape.reduce((a, b) => a * b, 1))
      throw new TinypruneError(
        `${where} holds ${data.length} values for shape [${shape.join(', ')}] (corrupted?)`,
      );
    found.set(shortWeightName(full), { shape, data });
  }
  return found;
}

function convert(file: File, source: string): Graph {
  const configText = stringAttr(file, 'model_config');
  if (configText === undefined) {
    if (file.attrs['layer_names'] !== undefined || file.attrs['weight_names'] !== undefined)
      throw new TinypruneError(
        `${source} holds weights only (no model_config attribute, as written by save_weights); expected a full Keras model saved with model.save()`,
      );
    throw new TinypruneError(
      `${source} is an HDF5 file without a model_config attribute: not a Keras model`,
    );
  }
  const model = parseModelConfig(configText, source);
  const weightsRoot = file.get('model_weights');
  const g = createGraph(model.name, { format: 'keras-h5', source });
  const kerasVersion = stringAttr(file, 'keras_version');
  if (kerasVersion) g.metadata.kerasVersion = kerasVersion;
  const ctx: BuildContext = {
    g,
    source,
    weights: (layer) => layerWeights(isGroup(weightsRoot) ? weightsRoot : null, layer, source),
    outputOf: new Map(),
  };
  for (const layer of model.layers) {
    if (layer.className === 'InputLayer') {
      addTensor(g, { name: layer.name, shape: inputLayerShape(ctx, layer), dtype: 'float32' });
      ctx.outputOf.set(layer.name, layer.name);
    } else {
      ctx.outputOf.set(layer.name, convertLayer(ctx, layer));
    }
  }
  for (const name of model.inputs) {
    const layer = model.layers.find((l) => l.name === name);
    if (layer?.className !== 'InputLayer')
      throw new TinypruneError(`${source}: model input "${name}" is not an InputLayer`);
  }
  g.inputs = model.inputs.map((n) => ctx.outputOf.get(n)!);
  g.outputs = model.outputs.map((n) => {
    const t = ctx.outputOf.get(n);
    if (t === undefined) throw new TinypruneError(`${source}: model output "${n}" is not a layer`);
    return t;
  });
  validateGraph(g);
  inferShapes(g);
  return g;
}

/** Reads a Keras HDF5 model (Functional or Sequential) into a Graph with BatchNorm unfolded. */
export async function readKerasH5(bytes: Uint8Array, source: string): Promise<Graph> {
  return withH5File(bytes, source, (file) => convert(file, source));
}
