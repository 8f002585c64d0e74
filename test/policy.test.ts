import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOME_OWNERSHIPS, LOAN_PURPOSES, type LoanApplication } from '../src/model/application.js';
import { FEATURE_CATALOGUE } from '../src/model/features.js';
import { estimatedInstalment, evaluatePolicy, loadPolicy, strictestOutcome } from '../src/decisions/policy.js';
import { MODEL_REASON_CODES, modelReasonCode } from '../src/decisions/reason-codes.js';
import { goodApplication } from './helpers/applications.js';

const { policy, reasonCodes } = loadPolicy('policy/policy.json', 'policy/reason-codes.json');

const hitIds = (application: LoanApplication) => evaluatePolicy(application, policy).map((h) => h.ruleId);

describe('the committed policy', () => {
  it('hits nothing for a sound application', () => {
    expect(hitIds(goodApplication)).toEqual([]);
  });

  it.each([
    ['KO-001', 'DECLINE', { creditScore: 499 }, { creditScore: 500 }],
    ['KO-002', 'DECLINE', { monthlyDebt: 6_000 }, { monthlyDebt: 5_000 }],
    ['KO-003', 'DECLINE', { annualIncome: 30_000, loanAmount: 150_001, loanTermMonths: 480 }, { annualIncome: 30_000, loanAmount: 150_000, loanTermMonths: 480, monthlyDebt: 0 }],
    ['RF-001', 'REFER', { delinquencies2y: 6 }, { delinquencies2y: 5 }],
  ])('%s (%s) fires just past its limit and not at it', (id, effect, past, at) => {
    const hits = evaluatePolicy({ ...goodApplication, ...past } as LoanApplication, policy);
    const hit = hits.find((h) => h.ruleId === id);
    expect(hit?.effect).toBe(effect);
    expect(reasonCodes.codes[hit!.reasonCode]).toBeTruthy();
    expect(hitIds({ ...goodApplication, ...at } as LoanApplication)).not.toContain(id);
  });

  it('estimates the instalment as an annuity', () => {
    // 10,000 over 36 months at 12 % a year: 332.14 a month.
    expect(estimatedInstalment({ ...goodApplication, loanAmount: 10_000, loanTermMonths: 36 }, 0.12)).toBeCloseTo(332.14, 2);
    expect(estimatedInstalment({ ...goodApplication, loanAmount: 12_000, loanTermMonths: 12 }, 0)).toBe(1000);
  });

  it('lets the strictest effect win', () => {
    const refer = evaluatePolicy({ ...goodApplication, delinquencies2y: 7 }, policy);
    const decline = evaluatePolicy({ ...goodApplication, delinquencies2y: 7, creditScore: 450 }, policy);
    expect(strictestOutcome('APPROVE', refer)).toBe('REFER');
    expect(strictestOutcome('DECLINE', refer)).toBe('DECLINE');
    expect(strictestOutcome('APPROVE', decline)).toBe('DECLINE');
    expect(strictestOutcome('REFER', [])).toBe('REFER');
  });
});

describe('loadPolicy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'policy-'));
  const write = (name: string, value: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify(value));
    return file;
  };

  it('refuses a rule on an unknown variable, naming the file and the rule', () => {
    const file = write('bad-variable.json', {
      version: 'x',
      assumptions: { annualInterestRate: 0.1 },
      rules: [{ id: 'A', description: 'd', when: { variable: 'age', op: '>', value: 1 }, effect: 'DECLINE', reasonCode: 'X' }],
    });
    expect(() => loadPolicy(file, 'policy/reason-codes.json')).toThrow(/bad-variable\.json: rules\.0\.when\.variable/);
  });

  it('refuses a reason code without a description', () => {
    const file = write('unknown-code.json', {
      version: 'x',
      assumptions: { annualInterestRate: 0.1 },
      rules: [{ id: 'A', description: 'd', when: { variable: 'creditScore', op: '<', value: 400 }, effect: 'REFER', reasonCode: 'NOT_IN_TABLE' }],
    });
    expect(() => loadPolicy(file, 'policy/reason-codes.json')).toThrow(/NOT_IN_TABLE/);
  });

  it('refuses a reason-code table without a code for every category a reason can cite', () => {
    const table = JSON.parse(readFileSync('policy/reason-codes.json', 'utf8')) as { codes: Record<string, string> };
    delete table.codes.LOAN_PURPOSE_EDUCATION;
    expect(() => loadPolicy('policy/policy.json', write('no-education.json', table))).toThrow(/no-education\.json: .*LOAN_PURPOSE_EDUCATION/);
  });
});

describe('model reason codes (the decision vocabulary)', () => {
  it('gives one code per numeric or derived field and one per category of a categorical field, each in the table', () => {
    expect(MODEL_REASON_CODES).toHaveLength(11 + HOME_OWNERSHIPS.length + LOAN_PURPOSES.length);
    expect(new Set(MODEL_REASON_CODES).size).toBe(MODEL_REASON_CODES.length);
    for (const code of MODEL_REASON_CODES) expect(reasonCodes.codes[code], code).toBeTruthy();
  });

  it('names the applicant’s own category, and every explained field of the catalogue has a code', () => {
    expect(modelReasonCode('homeOwnership', 'RENT')).toBe('HOME_OWNERSHIP_RENT');
    expect(reasonCodes.codes[modelReasonCode('homeOwnership', 'RENT')]).toBe('Housing status: renting');
    expect(modelReasonCode('loanPurpose', 'BUSINESS')).toBe('LOAN_PURPOSE_BUSINESS');
    expect(modelReasonCode('debtToIncome', undefined)).toBe('DEBT_TO_INCOME');
    expect(() => modelReasonCode('homeOwnership', undefined)).toThrow(/needs the applicant's category/);
    for (const f of FEATURE_CATALOGUE) {
      const code = modelReasonCode(f.field, f.category);
      expect(MODEL_REASON_CODES).toContain(code);
    }
  });
});
