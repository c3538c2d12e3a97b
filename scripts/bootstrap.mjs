// Installs what tinyprune needs and is missing: npm packages (npm ci) and, on Debian as root, the
// system packages for the MCU toolchain, the QEMU cross-check, the browser report test and the
// default job's data set (Fashion-MNIST).
// Quiet when everything is present. Run by `npm start` and `npm test` before anything else.
import { existsSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const DEBIAN_PACKAGES = [
  { command: 'arm-none-eabi-gcc', packages: ['gcc-arm-none-eabi', 'libnewlib-arm-none-eabi'] },
  { command: 'qemu-system-arm', packages: ['qemu-system-arm'] },
  { command: 'chromium', packages: ['chromium'] },
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

const missing = DEBIAN_PACKAGES.filter((d) => !has(d.command)).flatMap((d) => d.packages);
if (!has('arm-none-eabi-gcc') || !existsSync('/usr/lib/arm-none-eabi/newlib'))
  missing.push('libnewlib-arm-none-eabi');
// The default job's data (`npm start`): Fashion-MNIST, 60,000 + 10,000 images (MIT licence).
if (!existsSync('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz'))
  missing.push('dataset-fashion-mnist');
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
