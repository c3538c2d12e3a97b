// A small schema language for job payloads. Workers check every payload before touching it:
// exact keys (an unknown field is refused), types, ranges and lengths. Errors name the field
// path, what was expected and what was found.
import type { RowSettings } from '../prune/row.js';
import type { Schedule } from '../prune/train.js';
import { CACHE_PRECISIONS } from '../prune/features/codec.js';

export type Schema =
  | { kind: 'string'; max: number; pattern?: RegExp }
  | { kind: 'number'; integer?: boolean; min?: number; max?: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'array'; items: Schema; max: number }
  | { kind: 'object'; fields: Record<string, Schema>; optional?: readonly string[] }
  | { kind: 'nullable'; inner: Schema };

export const str = (max = 4096, pattern?: RegExp): Schema => ({ kind: 'string', max, pattern });
export const num = (o: { integer?: boolean; min?: number; max?: number } = {}): Schema => ({
  kind: 'number',
  ...o,
});
export const int = (min = 0, max = Number.MAX_SAFE_INTEGER): Schema =>
  num({ integer: true, min, max });
export const bool: Schema = { kind: 'boolean' };
export const oneOf = (...values: string[]): Schema => ({ kind: 'enum', values });
export const arr = (items: Schema, max = 1000): Schema => ({ kind: 'array', items, max });
export const obj = (fields: Record<string, Schema>, optional: string[] = []): Schema => ({
  kind: 'object',
  fields,
  optional,
});
export const nullable = (inner: Schema): Schema => ({ kind: 'nullable', inner });

export class SchemaError extends Error {}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'number') return `the number ${v}`;
  return `${typeof v === 'object' ? 'an' : 'a'} ${typeof v}`;
}

/** Throws a SchemaError naming the first field that does not fit `schema`. */
export function validate(schema: Schema, v: unknown, path = 'payload'): void {
  const fail = (want: string): never => {
    throw new SchemaError(`${path}: expected ${want}, found ${describe(v)}`);
  };
  switch (schema.kind) {
    case 'string':
      if (typeof v !== 'string') fail('a string');
      if ((v as string).length > schema.max) fail(`a string of at most ${schema.max} characters`);
      if (schema.pattern && !schema.pattern.test(v as string))
        fail(`a string matching ${schema.pattern}`);
      return;
    case 'number': {
      const ok =
        typeof v === 'number' &&
        Number.isFinite(v) &&
        (!schema.integer || Number.isInteger(v)) &&
        (schema.min === undefined || v >= schema.min) &&
        (schema.max === undefined || v <= schema.max);
      if (!ok)
        fail(
          [
            schema.integer ? 'an integer' : 'a number',
            schema.min !== undefined ? `>= ${schema.min}` : '',
            schema.max !== undefined ? `<= ${schema.max}` : '',
          ]
            .filter(Boolean)
            .join(' '),
        );
      return;
    }
    case 'boolean':
      if (typeof v !== 'boolean') fail('true or false');
      return;
    case 'enum':
      if (typeof v !== 'string' || !schema.values.includes(v))
        fail(`one of ${schema.values.join(', ')}`);
      return;
    case 'array':
      if (!Array.isArray(v)) fail('an array');
      if ((v as unknown[]).length > schema.max) fail(`at most ${schema.max} items`);
      (v as unknown[]).forEach((x, i) => validate(schema.items, x, `${path}[${i}]`));
      return;
    case 'nullable':
      if (v !== null) validate(schema.inner, v, path);
      return;
    case 'object': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('an object');
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o))
        if (!Object.hasOwn(schema.fields, k))
          throw new SchemaError(
            `${path}: unknown field "${k.slice(0, 60)}" (known: ${Object.keys(schema.fields).join(', ')})`,
          );
      for (const [k, s] of Object.entries(schema.fields)) {
        if (o[k] === undefined) {
          if (schema.optional?.includes(k)) continue;
          throw new SchemaError(`${path}: missing field "${k}"`);
        }
        validate(s, o[k], `${path}.${k}`);
      }
      return;
    }
  }
}

/** Keyed by Schedule's keys: a new schedule field does not compile until it travels too. */
const SCHEDULE_FIELDS: { [K in keyof Required<Schedule>]: Schema } = {
  optimizer: oneOf('adam', 'sgd'),
  batchSize: int(1, 1 << 20),
  epochs: int(1, 1e6),
  lr: obj({
    unit: oneOf('epoch', 'step'),
    boundaries: arr(num({ min: 0 }), 100),
    values: arr(num({ min: 0 }), 101),
  }),
  steps: int(1, 1e9),
};

/**
 * Every training setting a row carries. Keyed by RowSettings' keys, so adding a training option
 * to PruneOptions does not compile until it is given a schema here (and then it travels).
 */
export const SETTINGS_FIELDS: { [K in keyof Required<RowSettings>]: Schema } = {
  seed: int(0, 2 ** 32),
  finetune: bool,
  distill: obj({ temperature: num({ min: 0 }), alpha: num({ min: 0, max: 1 }) }),
  schedule: obj(SCHEDULE_FIELDS, ['steps']),
  views: int(0, 1000),
  mixup: num({ min: 0 }),
  patience: int(1, 1e6),
  ema: num({ min: 0, max: 1 }),
  workers: int(1, 64),
  recipe: oneOf('best', 'paper'),
  backend: oneOf('torch', 'wasm', 'auto'),
  threads: int(1, 1024),
  cachePrecision: oneOf(...CACHE_PRECISIONS),
};

/** Settings whose value may be absent (PruneOptions' optional fields). */
const OPTIONAL_SETTINGS = (Object.keys(SETTINGS_FIELDS) as (keyof RowSettings)[]).filter(
  (k) => k !== 'seed' && k !== 'schedule',
);

export const SETTINGS_SCHEMA = obj(SETTINGS_FIELDS, OPTIONAL_SETTINGS);

const HEX64 = /^[0-9a-f]{64}$/;
/** Cut names and head specs: letters, digits and a few separators, never a path or a command. */
const NAME = /^[A-Za-z0-9_.,\-/]{1,200}$/;

/** A row job: what a worker needs to train one row, as plain data. */
export const ROW_JOB_SCHEMA = obj(
  {
    version: oneOf('1'),
    tool: str(100),
    model: obj({ sha256: str(64, HEX64), bytes: int(1, 2 ** 31) }),
    data: obj({ spec: str(4096), fingerprint: str(64, HEX64) }),
    fold: nullable(obj({ index: int(0, 1000), count: int(3, 1000) })),
    cut: str(200, NAME),
    head: str(200, NAME),
    settings: SETTINGS_SCHEMA,
    saveModel: bool,
  },
  [],
);
