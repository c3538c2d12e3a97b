import { applyAffine, applyAffineJs, randomAffine } from './src/data/augment-image.js';
import { Rng } from './src/data/random.js';
const shape = [96, 96, 3];
const im = Float32Array.from({ length: 96 * 96 * 3 }, (_, i) => (i % 255) / 255);
const t: number[] = [], u: number[] = [];
for (let r = 0; r < 15; r++) {
  let c0 = process.cpuUsage(); for (let i = 0; i < 2000; i++) applyAffineJs(im, shape, randomAffine(96, 96, new Rng(i))); let c = process.cpuUsage(c0); t.push((c.user + c.system) / 2000);
  c0 = process.cpuUsage(); for (let i = 0; i < 2000; i++) applyAffine(im, shape, randomAffine(96, 96, new Rng(i))); c = process.cpuUsage(c0); u.push((c.user + c.system) / 2000);
}
console.log('affine js', Math.min(...t).toFixed(1), 'native', Math.min(...u).toFixed(1), 'us/image');
