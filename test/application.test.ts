import { describe, expect, it } from 'vitest';
import { HOME_OWNERSHIPS, LOAN_PURPOSES } from '../src/model/application.js';
import { applicationErrors, idempotencyKeyErrors, NUMBER_RULES } from '../src/decisions/rules.js';
import { encode, FEATURE_CATALOGUE, resolveFeatures } from '../src/model/features.js';
import { goodApplication } from './helpers/applications.js';

describe('applicationErrors (the rule table, after GraphQL has checked types)', () => {
  it('finds nothing wrong with a valid application', () => {
    expect(applicationErrors(goodApplication)).toEqual([]);
  });

  it.each(Object.entries(NUMBER_RULES))('enforces the bounds of %s', (field, rule) => {
    const at = (value: number) => applicationErrors({ ...goodApplication, [field]: value });
    const step = rule.integer ? 1 : 0.001;
    expect(at(rule.max)).toEqual([]);
    expect(at(rule.max + step)).toEqual([expect.objectContaining({ field, code: 'OUT_OF_RANGE' })]);
    expect(at(rule.min).length).toBe(rule.minInclusive ? 0 : 1);
    expect(at(rule.min - step)).toEqual([expect.objectContaining({ field, code: 'OUT_OF_RANGE' })]);
    expect(at(Number.NaN)).toEqual([expect.objectContaining({ field, code: 'OUT_OF_RANGE' })]);
  });

  it('lists every broken rule, in field order, with the messages clients read', () => {
    expect(applicationErrors({ ...goodApplication, applicationRef: 'r'.repeat(65), annualIncome: 0, loanTermMonths: 500 })).toEqual([
      { field: 'applicationRef', code: 'TOO_LONG', message: 'applicationRef must be at most 64 characters' },
      { field: 'annualIncome', code: 'OUT_OF_RANGE', message: 'annualIncome must be greater than 0 and at most 10,000,000' },
      { field: 'loanTermMonths', code: 'OUT_OF_RANGE', message: 'loanTermMonths must be an integer at least 6 and at most 480' },
    ]);
  });

  it('refuses control characters in a reference and in an idempotency key', () => {
    expect(applicationErrors({ ...goodApplication, applicationRef: 'a\u001bb' })).toEqual([
      expect.objectContaining({ field: 'applicationRef', code: 'CONTROL_CHARACTER' }),
    ]);
    expect(idempotencyKeyErrors('order-1\r\n')).toEqual([expect.objectContaining({ field: 'idempotencyKey', code: 'CONTROL_CHARACTER' })]);
    expect(idempotencyKeyErrors('')).toEqual([expect.objectContaining({ code: 'OUT_OF_RANGE' })]);
    expect(idempotencyKeyErrors('order-1')).toEqual([]);
  });
});

describe('feature catalogue', () => {
  it('has every numeric field, the two ratios and one indicator per enum value', () => {
    const names = FEATURE_CATALOGUE.map((f) => f.name);
    expect(names).toContain('debtToIncome');
    expect(names).toContain('loanToIncome');
    expect(names).toContain('homeOwnership=RENT');
    expect(names).toContain('loanPurpose=AUTO');
    expect(names.filter((n) => n.startsWith('loanPurpose='))).toHaveLength(8);
  });

  it('groups the one-hot columns of a field by the <field>=<CATEGORY> convention, one column per category', () => {
    for (const f of FEATURE_CATALOGUE) {
      const [field, category] = f.name.split('=');
      expect(f.field).toBe(field);
      expect(f.category).toBe(category);
    }
    expect(new Set(FEATURE_CATALOGUE.map((f) => f.field)).size).toBe(13);
    expect(FEATURE_CATALOGUE.filter((f) => f.field === 'homeOwnership').map((f) => f.category)).toEqual([...HOME_OWNERSHIPS]);
    expect(FEATURE_CATALOGUE.filter((f) => f.field === 'loanPurpose').map((f) => f.category)).toEqual([...LOAN_PURPOSES]);
  });

  it('encodes row-major in the requested order', () => {
    const features = resolveFeatures(['loanToIncome', 'homeOwnership=MORTGAGE', 'creditScore', 'debtToIncome']);
    const row = encode([goodApplication, { ...goodApplication, homeOwnership: 'RENT', creditScore: 600 }], features);
    expect(Array.from(row)).toEqual([
      Math.fround(10_000 / 120_000), 1, 800, Math.fround((500 * 12) / 120_000),
      Math.fround(10_000 / 120_000), 0, 600, Math.fround((500 * 12) / 120_000),
    ]);
  });

  it('refuses unknown names, naming them', () => {
    expect(() => resolveFeatures(['creditScore', 'age'])).toThrow(/"age"/);
  });
});
