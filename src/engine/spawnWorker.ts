// Starts a worker thread from a module next to the caller. Built (dist/*.js): the .js file.
// From source (tsx): an eval'd boot script registers tsx and imports the .ts file; tsx is
// resolved here, from the project, because an eval'd script resolves packages from the
// process's working directory (a worker may run elsewhere, e.g. in its --data-root).
import { Worker } from 'node:worker_threads';

export function spawnWorker(callerUrl: string, name: string, workerData: unknown): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const url = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, callerUrl);
  if (!fromSource) return new Worker(url, { workerData });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
