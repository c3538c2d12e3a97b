// Content fingerprint of a dataset spec: sha256 over the files under its path (relative names,
// sizes and bytes, in sorted order) and the spec's options, so that caches keyed by it follow the
// data rather than its location's name. Memoised per spec for the life of the process.
// (Stand-in with the API that the "dist" work provides; the lead keeps one at merge.)
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const memo = new Map<string, Promise<string>>();

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    )) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

async function compute(spec: string): Promise<string> {
  const h = createHash('sha256');
  const m = /^([a-z0-9-]+):([^?]*)(\?.*)?$/.exec(spec);
  const path = m?.[2];
  // The kind and options take part; the path's name does not (the same files elsewhere match).
  h.update(`${m?.[1] ?? ''}\0${m?.[3] ?? ''}\0`);
  if (path && existsSync(path)) {
    const files = statSync(path).isDirectory() ? listFiles(path) : [path];
    for (const f of files) {
      const bytes = await readFile(f);
      h.update(`${relative(path, f)}\0${bytes.length}\0`);
      h.update(bytes);
    }
  } else h.update(spec); // generated data: the spec is its content
  return h.digest('hex');
}

/** sha256 (hex) over the dataset's files; the same data gives the same fingerprint. */
export async function dataFingerprint(spec: string): Promise<string> {
  let p = memo.get(spec);
  if (!p) {
    p = compute(spec);
    memo.set(spec, p);
    p.catch(() => memo.delete(spec));
  }
  return p;
}
