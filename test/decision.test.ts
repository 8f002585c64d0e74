import { describe, expect, it } from 'vitest';
import { outcomeFor, scoreFor, topRiskFactors } from '../src/decisions/outcome.js';
import { FEATURE_CATALOGUE } from '../src/model/features.js';

/** every explained field of the catalogue (13) */
const FIELDS = [...new Set(FEATURE_CATALOGUE.map((f) => f.field))];

describe('outcomeFor', () => {
  const thresholds = { approve: 0.1, decline: 0.3 };
  it.each([
    [0, 'APPROVE'],
    [0.0999, 'APPROVE'],
    [0.1, 'REFER'],
    [0.2999, 'REFER'],
    [0.3, 'DECLINE'],
    [1, 'DECLINE'],
  ])('p=%f → %s', (p, outcome) => expect(outcomeFor(p, thresholds)).toBe(outcome));
});

describe('scoreFor', () => {
  it('spans 300–850 and never rises with the probability of default', () => {
    expect(scoreFor(0)).toBe(850);
    expect(scoreFor(1)).toBe(300);
    let previous = Infinity;
    for (let i = 0; i <= 10_000; i++) {
      const s = scoreFor(i / 10_000);
      expect(s).toBeLessThanOrEqual(previous);
      previous = s;
    }
  });
  it('separates probabilities a hundredth apart', () => {
    for (let p = 0; p < 0.5; p += 0.01) expect(scoreFor(p)).toBeGreaterThan(scoreFor(p + 0.01));
  });
});

describe('topRiskFactors', () => {
  it('keeps only risk-raising fields, largest first, at most four', () => {
    const impacts = (
      [
        ['annualIncome', 0.01],
        ['monthlyDebt', -0.2],
        ['creditScore', 0.3],
        ['debtToIncome', 0.05],
        ['homeOwnership', 0.02],
        ['loanPurpose', 0.04],
        ['loanAmount', 0],
      ] as const
    ).map(([field, impact]) => ({ field, category: undefined, impact }));
    expect(topRiskFactors(impacts).map((f) => f.field)).toEqual(['creditScore', 'debtToIncome', 'loanPurpose', 'homeOwnership']);
  });

  it('agrees with a full sort on many random impact lists, ties broken by field name', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    for (let trial = 0; trial < 500; trial++) {
      const impacts = Array.from({ length: FIELDS.length }, (_, i) => ({
        field: FIELDS[(i * 7) % FIELDS.length],
        category: undefined,
        impact: Math.round((random() - 0.4) * 20) / 100,
      }));
      const expected = impacts
        .filter((i) => i.impact > 0)
        .sort((a, b) => b.impact - a.impact || (a.field < b.field ? -1 : 1))
        .slice(0, 4);
      expect(topRiskFactors(impacts)).toEqual(expected);
    }
  });
});
