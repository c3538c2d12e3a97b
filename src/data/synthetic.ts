// A dataset tinyprune draws itself (no downloads): small grayscale images of four shapes with
// random placement, size, rotation, contrast, lighting, distractor strokes and blobs, and noise.
// Spec: `synthetic:shapes[?n=3000&seed=1&size=32]`. Example i is drawn from its own seed, so
// loading is lazy, order-free and the same on every machine.

import { TinypruneError } from '../graph/types.js';
import { type Dataset, viewDataset } from './dataset.js';
import { Rng } from './random.js';

export const SHAPE_CLASSES = ['circle', 'square', 'triangle', 'cross'] as const;

export interface SyntheticShapesOptions {
  /** Number of examples (default 3000). */
  n?: number;
  /** Seed of the whole set (default 1). */
  seed?: number;
  /** Image side in pixels (default 32); images are size × size × 1, values in [0, 1]. */
  size?: number;
}

export const SYNTHETIC_DEFAULTS = { n: 3000, seed: 1, size: 32 } as const;

type Point = [number, number];

/** Signed distance from (x, y) to a shape's outline: negative inside. */
type Sdf = (x: number, y: number) => number;

function segmentDistance(px: number, py: number, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / len2));
  return Math.hypot(px - (a[0] + t * dx), py - (a[1] + t * dy));
}

function polygonSdf(vertices: Point[]): Sdf {
  return (x, y) => {
    let d = Infinity;
    let inside = false;
    for (let i = 0, j = vertices.length - 1; i < vertices.length; j = i++) {
      const a = vertices[i]!;
      const b = vertices[j]!;
      d = Math.min(d, segmentDistance(x, y, a, b));
      // Crossing number: does a ray to +x cross edge a–b?
      if (a[1] > y !== b[1] > y && x < ((b[0] - a[0]) * (y - a[1])) / (b[1] - a[1]) + a[0])
        inside = !inside;
    }
    return inside ? -d : d;
  };
}

/** Local (unit-free) outline points rotated by `angle`, scaled by `r`, moved to (cx, cy). */
function place(points: Point[], cx: number, cy: number, r: number, angle: number): Point[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return points.map(([u, v]) => [cx + r * (c * u - s * v), cy + r * (s * u + c * v)]);
}

function regular(k: number): Point[] {
  return Array.from({ length: k }, (_, i) => {
    const a = (2 * Math.PI * i) / k - Math.PI / 2;
    return [Math.cos(a), Math.sin(a)] as Point;
  });
}

/** A plus sign with arms of half-width w (radius 1), as a 12-vertex outline. */
function plus(w: number): Point[] {
  return [
    [-w, -1],
    [w, -1],
    [w, -w],
    [1, -w],
    [1, w],
    [w, w],
    [w, 1],
    [-w, 1],
    [-w, w],
    [-1, w],
    [-1, -w],
    [-w, -w],
  ];
}

function shapeSdf(label: number, cx: number, cy: number, r: number, angle: number, rng: Rng): Sdf {
  switch (label) {
    case 0:
      return (x, y) => Math.hypot(x - cx, y - cy) - r;
    case 1:
      return polygonSdf(place(regular(4), cx, cy, r, angle));
    case 2:
      // An equilateral triangle covers less area than a square of the same radius: enlarge it.
      return polygonSdf(place(regular(3), cx, cy, r * 1.2, angle));
    default:
      return polygonSdf(place(plus(rng.uniform(0.2, 0.34)), cx, cy, r, angle));
  }
}

/** Per-example seed: decorrelated from neighbours and from other set seeds. */
function exampleSeed(seed: number, index: number): number {
  return (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) | 0;
}

/** Draws example `index` of class `label` (size × size grayscale, row-major, values in [0, 1]). */
export function drawShape(label: number, size: number, seed: number, index: number): Float32Array {
  const rng = new Rng(exampleSeed(seed, index));
  const img = new Float32Array(size * size);

  // Lighting: a base level with a linear gradient in a random direction.
  const base = rng.uniform(0.15, 0.6);
  const slope = rng.uniform(0, 0.3) / size;
  const dir = rng.uniform(0, 2 * Math.PI);
  const gx = slope * Math.cos(dir);
  const gy = slope * Math.sin(dir);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      img[y * size + x] = base + gx * (x - size / 2) + gy * (y - size / 2);

  // Adds `contrast` × coverage, where coverage comes from a signed distance (filled) or its
  // absolute value (a stroke of width `stroke`), anti-aliased over one pixel. Only pixels
  // within `reach` of (cx, cy) can be covered, so only those are visited.
  const paint = (
    sdf: Sdf,
    contrast: number,
    stroke: number | undefined,
    [bx, by, reach]: [number, number, number],
  ) => {
    const pad = reach + (stroke ?? 0) + 1;
    const y0 = Math.max(0, Math.floor(by - pad));
    const y1 = Math.min(size, Math.ceil(by + pad));
    const x0 = Math.max(0, Math.floor(bx - pad));
    const x1 = Math.min(size, Math.ceil(bx + pad));
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const d = sdf(x + 0.5, y + 0.5);
        const cover = stroke === undefined ? 0.5 - d : stroke / 2 + 0.5 - Math.abs(d);
        if (cover > 0) img[y * size + x]! += contrast * Math.min(1, cover);
      }
  };
  const signedContrast = (lo: number, hi: number) =>
    (rng.next() < 0.5 ? -1 : 1) * rng.uniform(lo, hi);

  // The shape: filled, brighter than the ground by a random amount, at a random position, size
  // and rotation. (Outlines and dark shapes too made the task too hard for the demo's tiny model
  // to learn in its one-minute budget.)
  const r = rng.uniform(0.17, 0.34) * size;
  const cx = rng.uniform(r * 0.8, size - r * 0.8);
  const cy = rng.uniform(r * 0.8, size - r * 0.8);
  const angle = rng.uniform(0, 2 * Math.PI);
  const sdf = shapeSdf(label, cx, cy, r, angle, rng);
  paint(sdf, rng.uniform(0.3, 0.6), undefined, [cx, cy, r * 1.2]);

  // Distractors: thin straight strokes (they make corners that mimic the polygons) and blobs.
  const lines = rng.int(3);
  for (let k = 0; k < lines; k++) {
    const a: Point = [rng.uniform(0, size), rng.uniform(0, size)];
    const len = rng.uniform(0.15, 0.45) * size;
    const t = rng.uniform(0, 2 * Math.PI);
    const b: Point = [a[0] + len * Math.cos(t), a[1] + len * Math.sin(t)];
    paint((x, y) => segmentDistance(x, y, a, b), signedContrast(0.1, 0.35), (size / 32) * 1.2, [
      (a[0] + b[0]) / 2,
      (a[1] + b[1]) / 2,
      len / 2,
    ]);
  }
  const blobs = rng.int(3);
  for (let k = 0; k < blobs; k++) {
    const bx = rng.uniform(0, size);
    const by = rng.uniform(0, size);
    const br = rng.uniform(0.03, 0.08) * size;
    paint((x, y) => Math.hypot(x - bx, y - by) - br, signedContrast(0.15, 0.4), undefined, [
      bx,
      by,
      br,
    ]);
  }

  // Sensor noise.
  const noise = rng.uniform(0.03, 0.12);
  for (let i = 0; i < img.length; i++)
    img[i] = Math.min(1, Math.max(0, img[i]! + noise * rng.normal()));
  return img;
}

function checkInteger(what: string, value: number, lo: number, hi: number): number {
  if (!Number.isInteger(value) || value < lo || value > hi)
    throw new TinypruneError(
      `synthetic:shapes option ${what}: expected an integer in ${lo}..${hi}, found ${value}`,
    );
  return value;
}

/**
 * The synthetic shapes dataset: `n` images of SHAPE_CLASSES, classes balanced (counts differ
 * by at most one) in a seeded order. The same options always give the same bytes.
 */
export function openSyntheticShapes(opts: SyntheticShapesOptions = {}): Dataset {
  const n = checkInteger('n', opts.n ?? SYNTHETIC_DEFAULTS.n, SHAPE_CLASSES.length, 10_000_000);
  const seed = checkInteger('seed', opts.seed ?? SYNTHETIC_DEFAULTS.seed, 0, 2 ** 31 - 1);
  const size = checkInteger('size', opts.size ?? SYNTHETIC_DEFAULTS.size, 8, 512);
  const labels = Int32Array.from(
    new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i % SHAPE_CLASSES.length)),
  );
  return viewDataset({
    name: `synthetic:shapes?n=${n}&seed=${seed}&size=${size}`,
    classes: [...SHAPE_CLASSES],
    inputShape: [size, size, 1],
    labels,
    async load(i) {
      return drawShape(labels[i]!, size, seed, i);
    },
  });
}

/** Opens `synthetic:PATH?QUERY` (PATH must be `shapes`; QUERY keys n, seed, size). */
export function openSyntheticSpec(path: string, query: string, spec: string): Dataset {
  if (path !== 'shapes')
    throw new TinypruneError(
      `dataset spec ${spec}: unknown synthetic dataset '${path}' (known: shapes)`,
    );
  const opts: Record<string, number> = {};
  for (const part of query.split('&').filter(Boolean)) {
    const [key, value] = part.split('=') as [string, string | undefined];
    if (key !== 'n' && key !== 'seed' && key !== 'size')
      throw new TinypruneError(
        `dataset spec ${spec}: unknown option '${key}' (known for synthetic:shapes: n, seed, size)`,
      );
    if (value === undefined || value.trim() === '' || !Number.isFinite(Number(value)))
      throw new TinypruneError(
        `dataset spec ${spec}: option ${key} needs a number, found '${part}'`,
      );
    opts[key] = Number(value);
  }
  return openSyntheticShapes(opts);
}
