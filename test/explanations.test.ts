import { afterAll, describe, expect, it } from 'vitest';
import type { LoanApplication } from '../src/model/application.js';
import { topRiskFactors } from '../src/decisions/outcome.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import {
  LINEAR_SPEC,
  linearLogit,
  removeTempDirs,
  sigmoid,
  TREE_FEATURES,
  treeProbabilityOfDefault,
  writeLinearModel,
  writeTreeModel,
} from './fixtures/models.js';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';

afterAll(removeTempDirs);

function linearRow(a: LoanApplication): number[] {
  const values: Record<string, number> = {
    creditScore: a.creditScore,
    debtToIncome: (a.monthlyDebt * 12) / a.annualIncome,
    'loanPurpose=BUSINESS': a.loanPurpose === 'BUSINESS' ? 1 : 0,
    delinquencies2y: a.delinquencies2y,
    'homeOwnership=RENT': a.homeOwnership === 'RENT' ? 1 : 0,
    annualIncome: a.annualIncome,
    loanToIncome: a.loanAmount / a.annualIncome,
  };
  return LINEAR_SPEC.features.map((f) => values[f.name]);
}

describe('explanations on the linear fixture (true contributions known)', () => {
  it('impact_j = sigmoid(z) − sigmoid(z − w_j (x_j − ref_j)) for every feature, all applications in one run', async () => {
    const model = await ScoringModel.create(await writeLinearModel());
    try {
      const apps = [riskyApplication, goodApplication, ...applications(30)];
      const before = model.runCount;
      const results = await model.score(apps);
      expect(model.runCount - before).toBe(1);
      expect(results).toHaveLength(apps.length);
      let nonTrivial = 0;
      results.forEach((result, i) => {
        const x = linearRow(apps[i]);
        const z = linearLogit(LINEAR_SPEC, x);
        expect(result.probabilityOfDefault).toBeCloseTo(sigmoid(z), 5);
        expect(result.impacts.map((m) => m.feature)).toEqual(LINEAR_SPEC.features.map((f) => f.name));
        result.impacts.forEach((impact, j) => {
          const shift = LINEAR_SPEC.weights[j] * (x[j] - LINEAR_SPEC.features[j].reference);
          const expected = sigmoid(z) - sigmoid(z - shift);
          expect(Math.abs(impact.impact - expected)).toBeLessThan(1e-5);
          expect(impact.value).toBeCloseTo(x[j], 9);
          if (Math.abs(expected) > 1e-3) nonTrivial++;
        });
      });
      // the comparison above is not vacuous
      expect(nonTrivial).toBeGreaterThan(100);
    } finally {
      await model.release();
    }
  });

  it('signs follow the coefficients: for the risky applicant a low score, delinquencies and renting raise the risk', async () => {
    const model = await ScoringModel.create(await writeLinearModel());
    try {
      const [risky] = await model.score([riskyApplication]);
      const by = Object.fromEntries(risky.impacts.map((m) => [m.feature, m.impact]));
      expect(by.creditScore).toBeGreaterThan(0); // 560 < 690 with a negative weight
      expect(by.delinquencies2y).toBeGreaterThan(0);
      expect(by['homeOwnership=RENT']).toBeGreaterThan(0);
      expect(by['loanPurpose=BUSINESS']).toBeGreaterThan(0);
      const [good] = await model.score([goodApplication]);
      const byGood = Object.fromEntries(good.impacts.map((m) => [m.feature, m.impact]));
      expect(byGood.creditScore).toBeLessThan(0); // 800 > 690 lowers the risk
      expect(byGood['homeOwnership=RENT']).toBeLessThan(0); // not renting (0 < 0.45)
      expect(topRiskFactors(good.impacts).map((m) => m.feature)).not.toContain('creditScore');
    } finally {
      await model.release();
    }
  });
});

describe('explanations on the tree-ensemble fixture (TreeEnsembleClassifier, meaning approval)', () => {
  const app = (creditScore: number, debtToIncome: number, delinquencies2y: number): LoanApplication => ({
    ...goodApplication,
    creditScore,
    annualIncome: 60_000,
    monthlyDebt: (debtToIncome * 60_000) / 12,
    delinquencies2y,
  });

  // hand-computed paths (see TREE_APPROVAL_SHARES): references creditScore 700, debtToIncome 0.45, delinquencies2y 0
  const cases = [
    {
      name: '620 / 0.5 / 2: leaves B + E',
      application: app(620, 0.5, 2),
      pd: 1 - (0.1 + 0.15),
      // creditScore→700 moves tree 0 to C (+0.30 approval); dti→0.45 stays in B; delinquencies→0 moves tree 1 to D
      impacts: { creditScore: 0.3, debtToIncome: 0, delinquencies2y: 0.3 },
    },
    {
      name: '600 / 0.2 / 0: leaves A + D',
      application: app(600, 0.2, 0),
      pd: 1 - (0.25 + 0.45),
      // creditScore→700: A→C, approval +0.15; dti→0.45: A→B, approval −0.15 (the low ratio was lowering the risk)
      impacts: { creditScore: 0.15, debtToIncome: -0.15, delinquencies2y: 0 },
    },
    {
      name: '720 / 0.5 / 1: leaves C + E',
      application: app(720, 0.5, 1),
      pd: 1 - (0.4 + 0.15),
      // above 650 the ratio is never looked at; only the delinquencies matter
      impacts: { creditScore: 0, debtToIncome: 0, delinquencies2y: 0.3 },
    },
  ];

  it('reads P(default) = 1 − P(approved) along the hand-computed paths and explains each feature', async () => {
    const model = await ScoringModel.create(await writeTreeModel());
    try {
      expect(model.features.map((f) => f.name)).toEqual(TREE_FEATURES.map((f) => f.name));
      const before = model.runCount;
      const results = await model.score(cases.map((c) => c.application));
      expect(model.runCount - before).toBe(1);
      results.forEach((result, i) => {
        const c = cases[i];
        expect(result.probabilityOfDefault).toBeCloseTo(c.pd, 6);
        const { creditScore, monthlyDebt, annualIncome, delinquencies2y } = c.application;
        expect(result.probabilityOfDefault).toBeCloseTo(treeProbabilityOfDefault(creditScore, (monthlyDebt * 12) / annualIncome, delinquencies2y), 6);
        for (const impact of result.impacts) {
          const expected = c.impacts[impact.feature as keyof typeof c.impacts];
          expect(impact.impact, `${c.name}: ${impact.feature}`).toBeCloseTo(expected, 6);
          expect(Math.sign(Math.round(impact.impact * 1e6))).toBe(Math.sign(expected));
        }
      });
      // the adverse-action reasons follow: for the first case the two features that moved it, never the ratio
      expect(topRiskFactors(results[0].impacts).map((m) => m.feature).sort()).toEqual(['creditScore', 'delinquencies2y']);
      expect(topRiskFactors(results[1].impacts).map((m) => m.feature)).toEqual(['creditScore']);
    } finally {
      await model.release();
    }
  });

  it('explanations are not additive for trees (impacts need not sum to p − p(reference))', async () => {
    const model = await ScoringModel.create(await writeTreeModel());
    try {
      // 600 / 0.2 / 0: the score and the ratio pull in opposite directions and cancel in the sum
      const [second] = await model.score([cases[1].application]);
      const sum = second.impacts.reduce((s, m) => s + m.impact, 0);
      const atReference = treeProbabilityOfDefault(700, 0.45, 0);
      expect(atReference).toBeCloseTo(0.15, 6);
      expect(sum).toBeCloseTo(0, 6);
      expect(second.probabilityOfDefault - atReference).toBeCloseTo(0.3 - 0.15, 6);
    } finally {
      await model.release();
    }
  });
});
