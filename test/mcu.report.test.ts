// The report shows each deployed layer's kernel and cycles per MAC (from deploy.json's layers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtml } from '../src/report/html.js';
import { withDeployedLayers } from '../src/report/layers.js';
import { renderMarkdown } from '../src/report/markdown.js';
import { layerKernelTable } from '../src/report/tables.js';
import { sampleReport } from './report-sample.js';

test('report: per-layer kernels and cycles/MAC on the target, where deployed', () => {
  const data = sampleReport();
  const costs = data.unpruned.layers;
  const conv = costs.find((l) => l.kind === 'conv2d')!;
  const dw = costs.find((l) => l.kind === 'depthwiseConv2d')!;
  const layers = withDeployedLayers(costs, [
    { name: conv.name, cycles: 3_857_114, kernel: 'gemm-patch', cyclesPerMac: 7.75 },
    { name: dw.name, cycles: 2_303_119, kernel: 'depthwise-4ch', cyclesPerMac: 13.884 },
    { name: 'not-in-graph', cycles: 5, kernel: 'loop', cyclesPerMac: null },
  ]);
  const t = layerKernelTable({ ...data.unpruned, layers })!;
  assert.deepEqual(t.header, ['Layer', 'Kind', 'Kernel', 'MACs', 'Cycles', 'Cycles/MAC']);
  assert.deepEqual(
    t.rows.map((r) => [r[0], r[2], r[5]]),
    [
      [conv.name, 'gemm-patch', '7.75'],
      [dw.name, 'depthwise-4ch', '13.88'],
    ],
  );
  const withKernels = { ...data, unpruned: { ...data.unpruned, layers } };
  assert.match(renderMarkdown(withKernels), /kernels on the target[\s\S]*depthwise-4ch/);
  assert.match(renderHtml(withKernels), /kernels on the target<\/h3>.*gemm-patch/s);
  // Without deployment figures there is no kernel table.
  assert.equal(layerKernelTable(data.unpruned), undefined);
  assert.doesNotMatch(renderMarkdown(data), /kernels on the target/);
});
