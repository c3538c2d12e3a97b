// The Keras `model_config` JSON, normalised: one entry per layer with the layers it reads, in an
// order where every layer comes after its inputs. Handles Functional and Sequential models in the
// Keras 2 (tf.keras) and Keras 3 serialisations.
import { TinypruneError } from '../../graph/types.js';

export type LayerConfig = Record<string, unknown>;

export interface KerasLayer {
  className: string;
  name: string;
  config: LayerConfig;
  /** Names of the layers whose outputs this layer reads, in argument order. */
  inbound: string[];
}

export interface KerasModel {
  name: string;
  layers: KerasLayer[];
  inputs: string[];
  outputs: string[];
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** The layer names in a Keras 3 call-argument tree ({"keras_history": [name, node, index]}). */
function kerasHistories(v: unknown, out: string[]): void {
  if (Array.isArray(v)) {
    for (const x of v) kerasHistories(x, out);
  } else if (isObject(v)) {
    const cfg = v.config;
    if (v.class_name === '__keras_tensor__' && isObject(cfg) && Array.isArray(cfg.keras_history)) {
      out.push(String(cfg.keras_history[0]));
      return;
    }
    for (const x of Object.values(v)) kerasHistories(x, out);
  }
}

function inboundOf(raw: Record<string, unknown>, source: string, name: string, cls: string) {
  const nodes = raw.inbound_nodes;
  if (nodes === undefined || (Array.isArray(nodes) && nodes.length === 0)) return [];
  if (!Array.isArray(nodes))
    throw new TinypruneError(`${source}: layer "${name}" (${cls}) has malformed inbound_nodes`);
  if (nodes.length > 1)
    throw new TinypruneError(
      `${source}: layer "${name}" (${cls}) is called ${nodes.length} times; shared layers are not supported`,
    );
  const node = nodes[0];
  const names: string[] = [];
  if (Array.isArray(node)) {
    // Keras 2: [[layer_name, node_index, tensor_index, kwargs], …]
    for (const entry of node) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string')
        throw new TinypruneError(`${source}: layer "${name}" (${cls}) has malformed inbound_nodes`);
      if (entry[2] !== 0 && entry[2] !== undefined)
        throw new TinypruneError(
          `${source}: layer "${name}" (${cls}) reads output ${entry[2]} of "${entry[0]}"; multi-output layers are not supported`,
        );
      names.push(entry[0]);
    }
  } else if (isObject(node)) {
    kerasHistories(node.args, names); // Keras 3
  } else {
    throw new TinypruneError(`${source}: layer "${name}" (${cls}) has malformed inbound_nodes`);
  }
  return names;
}

/** [[name, 0, 0], …] or a single [name, 0, 0] → names. */
function endpointNames(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  if (typeof v[0] === 'string') return [v[0]];
  return v.filter((e) => Array.isArray(e) && typeof e[0] === 'string').map((e) => e[0] as string);
}

function rawLayer(v: unknown, source: string, index: number): KerasLayer {
  if (!isObject(v) || typeof v.class_name !== 'string' || !isObject(v.config))
    throw new TinypruneError(
      `${source}: model_config layer #${index} is malformed: expected {"class_name", "config"}`,
    );
  const name = typeof v.name === 'string' ? v.name : v.config.name;
  if (typeof name !== 'string')
    throw new TinypruneError(
      `${source}: model_config layer #${index} (${v.class_name}) has no name`,
    );
  return {
    className: v.class_name,
    name,
    config: v.config,
    inbound: inboundOf(v, source, name, v.class_name),
  };
}

function topologicalOrder(layers: KerasLayer[], source: string): KerasLayer[] {
  const byName = new Map<string, KerasLayer>();
  for (const l of layers) {
    if (byName.has(l.name))
      throw new TinypruneError(`${source}: model_config has two layers named "${l.name}"`);
    byName.set(l.name, l);
  }
  for (const l of layers)
    for (const n of l.inbound)
      if (!byName.has(n))
        throw new TinypruneError(
          `${source}: layer "${l.name}" (${l.className}) reads unknown layer "${n}"`,
        );
  const done = new Set<string>();
  const order: KerasLayer[] = [];
  let pending = layers;
  while (pending.length > 0) {
    const next = pending.filter((l) => {
      if (!l.inbound.every((n) => done.has(n))) return true;
      order.push(l);
      done.add(l.name);
      return false;
    });
    if (next.length === pending.length)
      throw new TinypruneError(
        `${source}: model_config layers form a cycle (at "${pending[0]!.name}")`,
      );
    pending = next;
  }
  return order;
}

/** Parses the `model_config` attribute text. */
export function parseModelConfig(text: string, source: string): KerasModel {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TinypruneError(
      `${source}: model_config is not valid JSON (corrupted file?): ${(e as Error).message.slice(0, 120)}`,
    );
  }
  if (!isObject(json) || typeof json.class_name !== 'string')
    throw new TinypruneError(`${source}: model_config has no class_name: not a Keras model`);
  const cls = json.class_name;
  const cfg = json.config;

  if (cls === 'Sequential') {
    const list = Array.isArray(cfg) ? cfg : isObject(cfg) ? cfg.layers : undefined;
    if (!Array.isArray(list) || list.length === 0)
      throw new TinypruneError(`${source}: Sequential model_config has no layers`);
    const name = isObject(cfg) && typeof cfg.name === 'string' ? cfg.name : 'sequential';
    const layers = list.map((v, i) => rawLayer(v, source, i));
    const chained: KerasLayer[] = [];
    let first = layers[0]!;
    if (first.className !== 'InputLayer') {
      // Keras creates an implicit input from the first layer's batch_input_shape.
      const shape = first.config.batch_input_shape ?? first.config.batch_shape;
      if (!Array.isArray(shape))
        throw new TinypruneError(
          `${source}: Sequential model has no InputLayer and its first layer "${first.name}" has no batch_input_shape`,
        );
      first = {
        className: 'InputLayer',
        name: `${first.name}_input`,
        config: { batch_input_shape: shape },
        inbound: [],
      };
      chained.push(first);
    }
    for (const l of layers) {
      const prev = chained[chained.length - 1];
      chained.push({ ...l, inbound: l.className === 'InputLayer' || !prev ? [] : [prev.name] });
    }
    return {
      name,
      layers: chained,
      inputs: [chained[0]!.name],
      outputs: [chained[chained.length - 1]!.name],
    };
  }

  if (cls === 'Functional' || cls === 'Model') {
    if (!isObject(cfg) || !Array.isArray(cfg.layers))
      throw new TinypruneError(`${source}: ${cls} model_config has no layers`);
    const layers = topologicalOrder(
      cfg.layers.map((v, i) => rawLayer(v, source, i)),
      source,
    );
    const inputs = endpointNames(cfg.input_layers);
    const outputs = endpointNames(cfg.output_layers);
    if (inputs.length === 0 || outputs.length === 0)
      throw new TinypruneError(`${source}: ${cls} model_config lacks input_layers/output_layers`);
    return {
      name: typeof cfg.name === 'string' ? cfg.name : 'model',
      layers,
      inputs,
      outputs,
    };
  }

  throw new TinypruneError(
    `${source}: model_config describes a ${cls}; expected a Functional or Sequential Keras model`,
  );
}
