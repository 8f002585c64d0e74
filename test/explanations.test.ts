import { afterAll, describe, expect, it } from 'vitest';
import type { LoanApplication } from '../src/model/application.js';
import { decisionFrom, type DecisionPolicy } from '../src/decisions/decision.js';
import { topRiskFactors } from '../src/decisions/outcome.js';
import { loadPolicy } from '../src/decisions/policy.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import {
  LINEAR_ONE_HOT_SPEC,
  LINEAR_SPEC,
  linearLogit,
  removeTempDirs,
  sigmoid,
  TREE_FEATURES,
  treeProbabilityOfDefault,
  writeLinearModel,
  writeTreeModel,
  type LinearSpec,
} from './fixtures/models.js';
import { applications, goodApplication, riskyApplication, sampleApplication } from './helpers/applications.js';

afterAll(removeTempDirs);

/** The spec's columns for an application, by hand (one-hot columns by their `<field>=<CATEGORY>` names). */
function linearRow(a: LoanApplication, spec: LinearSpec = LINEAR_SPEC): number[] {
  const numbers: Record<string, number> = {
    creditScore: a.creditScore,
    debtToIncome: (a.monthlyDebt * 12) / a.annualIncome,
    delinquencies2y: a.delinquencies2y,
    annualIncome: a.annualIncome,
    loanToIncome: a.loanAmount / a.annualIncome,
  };
  return spec.features.map(({ name }) => {
    const [field, category] = name.split('=');
    return category === undefined ? numbers[field] : a[field as 'homeOwnership' | 'loanPurpose'] === category ? 1 : 0;
  });
}

/** The field a column belongs to, by the naming convention alone. */
const fieldOf = (column: string) => column.split('=')[0];

/**
 * The exact contribution of each field to the logit against the reference, Σ over the field's columns of
 * w_j (x_j − ref_j), computed from the spec and nothing of the service.
 */
function fieldContributions(spec: LinearSpec, x: readonly number[]): Map<string, number> {
  const contributions = new Map<string, number>();
  spec.features.forEach((f, j) => {
    const field = fieldOf(f.name);
    contributions.set(field, (contributions.get(field) ?? 0) + spec.weights[j] * (x[j] - f.reference));
  });
  return contributions;
}

const CATEGORY_CODE_PREFIX: Record<string, string> = { homeOwnership: 'HOME_OWNERSHIP_', loanPurpose: 'LOAN_PURPOSE_' };

describe('explanations on the linear fixture (true contributions known)', () => {
  it('impact_j = sigmoid(z) − sigmoid(z − w_j (x_j − ref_j)) for every single-column field, all applications in one run', async () => {
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
        // each one-hot column here is the only column of its field, so fields and columns pair up
        expect(result.impacts.map((m) => m.field)).toEqual(LINEAR_SPEC.features.map((f) => fieldOf(f.name)));
        result.impacts.forEach((impact, j) => {
          const shift = LINEAR_SPEC.weights[j] * (x[j] - LINEAR_SPEC.features[j].reference);
          const expected = sigmoid(z) - sigmoid(z - shift);
          expect(Math.abs(impact.impact - expected)).toBeLessThan(1e-5);
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
      const by = Object.fromEntries(risky.impacts.map((m) => [m.field, m]));
      expect(by.creditScore.impact).toBeGreaterThan(0); // 560 < 690 with a negative weight
      expect(by.delinquencies2y.impact).toBeGreaterThan(0);
      expect(by.homeOwnership).toMatchObject({ category: 'RENT', impact: expect.any(Number) });
      expect(by.homeOwnership.impact).toBeGreaterThan(0);
      expect(by.loanPurpose.category).toBe('BUSINESS');
      expect(by.loanPurpose.impact).toBeGreaterThan(0);
      expect(by.creditScore.category).toBeUndefined();
      const [good] = await model.score([goodApplication]);
      const byGood = Object.fromEntries(good.impacts.map((m) => [m.field, m]));
      expect(byGood.creditScore.impact).toBeLessThan(0); // 800 > 690 lowers the risk
      expect(byGood.homeOwnership.impact).toBeLessThan(0); // not renting (0 < 0.45)
      expect(byGood.homeOwnership.category).toBe('MORTGAGE'); // the applicant's own, whatever the model's columns
      expect(topRiskFactors(good.impacts).map((m) => m.field)).not.toContain('creditScore');
    } finally {
      await model.release();
    }
  });
});

describe('whole fields on a linear fixture with complete one-hot groups', () => {
  const spec = LINEAR_ONE_HOT_SPEC;
  const loaded = loadPolicy('policy/policy.json', 'policy/reason-codes.json');
  // no rules: every reason is the model's, so the ranking is the explanation's alone
  const modelOnly: DecisionPolicy = {
    policy: { ...loaded.policy, rules: [] },
    reasonCodes: loaded.reasonCodes,
    thresholds: {},
  };
  // every category of both fields, with the risky and good applicants' other values
  const apps: LoanApplication[] = [riskyApplication, goodApplication, ...applications(120)].map((a, i) => ({
    ...a,
    homeOwnership: (['RENT', 'MORTGAGE', 'OWN', 'OTHER'] as const)[i % 4],
    loanPurpose: (['DEBT_CONSOLIDATION', 'CREDIT_CARD', 'HOME_IMPROVEMENT', 'AUTO', 'BUSINESS', 'MEDICAL', 'EDUCATION', 'OTHER'] as const)[
      (i * 3) % 8
    ],
    loanAmount: 4_000 + ((i * 4_217) % 40_000),
  }));

  it('one counterfactual row per field resets the whole group: impact = sigmoid(z) − sigmoid(z − Σ_group w (x − ref))', async () => {
    const model = await ScoringModel.create(await writeLinearModel(spec));
    try {
      // 17 columns, 7 fields in the order each first appears: 8 rows per application in the run instead of 18
      expect(model.features).toHaveLength(17);
      expect(model.explainedFields).toEqual([
        'creditScore',
        'homeOwnership',
        'loanPurpose',
        'debtToIncome',
        'delinquencies2y',
        'annualIncome',
        'loanToIncome',
      ]);
      const before = model.runCount;
      const results = await model.score(apps);
      expect(model.runCount - before).toBe(1);
      results.forEach((result, i) => {
        const x = linearRow(apps[i], spec);
        const z = linearLogit(spec, x);
        expect(result.probabilityOfDefault).toBeCloseTo(sigmoid(z), 5);
        const exact = fieldContributions(spec, x);
        expect(result.impacts.map((m) => m.field)).toEqual([...exact.keys()]);
        for (const impact of result.impacts) {
          expect(Math.abs(impact.impact - (sigmoid(z) - sigmoid(z - exact.get(impact.field)!)))).toBeLessThan(1e-5);
        }
        const by = Object.fromEntries(result.impacts.map((m) => [m.field, m.category]));
        expect(by).toMatchObject({ homeOwnership: apps[i].homeOwnership, loanPurpose: apps[i].loanPurpose, creditScore: undefined });
      });
    } finally {
      await model.release();
    }
  });

  it('ranks MODEL reasons exactly as the per-field contributions to the logit, naming only the applicant’s categories', async () => {
    const model = await ScoringModel.create(await writeLinearModel(spec));
    try {
      const results = await model.score(apps);
      let categorical = 0;
      results.forEach((scored, i) => {
        const application = apps[i];
        const x = linearRow(application, spec);
        const expected = [...fieldContributions(spec, x)]
          .filter(([, c]) => c > 0)
          .sort(([fa, a], [fb, b]) => b - a || (fa < fb ? -1 : 1))
          .slice(0, 4)
          .map(([field]) => field);
        const { reasons } = decisionFrom(application, scored, modelOnly);
        expect(reasons.map((r) => r.source)).toEqual(expected.map(() => 'MODEL'));
        expect(reasons.map((r) => r.feature), `application ${i}`).toEqual(expected);
        for (const reason of reasons) {
          const prefix = CATEGORY_CODE_PREFIX[reason.feature];
          if (prefix === undefined) continue;
          categorical++;
          const category = application[reason.feature as 'homeOwnership' | 'loanPurpose'];
          expect(reason.code).toBe(`${prefix}${category}`);
          expect(reason.description).toBe(loaded.reasonCodes.codes[`${prefix}${category}`]);
        }
      });
      // categorical fields do get cited (by the applicant's own category), so the check above is not vacuous
      expect(categorical).toBeGreaterThan(20);
    } finally {
      await model.release();
    }
  });

  it('never tells a renter that paying a mortgage raised the risk, though that column alone would say so', async () => {
    const model = await ScoringModel.create(await writeLinearModel(spec));
    try {
      const renter = sampleApplication;
      expect(renter.homeOwnership).toBe('RENT');
      const j = spec.features.findIndex((f) => f.name === 'homeOwnership=MORTGAGE');
      // column by column, the renter's 0 in the (safer) mortgage column sits below its reference: a "risk"
      expect(spec.weights[j] * (0 - spec.features[j].reference)).toBeGreaterThan(0.1);
      const [scored] = await model.score([renter]);
      const { reasons } = decisionFrom(renter, scored, modelOnly);
      const housing = reasons.filter((r) => r.feature === 'homeOwnership');
      expect(housing).toEqual([expect.objectContaining({ code: 'HOME_OWNERSHIP_RENT', description: 'Housing status: renting' })]);
      expect(reasons.map((r) => r.code)).not.toContain('HOME_OWNERSHIP_MORTGAGE');
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
          const expected = c.impacts[impact.field as keyof typeof c.impacts];
          expect(impact.impact, `${c.name}: ${impact.field}`).toBeCloseTo(expected, 6);
          expect(Math.sign(Math.round(impact.impact * 1e6))).toBe(Math.sign(expected));
        }
      });
      // the adverse-action reasons follow: for the first case the two features that moved it, never the ratio
      expect(topRiskFactors(results[0].impacts).map((m) => m.field).sort()).toEqual(['creditScore', 'delinquencies2y']);
      expect(topRiskFactors(results[1].impacts).map((m) => m.field)).toEqual(['creditScore']);
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
