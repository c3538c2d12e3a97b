import { cloneGraph, getTensor, pruneUnusedTensors } from '../graph/graph.js';
import { findCutPoints, type CutPoint } from '../graph/cutpoints.js';
import type { Graph } from '../graph/types.js';
import { TinypruneError } from '../graph/types.js';
import { attachHead, parseHead } from './heads.js';
import type { Rng } from '../data/random.js';

/** Finds a cut point by name (`block5`, `conv1`…); the error lists the valid names. */
export function resolveCutPoint(g: Graph, name: string): CutPoint {
  const cuts = findCutPoints(g);
  const cut = cuts.find((c) => c.name === name);
  if (!cut)
    throw new TinypruneError(
      `unknown cut point "${name}" for ${g.name} (cut points: ${cuts.map((c) => c.name).join(', ') || 'none found'})`,
    );
  return cut;
}

/** The model from its input up to the cut tensor (the "tail"), as a new graph. */
export function cutGraph(g: Graph, cut: CutPoint): Graph {
  const tail = cloneGraph(g, `${g.name}@${cut.name}`);
  tail.ops = tail.ops.slice(0, cut.opIndex + 1);
  tail.outputs = [cut.tensor];
  pruneUnusedTensors(tail);
  tail.metadata = { ...tail.metadata, cut: cut.name };
  return tail;
}

/** Number of classes the model predicts (size of its output's last dimension). */
export function outputClasses(g: Graph): number {
  const shape = getTensor(g, g.outputs[0]!).shape;
  return shape[shape.length - 1]!;
}

/**
 * Cuts `g` at `cut` and attaches a new head (`aux`, `dense` or a head spec). The head is
 * initialised from `rng`, so the same seed gives the same model.
 */
export function pruneModel(
  g: Graph,
  cut: CutPoint,
  head: string,
  rng: Rng,
  classes = outputClasses(g),
): Graph {
  const layers = parseHead(head);
  const pruned = cutGraph(g, cut);
  attachHead(pruned, cut.tensor, layers, classes, rng);
  pruned.name = `${g.name}@${cut.name}+${head}`;
  pruned.metadata = { ...pruned.metadata, head };
  return pruned;
}
