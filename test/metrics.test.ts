import { describe, expect, it } from 'vitest';
import { auc, brier, ks, quantile } from '../training/metrics.js';

describe('auc', () => {
  it('is 1 for a perfect ranking, 0 for a reversed one, ½ for a constant score', () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('counts the share of correctly ordered positive–negative pairs', () => {
    // positives 0.35, 0.8; negatives 0.1, 0.4, 0.9: pairs won 1 + 0 + 0 (0.35) and 1 + 1 + 0 (0.8) → 3 of 6
    expect(auc([0.1, 0.35, 0.4, 0.8, 0.9], [0, 1, 0, 1, 0])).toBeCloseTo(3 / 6, 12);
    // the classic sklearn example: roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) = 0.75
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 12);
  });

  it('counts a tied positive–negative pair as one half', () => {
    // positives 0.5, 0.7; negatives 0.2, 0.5: pairs 1 + ½ (0.5) and 1 + 1 (0.7) → 3.5 of 4
    expect(auc([0.2, 0.5, 0.5, 0.7], [0, 0, 1, 1])).toBeCloseTo(3.5 / 4, 12);
    // three-way tie: positive 0.3 ties two negatives (½ + ½) and beats 0.1 (1); positive 0.9 beats all three (3)
    expect(auc([0.3, 0.3, 0.3, 0.9, 0.1], [1, 0, 0, 1, 0])).toBeCloseTo((0.5 + 0.5 + 1 + 3) / 6, 12);
  });

  it('does not depend on the order of the rows', () => {
    const scores = [0.3, 0.3, 0.3, 0.9, 0.1, 0.6, 0.6];
    const labels = [1, 0, 0, 1, 0, 0, 1];
    const reversed = auc([...scores].reverse(), [...labels].reverse());
    expect(reversed).toBe(auc(scores, labels));
  });

  it('rejects a single class, mismatched lengths and non-0/1 labels', () => {
    expect(() => auc([0.1, 0.2], [1, 1])).toThrow(/positive and one negative/);
    expect(() => auc([0.1], [1, 0])).toThrow(/length/);
    expect(() => auc([0.1, 0.2], [0, 2])).toThrow(/0 or 1/);
  });
});

describe('ks', () => {
  it('is the largest gap between the two score CDFs', () => {
    expect(ks([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    // negatives 0.1, 0.4, 0.9; positives 0.35, 0.8.
    // after 0.1: F0 = 1/3, F1 = 0; after 0.35: 1/3, 1/2; after 0.4: 2/3, 1/2; after 0.8: 2/3, 1 → max |·| = 1/3
    expect(ks([0.1, 0.35, 0.4, 0.8, 0.9], [0, 1, 0, 1, 0])).toBeCloseTo(1 / 3, 12);
  });

  it('never splits tied scores', () => {
    // a threshold cannot fall between the tied 0.5s: after 0.2 gap ½, after both 0.5s F0 = 1, F1 = ½ → ½
    expect(ks([0.2, 0.5, 0.5, 0.7], [0, 0, 1, 1])).toBeCloseTo(0.5, 12);
    expect(ks([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0);
  });
});

describe('brier', () => {
  it('is the mean squared error of the probabilities', () => {
    expect(brier([0, 1], [0, 1])).toBe(0);
    expect(brier([1, 0], [0, 1])).toBe(1);
    // (0.1² + 0.3² + 0.4² + 0.2²) / 4 = (0.01 + 0.09 + 0.16 + 0.04) / 4
    expect(brier([0.1, 0.7, 0.4, 0.8], [0, 1, 0, 1])).toBeCloseTo(0.075, 12);
    expect(brier([0.5, 0.5, 0.5], [0, 1, 1])).toBeCloseTo(0.25, 12);
  });
});

describe('quantile', () => {
  it('interpolates between order statistics like numpy', () => {
    expect(quantile([4, 1, 3, 2], 0)).toBe(1);
    expect(quantile([4, 1, 3, 2], 1)).toBe(4);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([10, 20, 30, 40, 50], 0.6)).toBeCloseTo(34, 12);
  });
});
