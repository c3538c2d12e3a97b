// Installs what tinyprune needs and is missing: npm packages (npm ci) and, on Debian as root, the
// system packages for the MCU toolchain, the QEMU cross-check, the browser report test and the
// distributed-sweep tests (redis-server), the libtorch training backend and the default job's data
// set (Fashion-MNIST).
// Quiet when everything is present. Run by `npm start` and `npm test` before anything else.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';

const DEBIAN_PACKAGES = [
  { command: 'arm-none-eabi-gcc', packages: ['gcc-arm-none-eabi', 'libnewlib-arm-none-eabi'] },
  { command: 'qemu-system-arm', packages: ['qemu-system-arm'] },
  { command: 'chromium', packages: ['chromium'] },
  // The libtorch training backend (native/): headers and libraries, and node-gyp's compiler.
  { file: '/usr/include/torch/csrc/api/include/torch/torch.h', packages: ['libtorch-dev'] },
  { command: 'g++', packages: ['g++', 'make'] },
  // The queue for distributed sweeps; tests start their own server on a free port.
  { command: 'redis-server', packages: ['redis-server'] },
  // The default job's data (`npm start`): Fashion-MNIST, 60,000 + 10,000 images (MIT licence).
  {
    file: '/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz',
    packages: ['dataset-fashion-mnist'],
  },
];

function run(cmd, args, env = {}, quiet = false) {
  const r = spawnSync(cmd, args, {
    stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) {
    console.error(`bootstrap: \`${cmd} ${args.join(' ')}\` failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// npm packages: reinstall when node_modules is missing or older than the lock file.
const marker = 'node_modules/.package-lock.json';
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync('package-lock.json').mtimeMs) {
  console.error('bootstrap: installing npm packages (npm ci)…');
  run('npm', ['ci', '--no-fund', '--no-audit'], { ONNXRUNTIME_NODE_INSTALL: 'skip' });
}

const missing = DEBIAN_PACKAGES.filter((d) =>
  d.file ? !existsSync(d.file) : !has(d.command),
).flatMap((d) => d.packages);
if (!has('arm-none-eabi-gcc') || !existsSync('/usr/lib/arm-none-eabi/newlib'))
  missing.push('libnewlib-arm-none-eabi');
const wanted = [...new Set(missing)];
if (wanted.length > 0) {
  const isRoot = process.getuid?.() === 0;
  if (isRoot && has('apt-get')) {
    console.error(`bootstrap: installing Debian packages: ${wanted.join(' ')}…`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], env, true);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...wanted], env, true);
  } else {
    console.error(
      `bootstrap: missing Debian packages ${wanted.join(' ')} — install them with ` +
        `\`sudo apt-get install ${wanted.join(' ')}\`; tests that need them will be skipped`,
    );
  }
}

// The native addons: built with node-gyp when missing or older than their sources. Everything
// works without them (training on tfjs-wasm, MFCC in JS), so a failed build says so in one line
// and the bootstrap goes on.
const addons = [
  {
    dir: 'native',
    file: 'build/Release/tinyprune_torch.node',
    sources: ['torch_addon.cc', 'binding.gyp'],
    what: 'the libtorch training backend (about a minute)',
    without: 'libtorch addon not built ({why}); training falls back to tfjs-wasm',
  },
  {
    dir: 'native/kernels',
    file: 'build/Release/tinyprune_kernels.node',
    sources: ['kernels.cc', 'binding.gyp'],
    what: 'the native extraction kernels (MFCC, int8 feature codes)',
    without:
      'native kernels not built ({why}); MFCC and feature codes run in JavaScript (slower, same values)',
  },
];
const npmGyp = join(
  dirname(process.execPath),
  '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
);
const gyp = process.env.npm_config_node_gyp || (existsSync(npmGyp) ? npmGyp : undefined);
// Node's own headers when installed (Debian's nodejs), so node-gyp needs no download.
const nodeDir = dirname(dirname(process.execPath));
const gypArgs = existsSync(join(nodeDir, 'include/node/node_api.h'))
  ? [`--nodedir=${nodeDir}`]
  : [];
for (const a of addons) {
  const built = join(a.dir, a.file);
  const stale =
    !existsSync(built) ||
    a.sources.some((f) => statSync(join(a.dir, f)).mtimeMs > statSync(built).mtimeMs);
  if (!stale) continue;
  let why = 'node-gyp not found';
  if (gyp) {
    if (process.stderr.isTTY) console.error(`bootstrap: building ${a.what}…`);
    const r = spawnSync(process.execPath, [gyp, 'rebuild', ...gypArgs], {
      cwd: a.dir,
      encoding: 'utf8',
    });
    const err = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l));
    why = r.status === 0 ? '' : (err?.trim().slice(0, 160) ?? `node-gyp exit ${r.status}`);
  }
  if (why) console.error(`bootstrap: ${a.without.replace('{why}', why)}`);
}
