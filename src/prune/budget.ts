import { TinypruneError } from '../graph/types.js';

/** Limits a pruned model must meet; any field may be absent. */
export interface Budget {
  params?: number;
  macs?: number;
  /** Limits relative to the unpruned model (`params=50%`): fractions of its count. */
  paramsFraction?: number;
  macsFraction?: number;
  peakActivationBytes?: number;
  /** Largest allowed accuracy drop against the unpruned model, as a fraction (0.01 = 1 point). */
  drop?: number;
  /**
   * `macs=any`: allow a pruned model that costs more MACs than the unpruned one. Without it and
   * without a MACs limit, a candidate may cost at most the unpruned model's MACs: cutting early
   * and attaching a wide head can cut parameters yet add compute (block 1 + aux on VWW:
   * −90% parameters, +29% MACs, +45% cycles), which is no pruning.
   */
  anyMacs?: boolean;
}

/** The budget of `run` and of `prune --cut auto` when none is given. */
export const DEFAULT_BUDGET = 'params=50%,drop=3%';

export interface Candidate {
  cut: string;
  head: string;
  params: number;
  macs: number;
  peakActivationBytes: number;
  /** Validation accuracy: selection never looks at the test split. */
  valAccuracy: number;
}

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };
const BYTES: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
};

/** The unpruned model, against which `drop` and relative limits are measured. */
export interface Reference {
  valAccuracy: number;
  params: number;
  macs: number;
}

/**
 * Parses `params=20k,macs=4M,memory=64KB,drop=1%` (params and macs may also be a share of the
 * unpruned model: `params=50%`); errors name the bad entry.
 */
export function parseBudget(text: string): Budget {
  const budget: Budget = {};
  const bad = (entry: string, why: string): never => {
    throw new TinypruneError(
      `--budget: ${why} in "${entry}" (expected e.g. params=20k,macs=4M,memory=64KB,drop=1%; macs=any allows more MACs than the unpruned model)`,
    );
  };
  for (const entry of text.split(',').map((s) => s.trim())) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) bad(entry, 'missing "="');
    const key = entry.slice(0, eq).trim().toLowerCase();
    const value = entry
      .slice(eq + 1)
      .trim()
      .toLowerCase();
    if (key === 'macs' && value === 'any') {
      budget.anyMacs = true;
    } else if (key === 'params' || key === 'macs') {
      const m = /^(\d+(?:\.\d+)?)([kmg%]?)$/.exec(value);
      if (!m)
        bad(entry, 'expected a count such as 20000, 20k, 4M, 50% (of the unpruned model) or any');
      if (m![2] === '%')
        budget[key === 'params' ? 'paramsFraction' : 'macsFraction'] = Number(m![1]) / 100;
      else budget[key] = Number(m![1]) * SUFFIX[m![2]!]!;
    } else if (key === 'memory' || key === 'ram' || key === 'peak') {
      const m = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib)?$/.exec(value);
      if (!m) bad(entry, 'expected bytes such as 65536 or 64KB');
      budget.peakActivationBytes = Number(m![1]) * BYTES[m![2] ?? '']!;
    } else if (key === 'drop') {
      const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(value);
      if (!m) bad(entry, 'expected a percentage such as 1% or a fraction such as 0.01');
      const v = Number(m![1]);
      budget.drop = m![2] === '%' ? v / 100 : v;
      if (budget.drop >= 1) bad(entry, 'a drop of 100% or more allows anything');
    } else {
      bad(entry, `unknown limit "${key}" (limits: params, macs, memory, drop)`);
    }
  }
  if (Object.keys(budget).length === 0) throw new TinypruneError('--budget: no limits given');
  return budget;
}

/** Why a candidate misses the budget, or an empty list when it fits. */
export function budgetViolations(c: Candidate, b: Budget, ref: Reference): string[] {
  const out: string[] = [];
  const limit = (abs: number | undefined, frac: number | undefined, total: number) =>
    Math.min(abs ?? Infinity, frac === undefined ? Infinity : frac * total);
  const params = limit(b.params, b.paramsFraction, ref.params);
  const macs = limit(b.macs, b.macsFraction, ref.macs);
  if (c.params > params) out.push(`params ${c.params} > ${Math.floor(params)}`);
  if (c.macs > macs) out.push(`MACs ${c.macs} > ${Math.floor(macs)}`);
  else if (b.macs === undefined && b.macsFraction === undefined && !b.anyMacs && c.macs > ref.macs)
    out.push(`MACs ${c.macs} > ${ref.macs} of the unpruned model (macs=any allows it)`);
  if (b.peakActivationBytes !== undefined && c.peakActivationBytes > b.peakActivationBytes)
    out.push(`peak memory ${c.peakActivationBytes} B > ${b.peakActivationBytes} B`);
  const drop = ref.valAccuracy - c.valAccuracy;
  if (b.drop !== undefined && drop > b.drop)
    out.push(`accuracy drop ${(drop * 100).toFixed(2)} points > ${(b.drop * 100).toFixed(2)}`);
  return out;
}

/**
 * The rule shared by `sweep --budget` and `prune --cut auto`: among candidates that fit, the
 * most accurate on validation; ties go to fewer parameters. Undefined when none fits.
 */
export function selectCandidate<C extends Candidate>(
  candidates: C[],
  budget: Budget,
  ref: Reference,
): C | undefined {
  const fitting = candidates.filter((c) => budgetViolations(c, budget, ref).length === 0);
  fitting.sort((a, b) => b.valAccuracy - a.valAccuracy || a.params - b.params);
  return fitting[0];
}
