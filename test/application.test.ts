import { describe, expect, it } from 'vitest';
import { NUMBER_RULES, validateApplication } from '../src/model/application.js';
import { encode, FEATURE_CATALOGUE, resolveFeatures } from '../src/model/features.js';
import { goodApplication } from './helpers/applications.js';

describe('validateApplication', () => {
  it('accepts a valid application unchanged', () => {
    expect(validateApplication(goodApplication)).toEqual({ ok: true, application: goodApplication });
  });

  it.each(Object.entries(NUMBER_RULES))('enforces the bounds of %s', (field, rule) => {
    const at = (value: number) => validateApplication({ ...goodApplication, [field]: value });
    expect(at(rule.max).ok).toBe(true);
    expect(at(rule.max + (rule.integer ? 1 : 0.001)).ok).toBe(false);
    expect(at(rule.min).ok).toBe(rule.minInclusive);
    expect(at(rule.min - 1).ok).toBe(false);
    const broken = at(rule.max * 2 + 1);
    expect(broken.ok === false && broken.errors).toEqual([
      expect.objectContaining({ field, code: rule.integer && !Number.isInteger(rule.max * 2 + 1) ? 'NOT_INTEGER' : 'OUT_OF_RANGE' }),
    ]);
  });

  it('reports missing fields and bad enums by name', () => {
    const { creditScore: _, ...rest } = goodApplication;
    const result = validateApplication({ ...rest, homeOwnership: 'CASTLE' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => [e.field, e.code])).toEqual([
      ['creditScore', 'REQUIRED'],
      ['homeOwnership', 'INVALID_ENUM_VALUE'],
    ]);
  });

  it('refuses a non-integer where an integer is required', () => {
    const result = validateApplication({ ...goodApplication, loanTermMonths: 36.5 });
    expect(result.ok === false && result.errors[0]).toMatchObject({ field: 'loanTermMonths', code: 'NOT_INTEGER' });
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
    expect(new Set(FEATURE_CATALOGUE.map((f) => f.reasonCode)).size).toBe(FEATURE_CATALOGUE.length);
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
