// Bridge from the Graph IR to the report's per-layer costs.
import { modelTotals, opStats } from '../graph/accounting.js';
import type { Graph } from '../graph/types.js';
import type { LayerCost, ModelSummary } from './types.js';

/** One LayerCost per op of `g`, in execution order. */
export function layerCosts(g: Graph): LayerCost[] {
  return opStats(g).map((s) => ({ name: s.name, kind: s.kind, params: s.params, macs: s.macs }));
}

/** The graph-derived part of a ModelSummary (the caller adds accuracy and target figures). */
export function graphSummary(g: Graph, label: string): ModelSummary {
  const t = modelTotals(g);
  return {
    label,
    params: t.params,
    macs: t.macs,
    peakActivationBytes: t.peakActivationBytes,
    layers: layerCosts(g),
  };
}

/** Target figures of one deployed layer (a subset of deploy.json's layers). */
export interface DeployedLayer {
  name: string;
  cycles: number;
  kernel?: string;
  cyclesPerMac: number | null;
}

/** The layer costs with each deployed layer's cycles, kernel and cycles per MAC (by name). */
export function withDeployedLayers(costs: LayerCost[], deployed: DeployedLayer[]): LayerCost[] {
  const byName = new Map(deployed.map((l) => [l.name, l]));
  return costs.map((l) => {
    const d = byName.get(l.name);
    if (!d) return l;
    return {
      ...l,
      cycles: d.cycles,
      ...(d.kernel !== undefined && { kernel: d.kernel }),
      ...(d.cyclesPerMac !== null && { cyclesPerMac: d.cyclesPerMac }),
    };
  });
}
