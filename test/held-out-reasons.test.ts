import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionFrom } from '../src/decisions/decision.js';
import { loadPolicy } from '../src/decisions/policy.js';
import { ScoringModel } from '../src/model/scoring-model.js';
import { foreignCategories, heldOutApplications } from '../training/held-out.js';

describe('reasons over the 10,000 held-out rows of data/, through the committed model', () => {
  let model: ScoringModel;
  beforeAll(async () => {
    model = await ScoringModel.create('models/loan-default-lr-1.0.0');
  });
  afterAll(async () => {
    await model.release();
  });

  it('explains 13 fields from 23 columns: 14 rows per application in the run', () => {
    expect(model.features).toHaveLength(23);
    expect(model.explainedFields).toHaveLength(13);
    expect(model.explainedFields).toContain('homeOwnership');
    expect(model.explainedFields).toContain('loanPurpose');
    expect(model.explainedFields).toContain('debtToIncome');
  });

  it('no reason names a category the applicant is not in', async () => {
    const applications = heldOutApplications();
    expect(applications).toHaveLength(10_000);
    const decisionPolicy = { ...loadPolicy('policy/policy.json', 'policy/reason-codes.json'), thresholds: {} };
    const batch = 500;
    let adverse = 0;
    let adverseCitingForeign = 0;
    let categoryReasons = 0;
    const foreign: string[] = [];
    for (let start = 0; start < applications.length; start += batch) {
      const slice = applications.slice(start, start + batch);
      const runs = model.runCount;
      const scored = await model.score(slice);
      expect(model.runCount - runs).toBe(1);
      scored.forEach((s, i) => {
        const decision = decisionFrom(slice[i], s, decisionPolicy);
        const codes = foreignCategories(slice[i], decision);
        if (decision.outcome !== 'APPROVE') {
          adverse++;
          if (codes.length > 0) adverseCitingForeign++;
        }
        categoryReasons += decision.reasons.filter((r) => r.feature === 'homeOwnership' || r.feature === 'loanPurpose').length;
        for (const code of codes) foreign.push(`row ${start + i} (${slice[i].homeOwnership}, ${slice[i].loanPurpose}): ${code}`);
      });
    }
    console.log(
      `held-out rows N = ${applications.length}; REFER/DECLINE ${adverse}, of which ${adverseCitingForeign} cite a category ` +
        `the applicant is not in; reasons naming a field by category ${categoryReasons}, naming a foreign one ${foreign.length}`,
    );
    expect(foreign.slice(0, 5)).toEqual([]);
    expect(foreign).toHaveLength(0);
    expect(adverseCitingForeign).toBe(0);
    // not vacuous: many adverse decisions, and categories are cited (the applicant's own)
    expect(adverse).toBeGreaterThan(2_000);
    expect(categoryReasons).toBeGreaterThan(500);
  });
});
