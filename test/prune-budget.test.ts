import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  budgetViolations,
  parseBudget,
  selectCandidate,
  type Candidate,
} from '../src/prune/budget.js';

test('budgets parse counts, bytes and percentages', () => {
  assert.deepEqual(parseBudget('params=20k,macs=4M,drop=1%'), {
    params: 20000,
    macs: 4e6,
    drop: 0.01,
  });
  assert.deepEqual(parseBudget('memory=64KB, drop=0.02'), {
    peakActivationBytes: 65536,
    drop: 0.02,
  });
});

test('bad budgets give errors naming the entry', () => {
  assert.throws(() => parseBudget('params=lots'), /--budget: expected a count .* in "params=lots"/);
  assert.throws(() => parseBudget('speed=fast'), /unknown limit "speed"/);
  assert.throws(() => parseBudget('params'), /missing "="/);
  assert.throws(() => parseBudget('drop=150%'), /allows anything/);
  assert.throws(() => parseBudget(''), /no limits given/);
});

const REF = { valAccuracy: 0.86, params: 40000, macs: 4e6 };

const c = (cut: string, params: number, valAccuracy: number): Candidate => ({
  cut,
  head: 'aux',
  params,
  macs: params * 100,
  peakActivationBytes: 1000,
  valAccuracy,
});

test('selection picks the most accurate candidate that fits, else none', () => {
  const cands = [c('block1', 5000, 0.7), c('block3', 15000, 0.8), c('block5', 30000, 0.86)];
  assert.equal(selectCandidate(cands, { params: 20000 }, REF)?.cut, 'block3');
  assert.equal(selectCandidate(cands, { drop: 0.07 }, REF)?.cut, 'block5');
  assert.equal(selectCandidate(cands, { params: 20000, drop: 0.01 }, REF), undefined);
  assert.deepEqual(budgetViolations(cands[0]!, { params: 1000, drop: 0.1 }, REF), [
    'params 5000 > 1000',
    'accuracy drop 16.00 points > 10.00',
  ]);
});

test('relative limits are shares of the unpruned model', () => {
  assert.deepEqual(parseBudget('params=50%,macs=25%'), { paramsFraction: 0.5, macsFraction: 0.25 });
  const cands = [c('block1', 5000, 0.7), c('block3', 15000, 0.8), c('block5', 30000, 0.86)];
  assert.equal(selectCandidate(cands, parseBudget('params=50%'), REF)?.cut, 'block3');
  assert.deepEqual(budgetViolations(cands[2]!, parseBudget('params=50%'), REF), [
    'params 30000 > 20000',
  ]);
});

test('ties on accuracy go to the smaller model', () => {
  const cands = [c('block5', 30000, 0.8), c('block3', 15000, 0.8)];
  assert.equal(selectCandidate(cands, { params: 1e6 }, REF)?.cut, 'block3');
});
